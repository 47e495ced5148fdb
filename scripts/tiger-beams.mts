// Scores a trained TIGER (a benchmark run's models/<label>, the best epoch's weights) with other beam
// widths (docs/METHODS.md §10 "Retrieval"; the width changes no weight), full ranking with the history
// excluded, on every row of one split. The width is chosen on 'valid'; 'test' is for the chosen one only.
// Usage: LLMREC_DATA_DIR=... node --import tsx scripts/tiger-beams.mts RUN_DIR label valid|test width...
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { parseRunConfig } from '../src/config/run.js';
import { loadConfiguredData, prepareSplit } from '../src/experiment/run.js';
import { createRecommender } from '../src/models/registry.js';
import { readModelDir } from '../src/models/neural.js';
import { evaluateRecommender } from '../src/eval/evaluate.js';
const [dir, label, split, ...rest] = process.argv.slice(2);
if (split !== 'valid' && split !== 'test') throw new Error(`split must be valid or test, got ${String(split)}`);
const widths = rest.map((w) => Number(w));
if (widths.length === 0 || widths.some((w) => !Number.isInteger(w) || w < 10)) throw new Error(`beam widths must be integers >= 10 (the largest k), got ${rest.join(' ')}`);
await initEngine();
const cfg = parseRunConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), dir);
const data = prepareSplit(await loadConfiguredData(cfg), cfg);
const saved = readModelDir(join(dir, 'models', label));
if (saved.name !== 'tiger') throw new Error(`${join(dir, 'models', label)}: a ${saved.name} model, not tiger`);
for (const beams of widths) {
  const m = createRecommender('tiger', { ...saved.config, beams });
  m.restore(saved);
  const t0 = performance.now();
  const r = evaluateRecommender(m, data, split, { protocol: 'full', ks: [5, 10] });
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ label, split, beams, seconds: Math.round(seconds * 10) / 10, ...r }));
  m.dispose();
}
