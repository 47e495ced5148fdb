// How predictable are TIGER's semantic ids? For item vectors from text, from the
// collaborative embedding (src/models/tiger/cooc.ts) and from their mix
// (`collabShare`), RQ-KMeans ids as TIGER builds them, then a bigram over first
// codes fitted on the training rows (last history item -> target) and scored on
// the validation rows: cross-entropy of the target's first code (add-0.1
// smoothing) and top-1 accuracy; plus the ids' collision rate and per-level
// perplexity. Nothing is trained but k-means; no test row is read.
// Usage: LLMREC_DATA_DIR=... node --import tsx scripts/tiger-id-proxy.mts CONFIG [share ...]
import { readFileSync } from 'node:fs';
import { initEngine } from '../src/engine/index.js';
import { parseRunConfig, modelSpecs } from '../src/config/run.js';
import { loadConfiguredData, prepareSplit } from '../src/experiment/run.js';
import { textVectorSource } from '../src/models/tiger/vectors.js';
import { coocVectors, mixVectors } from '../src/models/tiger/cooc.js';
import { addCollisionCodes, levelUsage, rqKMeans, type VectorMatrix } from '../src/models/tiger/semantic_ids.js';
import { TIGER_DEFAULTS } from '../src/models/tiger/model.js';

const [file, ...shares] = process.argv.slice(2);
if (!file) throw new Error('usage: tiger-id-proxy.mts CONFIG [share ...]');
await initEngine();
const cfg = parseRunConfig(JSON.parse(readFileSync(file, 'utf8')), file);
const data = prepareSplit(await loadConfiguredData(cfg), cfg);
const spec = modelSpecs(cfg).find((s) => s.name === 'tiger');
const c = { ...TIGER_DEFAULTS, ...(spec?.config ?? {}) } as typeof TIGER_DEFAULTS;
const seed = cfg.train.seed;
const n = data.numItems;
const S = c.codebookSize;
const text = await textVectorSource(c.textEncoder, c.textDim)(data, seed);
const co = coocVectors(data, { dim: c.collabDim, window: c.collabWindow, iters: c.collabIters, seed });

function score(name: string, x: VectorMatrix): void {
  const codes = rqKMeans(x.data, n, x.dim, c.levels, S, c.kmeansIters, seed).codes;
  const col = addCollisionCodes(codes, n, c.levels, Number.MAX_SAFE_INTEGER);
  const ppl = levelUsage(codes, n, c.levels, c.levels, S).map((u) => u.perplexity.toFixed(1)).join(' / ');
  const first = (i: number) => codes[(i - 1) * c.levels];
  const cnt = new Float64Array(S * S);
  const row = new Float64Array(S);
  const tr = data.train;
  for (let r = 0; r < tr.count; r++) {
    const h = tr.history[r * tr.L + tr.L - 1];
    if (!h) continue;
    cnt[first(h) * S + first(tr.target[r])]++;
    row[first(h)]++;
  }
  const v = data.valid;
  let ce = 0;
  let hit = 0;
  let m = 0;
  for (let r = 0; r < v.count; r++) {
    const h = v.history[r * v.L + v.L - 1];
    if (!h) continue;
    const a = first(h);
    ce -= Math.log((cnt[a * S + first(v.target[r])] + 0.1) / (row[a] + 0.1 * S));
    let best = -1;
    let arg = -1;
    for (let k = 0; k < S; k++) if (cnt[a * S + k] > best) { best = cnt[a * S + k]; arg = k; }
    if (arg === first(v.target[r])) hit++;
    m++;
  }
  console.log(`| ${name} | ${(ce / m).toFixed(3)} | ${(hit / m).toFixed(4)} | ${col.collisionRate.toFixed(3)} | ${ppl} |`);
}

console.log(`${n} items, ${data.train.count} training rows, ${data.valid.count} validation rows; uniform CE ${Math.log(S).toFixed(3)} nats`);
console.log('| item vectors | first-code CE | top-1 | collision rate | perplexity per level |');
console.log('|---|---:|---:|---:|---|');
score(`text (${c.textEncoder} ${text.dim})`, text);
score(`collaborative only (${co.dim})`, mixVectors(text, co, 1));
for (const s of shares.length ? shares.map(Number) : [0.5]) score(`collabShare ${s}`, mixVectors(text, co, s));
