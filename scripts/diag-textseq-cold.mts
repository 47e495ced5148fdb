// Diagnostic (issue 18): why TextSeq gives cold-target NDCG@10 0 in full ranking.
// Trains textseq on a cold-start config and prints, over the cold test rows: the target's
// rank among all items and among cold items only, and the mean score of warm vs cold items.
// Usage: LLMREC_DATA_DIR=... node --import tsx scripts/diag-textseq-cold.mts CONFIG EPOCHS [json model config]
import { readFileSync } from 'node:fs';
import { initEngine } from '../src/engine/index.js';
import { parseRunConfig } from '../src/config/run.js';
import { loadConfiguredData, prepareSplit } from '../src/experiment/run.js';
import { createRecommender } from '../src/models/registry.js';
import { evaluateWarmCold } from '../src/eval/cold_start.js';
import { sliceSplit } from '../src/eval/evaluate.js';
const [cfgPath, epochs, extra] = process.argv.slice(2);
await initEngine();
const cfg = parseRunConfig(JSON.parse(readFileSync(cfgPath, 'utf8')), cfgPath);
const data = prepareSplit(await loadConfiguredData(cfg), cfg);
const info = data.coldStart!;
const isCold = new Uint8Array(data.numItems + 1);
for (const i of info.coldItems) isCold[i] = 1;
const mc = { encoder: 'tfidf', textDim: 256, ...(extra ? JSON.parse(extra) as object : {}) };
const m = createRecommender('textseq', mc);
const rep = await m.fit(data, { ...cfg.train, epochs: Number(epochs), patience: 100 });
console.log(JSON.stringify({ mc, best: rep.bestEpoch, valid: rep.epochs.map((e) => e.valid) }));
const s = data.test;
const W = data.numItems + 1;
let rAll = 0, rCold = 0, n = 0, sw = 0, sc = 0, nw = 0, nc = 0;
for (let start = 0; start < s.count; start += 256) {
  const end = Math.min(start + 256, s.count);
  const sc0 = m.scoreAll(sliceSplit(s, start, end));
  for (let b = 0; b < end - start; b++) {
    const r = start + b;
    for (let i = 1; i < W; i++) { if (isCold[i]) { sc += sc0[b * W + i]; nc++; } else { sw += sc0[b * W + i]; nw++; } }
    if (!info.testCold[r]) continue;
    const t = s.target[r]; const st = sc0[b * W + t];
    let a = 0, c = 0;
    for (let i = 1; i < W; i++) if (i !== t && sc0[b * W + i] >= st) { a++; if (isCold[i]) c++; }
    rAll += a + 1; rCold += c + 1; n++;
  }
}
console.log(JSON.stringify({ coldRows: n, meanRankAll: rAll / n, meanRankAmongCold: rCold / n, coldItems: info.coldItems.length, numItems: data.numItems, meanScoreWarm: sw / nw, meanScoreCold: sc / nc }));
for (const protocol of ['full', 'sampled'] as const) {
  const r = evaluateWarmCold(m, data, { protocol, ks: [10] });
  console.log(protocol, JSON.stringify({ warm: [r.warm['ndcg@10'], r.warm['hr@10']], cold: [r.cold['ndcg@10'], r.cold['hr@10']] }));
}
