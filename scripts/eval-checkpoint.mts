// Evaluates the best-epoch weights of an unfinished benchmark run's training checkpoints
// (models/<label>/checkpoint/best.safetensors, docs/DESIGN.md "The checkpoint") on the run's split,
// all test rows (and warm / cold ones on a cold-start run) (docs/METHODS.md §1.4), full ranking and sampled;
// one JSON line per (model, protocol). Used when a run could not finish its epochs (the shared machine).
// Usage: LLMREC_DATA_DIR=... node --import tsx scripts/eval-checkpoint.mts RUN_DIR label...
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { parseRunConfig, modelSpecs } from '../src/config/run.js';
import { loadConfiguredData, prepareSplit } from '../src/experiment/run.js';
import { createRecommender } from '../src/models/registry.js';
import { dimsOf } from '../src/models/neural.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { evaluateWarmCold } from '../src/eval/cold_start.js';
import { evaluateRecommender } from '../src/eval/evaluate.js';
const [dir, ...labels] = process.argv.slice(2);
await initEngine();
const cfg = parseRunConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), dir);
const data = prepareSplit(await loadConfiguredData(cfg), cfg);
for (const label of labels) {
  const spec = modelSpecs(cfg).find((s) => s.label === label);
  if (!spec) throw new Error(`${label}: no model with that label in ${join(dir, 'config.json')}`);
  const m = createRecommender(spec.name, spec.config);
  const st = JSON.parse(readFileSync(join(dir, 'models', label, 'checkpoint', 'trainer_state.json'), 'utf8')) as { epoch: number; bestMetric: unknown };
  const f = readSafetensors(join(dir, 'models', label, 'checkpoint', 'best.safetensors'));
  (m as unknown as { restore(s: unknown): void }).restore({ name: spec.name, config: m.config, dims: dimsOf(data), tensors: f.tensors });
  // The sampled protocol needs stored negatives (protocol.numNegatives > 0).
  for (const protocol of data.test.numNegatives > 0 ? ['full', 'sampled'] as const : ['full'] as const) {
    const opts = { protocol, ks: protocol === 'full' ? [5, 10, 20] : [1, 5, 10] };
    // all / warm / cold rows on a cold-start split; every test row otherwise.
    const r = data.coldStart ? evaluateWarmCold(m, data, opts) : { all: evaluateRecommender(m, data, 'test', opts) };
    console.log(JSON.stringify({ label, epochsDone: st.epoch, best: st.bestMetric, protocol, ...r }));
  }
  m.dispose();
}
