// Profiles TIGER on a benchmark config's split: item vectors + semantic ids, N training
// batches (one epoch over the first N * batchSize training rows), validation beam search on
// the first V validation users, with wall seconds and peak RSS per stage. Timings are for
// reading, not for tests (a shared machine gives upper bounds).
// Usage: LLMREC_DATA_DIR=... node --import tsx scripts/profile-tiger.mts CONFIG [batches=20] [validUsers=512] [key=value model config or train.key=value overrides...]
import { readFileSync } from 'node:fs';
import { initEngine } from '../src/engine/index.js';
import { parseRunConfig, modelSpecs } from '../src/config/run.js';
import { loadConfiguredData, prepareSplit } from '../src/experiment/run.js';
import { Tiger } from '../src/models/tiger/model.js';
import { evaluateRecommender } from '../src/eval/evaluate.js';
import type { SplitDataset } from '../src/data/types.js';

const [file, nb = '20', nv = '512', ...over] = process.argv.slice(2);
await initEngine();
const cfg = parseRunConfig(JSON.parse(readFileSync(file, 'utf8')), file);
const data = prepareSplit(await loadConfiguredData(cfg), cfg);
const spec = modelSpecs(cfg).find((s) => s.name === 'tiger');
if (!spec) throw new Error('no tiger in the config');
const config: Record<string, unknown> = { ...spec.config };
const trainOver: Record<string, unknown> = {};
for (const o of over) {
  const [k, v] = o.split('=');
  if (k.startsWith('train.')) trainOver[k.slice(6)] = JSON.parse(v);
  else config[k] = JSON.parse(v);
}
const rss = () => `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`;
const B = (trainOver.batchSize ?? spec.train.batchSize ?? cfg.train.batchSize) as number; // a train.batchSize=... override included
const rows = Math.min(data.train.count, Number(nb) * B);
const V = Math.min(data.valid.count, Number(nv));
const t = data.train;
const sub: SplitDataset = {
  ...data,
  train: { count: rows, L: t.L, user: t.user.subarray(0, rows), history: t.history.subarray(0, rows * t.L), target: t.target.subarray(0, rows) },
  valid: { ...data.valid, count: V, user: data.valid.user.subarray(0, V), history: data.valid.history.subarray(0, V * data.valid.L), target: data.valid.target.subarray(0, V) },
};
console.log(`train rows ${data.train.count} (profiling ${rows}), valid users ${data.valid.count} (profiling ${V}), items ${data.numItems}, batch ${B}`);
const m = new Tiger(config, { log: (l) => console.log(`  ${l}`) });
const t0 = performance.now();
const rep = await m.fit(sub, { ...cfg.train, ...spec.train, ...trainOver, epochs: 1, patience: 1, seed: cfg.train.seed } as never);
const fitS = (performance.now() - t0) / 1000;
const ep = rep.epochs[0];
console.log(`fit ${fitS.toFixed(1)} s (epoch incl. validation ${ep.seconds.toFixed(1)} s); loss ${ep.loss.toFixed(4)}; rss ${rss()}`);
const t1 = performance.now();
const r = evaluateRecommender(m, sub, 'valid', { protocol: 'full', ks: [10] });
const evS = (performance.now() - t1) / 1000;
console.log(`validation of ${V} users: ${evS.toFixed(1)} s (${(1000 * evS / V).toFixed(1)} ms/user -> ${(evS / V * data.valid.count).toFixed(0)} s for all ${data.valid.count}); ndcg@10 ${r['ndcg@10'].toFixed(4)}; rss ${rss()}`);
console.log(`train: ${(ep.seconds - evS).toFixed(1)} s for ${Math.ceil(rows / B)} batches -> ${((ep.seconds - evS) / Math.ceil(rows / B) * Math.ceil(data.train.count / B)).toFixed(0)} s per full epoch (approx.)`);
