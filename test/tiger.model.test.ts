/**
 * TIGER (src/models/tiger/model.ts) on the tiny i -> i+1 pattern
 * (test/fixtures/pattern_data.ts) with injected item vectors: it learns the
 * pattern (full-ranking HR@1 by trie-constrained beam search), beam scores
 * equal the exact teacher-forced log-probabilities, every returned item is a
 * real item, save -> loadRecommender scores identically (semantic ids and
 * quantiser saved with it), a seed fixes the run, an interrupted fit resumes
 * to the same model, and bad input is refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Mulberry32 } from '../src/util/random.js';
import { evaluateRecommender } from '../src/eval/evaluate.js';
import { loadRecommender, MODELS } from '../src/models/registry.js';
import { Tiger, validSubset } from '../src/models/tiger/model.js';
import type { SplitDataset } from '../src/data/types.js';
import type { TrainBatch } from '../src/models/train_types.js';
import type { VectorMatrix } from '../src/models/tiger/semantic_ids.js';
import { BASE_FIT, NUM_ITEMS, firstUsers, patternData, setupModelTests, testMetric } from './fixtures/pattern_data.js';

const tmp = setupModelTests('llmrec-tiger-');
const data = patternData();

/** Item i's vector: a cluster centre (i % 4) plus seeded noise, 8-d. */
function vectors(d: SplitDataset): VectorMatrix {
  const rng = new Mulberry32(3);
  const centres = Array.from({ length: 4 }, () => Array.from({ length: 8 }, () => rng.next() * 4 - 2));
  const out = new Float32Array(d.numItems * 8);
  for (let i = 1; i <= d.numItems; i++) for (let j = 0; j < 8; j++) out[(i - 1) * 8 + j] = centres[i % 4][j] + 0.3 * rng.normal();
  return { rows: d.numItems, dim: 8, data: out };
}

const CONFIG = {
  idMethod: 'rqkmeans', levels: 2, codebookSize: 8, maxCollisions: 16, kmeansIters: 10,
  dModel: 32, dKv: 8, numHeads: 2, dFf: 64, numLayers: 1, dropout: 0, maxItems: 5, beams: 10, beamChunk: 8,
};
const quiet = () => undefined;

describe('TIGER', () => {
  let model: Tiger;

  it('is registered with JSON defaults', () => {
    assert.ok(MODELS.tiger);
    assert.deepEqual(JSON.parse(JSON.stringify(MODELS.tiger.defaults)), MODELS.tiger.defaults);
  });

  it('learns the pattern: full-ranking HR@1 by beam search', async () => {
    model = new Tiger(CONFIG, { itemVectors: vectors, log: quiet });
    const report = await model.fit(data, { ...BASE_FIT, epochs: 40, lr: 1e-2 });
    assert.ok(report.epochs[0].loss > report.epochs[report.epochs.length - 1].loss);
    const s = model.semanticIdStats!;
    assert.equal(s.items, NUM_ITEMS);
    assert.equal(s.levels.length, 2);
    const hr1 = testMetric(model, data, 'full', 'hr@1');
    assert.ok(hr1 >= 0.9, `full HR@1 ${hr1}`);
  });

  it('beam scores are exact sequence log-probs of real, distinct items', () => {
    const users = firstUsers(data);
    const rows = model.beamSearch(users, 10);
    const cands = new Int32Array(4 * 3);
    rows.forEach((row, b) => {
      assert.equal(row.length, 10);
      assert.equal(new Set(row.map((r) => r.item)).size, 10);
      for (const r of row) assert.ok(r.item >= 1 && r.item <= NUM_ITEMS);
      for (let k = 1; k < row.length; k++) assert.ok(row[k].logProb <= row[k - 1].logProb);
      for (let c = 0; c < 3; c++) cands[b * 3 + c] = row[c].item;
    });
    const exact = model.scoreCandidates(users, cands, 3);
    rows.forEach((row, b) => {
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(exact[b * 3 + c] - row[c].logProb) < 1e-3, `user ${b} beam ${c}: ${exact[b * 3 + c]} vs ${row[c].logProb}`);
    });
    const all = model.scoreAll(users);
    assert.equal(all.length, 4 * (NUM_ITEMS + 1));
    for (let b = 0; b < 4; b++) {
      assert.equal(all[b * (NUM_ITEMS + 1)], Number.NEGATIVE_INFINITY);
      assert.equal(Array.from(all.subarray(b * (NUM_ITEMS + 1), (b + 1) * (NUM_ITEMS + 1))).filter(Number.isFinite).length, 10);
    }
    assert.equal(model.userEmbedding(), null);
    assert.equal(model.itemEmbeddings(), null);
  });

  it('trims leading all-padding columns: the same loss with and without extra padding', () => {
    // Rows of the training samples with short histories (left-padded) and a full one.
    const rows = [0, 1, 2, 3, 4, 5].map((i) => i * 7);
    const L0 = data.train.L;
    const batchOf = (extra: number): TrainBatch => {
      const L = L0 + extra;
      const history = new Int32Array(rows.length * L);
      rows.forEach((r, b) => history.set(data.train.history.subarray(r * L0, (r + 1) * L0), b * L + extra));
      return {
        size: rows.length, L, history, user: Int32Array.from(rows, (r) => data.train.user[r]), target: Int32Array.from(rows, (r) => data.train.target[r]),
        negatives: new Int32Array(0), numNegatives: 0,
      };
    };
    const m = model as unknown as { trainLoss(b: TrainBatch): { dataSync(): Float32Array; dispose(): void }; encoderInput(b: TrainBatch): { S: number } };
    const lossOf = (b: TrainBatch) => {
      const t = m.trainLoss(b);
      const v = t.dataSync()[0];
      t.dispose();
      return v;
    };
    const base = lossOf(batchOf(0));
    assert.ok(Number.isFinite(base) && base > 0);
    for (const extra of [1, 4, 20]) assert.equal(lossOf(batchOf(extra)), base, `${extra} extra padding columns`);
    // The encoder input is as wide as the longest history of the batch (in id tokens), not maxItems.
    const short = batchOf(6);
    short.history.fill(0);
    short.history[short.L - 1] = 3;
    short.history[short.L - 2] = 2;
    short.history[2 * short.L - 1] = 5;
    assert.equal(m.encoderInput(short).S, 2 * model.idLength);
    assert.equal(m.encoderInput(batchOf(20)).S, Math.max(...rows.map((r) => Array.from(data.train.history.subarray(r * L0, (r + 1) * L0)).filter((x) => x > 0).length)) * model.idLength);
  });

  it('validUsers: early stopping on a fixed, seeded subset of validation users; test on all', async () => {
    const a = validSubset(data.valid, 10, 7);
    const b = validSubset(data.valid, 10, 7);
    assert.deepEqual(a, b);
    assert.equal(a.count, 10);
    assert.equal(new Set(a.user).size, 10);
    for (let i = 0; i < a.count; i++) {
      const r = Array.from(data.valid.user).indexOf(a.user[i]);
      assert.ok(r >= 0);
      if (i > 0) assert.ok(r > Array.from(data.valid.user).indexOf(a.user[i - 1]), 'rows keep their order');
      assert.equal(a.target[i], data.valid.target[r]);
      assert.deepEqual(Array.from(a.history.subarray(i * a.L, (i + 1) * a.L)), Array.from(data.valid.history.subarray(r * a.L, (r + 1) * a.L)));
      assert.deepEqual(Array.from(a.negatives.subarray(i * a.numNegatives, (i + 1) * a.numNegatives)), Array.from(data.valid.negatives.subarray(r * a.numNegatives, (r + 1) * a.numNegatives)));
    }
    assert.notDeepEqual(Array.from(validSubset(data.valid, 10, 8).user), Array.from(a.user));
    assert.equal(validSubset(data.valid, data.valid.count, 7), data.valid);
    assert.throws(() => new Tiger({ validUsers: -1 }), /validUsers' must be an integer >= 0/);
    const lines: string[] = [];
    const m = new Tiger({ ...CONFIG, validUsers: 10 }, { itemVectors: vectors, log: (l) => lines.push(l) });
    const rep = await m.fit(data, { ...BASE_FIT, epochs: 2 });
    for (const e of rep.epochs) assert.equal(e.valid.count, 10);
    assert.ok(lines.some((l) => l.includes(`10 of ${data.valid.count} validation users`)));
    assert.equal(data.valid.count, 60, 'the caller\'s data is untouched');
    const test = evaluateRecommender(m, data, 'test', { protocol: 'full', ks: [10] });
    assert.equal(test.count, data.test.count);
    m.dispose();
  });

  it('save -> loadRecommender scores identically and keeps the semantic ids', async () => {
    const dir = join(tmp(), 'tiger');
    await model.save(dir);
    const loaded = await loadRecommender(dir);
    const users = firstUsers(data);
    assert.deepEqual(Array.from(loaded.scoreAll(users)), Array.from(model.scoreAll(users)));
    assert.deepEqual((loaded as Tiger).semanticIdStats!.levels, model.semanticIdStats!.levels);
    loaded.dispose();
  });

  it('the same seed gives the same run', async () => {
    const a = new Tiger(CONFIG, { itemVectors: vectors, log: quiet });
    const b = new Tiger(CONFIG, { itemVectors: vectors, log: quiet });
    const ra = await a.fit(data, { ...BASE_FIT, epochs: 2 });
    const rb = await b.fit(data, { ...BASE_FIT, epochs: 2 });
    assert.deepEqual(ra.epochs.map((e) => e.loss), rb.epochs.map((e) => e.loss));
    assert.deepEqual(Array.from(a.scoreAll(firstUsers(data))), Array.from(b.scoreAll(firstUsers(data))));
    a.dispose();
    b.dispose();
  });

  it('an interrupted fit resumes from its checkpoint to the same model', async () => {
    const dir = tmp();
    const opts = { ...BASE_FIT, epochs: 3, checkpointDir: dir };
    const full = new Tiger(CONFIG, { itemVectors: vectors, log: quiet });
    const rFull = await full.fit(data, { ...BASE_FIT, epochs: 3 });
    const ac = new AbortController();
    const a = new Tiger(CONFIG, { itemVectors: vectors, log: quiet });
    const rA = await a.fit(data, { ...opts, signal: ac.signal, onEpoch: (e) => { if (e.epoch === 0) ac.abort(); } });
    assert.equal(rA.interrupted, true);
    a.dispose();
    const b = new Tiger(CONFIG, { itemVectors: vectors, log: quiet });
    const rB = await b.fit(data, { ...opts, resume: true });
    assert.equal(rB.interrupted, false);
    assert.deepEqual(rB.epochs.map((e) => e.loss), rFull.epochs.map((e) => e.loss));
    assert.deepEqual(Array.from(b.scoreAll(firstUsers(data))), Array.from(full.scoreAll(firstUsers(data))));
    full.dispose();
    b.dispose();
  });

  it('refuses bad input', async () => {
    assert.throws(() => new Tiger({ idMethod: 'pq' }), /idMethod' must be 'rqvae' or 'rqkmeans'/);
    assert.throws(() => new Tiger({ beams: 0 }), /beams' must be an integer >= 1/);
    const m = new Tiger(CONFIG, { itemVectors: () => ({ rows: 3, dim: 2, data: new Float32Array(6) }), log: quiet });
    await assert.rejects(m.fit(data, BASE_FIT), /item vectors have 3 rows, the data has 40 items/);
    assert.throws(() => m.scoreAll(firstUsers(data)), /model not fitted/);
    // Collapsed codebooks (every item the same vector) are refused with the numbers.
    const flat = new Tiger({ ...CONFIG, codebookSize: 16, maxCollisions: 64 }, { itemVectors: (d) => ({ rows: d.numItems, dim: 2, data: new Float32Array(d.numItems * 2).fill(1) }), log: quiet });
    await assert.rejects(flat.fit(data, BASE_FIT), /codebook collapse on 40 items: level 0 uses 1\/16 codes/);
  });
});
