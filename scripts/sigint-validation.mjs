#!/usr/bin/env node
// How fast a Ctrl-C takes effect during a collaborative model's validation, on real data
// (docs/RESULTS.md, "Ctrl-C during a collaborative model's validation"). Through the public API of the
// built package (`npm run build` first). SASRec, full-ranking validation after each of 2 epochs.
//
//   node scripts/sigint-validation.mjs DATASET CHECKPOINT_DIR interrupt [DIST_DIR]
//       the signal is aborted 1 s after the last batch of epoch 0, i.e. during its validation; prints
//       how late the abort callback ran (the event loop blocked) and when fit() returned
//   node scripts/sigint-validation.mjs DATASET CHECKPOINT_DIR resume     (continues that checkpoint)
//   node scripts/sigint-validation.mjs DATASET CHECKPOINT_DIR straight   (the same fit without a signal)
// DIST_DIR (default: this checkout's dist/) lets an older build be measured the same way.
/* global URL, AbortController, setTimeout */
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dataset, ckpt, mode, distArg] = process.argv.slice(2);
if (!dataset || !ckpt || !['interrupt', 'resume', 'straight'].includes(mode)) {
  console.error('usage: node scripts/sigint-validation.mjs DATASET CHECKPOINT_DIR interrupt|resume|straight [DIST_DIR]');
  process.exit(2);
}
const dist = resolve(distArg ?? new URL('../dist', import.meta.url).pathname);
const L = await import(pathToFileURL(`${dist}/index.js`).href);
await L.initEngine();
const data = L.applyProtocol(await L.loadDataset(dataset), { ...L.DEFAULT_PROTOCOL });
const model = L.createRecommender('sasrec', {});
const ac = new AbortController();
let epochs = 0;
let planned = 0;
let fired = 0;
const t0 = performance.now();
const report = await model.fit(data, {
  epochs: 2, batchSize: 256, lr: 1e-3, patience: 5, validMetric: 'ndcg@10', validProtocol: 'full', seed: 7,
  checkpointDir: ckpt, resume: mode === 'resume', signal: mode === 'interrupt' ? ac.signal : undefined,
  onEpoch: (e) => {
    epochs++;
    console.log(`epoch ${e.epoch}: loss ${e.loss.toFixed(6)}, valid ndcg@10 ${e.valid['ndcg@10'].toFixed(6)}`);
  },
  onBatch: (done, total) => {
    if (mode === 'interrupt' && epochs === 0 && done === total) {
      planned = performance.now() + 1000;
      setTimeout(() => { fired = performance.now(); ac.abort(); }, 1000);
    }
  },
});
const end = performance.now();
console.log(JSON.stringify({
  mode, interrupted: report.interrupted, validatedEpochs: report.epochs.length, seconds: +((end - t0) / 1000).toFixed(1),
  ...(mode === 'interrupt' ? { abortRanLateMs: Math.round(fired - planned), fitReturnedAfterPlannedAbortMs: Math.round(end - planned) } : {}),
}));
model.dispose();
