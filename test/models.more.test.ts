/**
 * Caser, BERT4Rec and DIN on the tiny synthetic i -> i+1 pattern (shared with
 * test/models.core.test.ts: test/fixtures/pattern_data.ts):
 * each fits in seconds, its loss decreases, it clearly beats Random (and DIN
 * beats Pop), sequence models approach HR@1 = 1; score shapes, padding at
 * -Infinity, candidate scores = full scores; save -> loadRecommender gives
 * identical scores; seeded reproducibility; no tensor leak across epochs;
 * scoring before fit throws. Plus unit checks of the pieces (Caser's windows
 * and max-over-time gradient, BERT4Rec's per-user cloze rows and masking, DIN's
 * chunked scoring).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf } from '../src/engine/index.js';
import type { Recommender } from '../src/models/types.js';
import { createRecommender, loadRecommender } from '../src/models/registry.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { readModelDir } from '../src/models/neural.js';
import { caserWindows, maxOverTime } from '../src/models/caser.js';
import { userClozeSamples } from '../src/models/bert4rec.js';
import { BASE_FIT, NEG, NUM_ITEMS, assertEmbeddingShapes, assertLossDecreases, assertRegistryEntry, assertSaveLoad, assertScoreShapes, firstUsers as firstUsersOf, fitSetup, type Fitted, type ModelSetup, patternData, seededRun, setupModelTests, testMetric } from './fixtures/pattern_data.js';

const data = patternData();
const firstUsers = firstUsersOf(data);

// -------------------------------------------------------------- model setups

interface Setup extends ModelSetup {
  /** Minimum test HR@1, sampled protocol (1 + 9 candidates). */
  minHr1: number;
  /** Minimum test HR@1 over the full ranking. */
  minFullHr1: number;
}

const SETUPS: Setup[] = [
  { label: 'caser (ce)', name: 'caser', config: { d: 32, nh: 8, dropout: 0.2 }, fit: { epochs: 20 }, minHr1: 0.95, minFullHr1: 0.9 },
  { label: 'caser (bce, no user embedding)', name: 'caser', config: { d: 32, nh: 8, dropout: 0.2, loss: 'bce', numNegatives: 4, userEmb: false }, fit: { epochs: 25 }, minHr1: 0.95, minFullHr1: 0.9 },
  { label: 'bert4rec', name: 'bert4rec', config: { d: 32, inner: 64, dropout: 0.1, dupe: 8, initStd: 0.1 }, fit: { epochs: 20 }, minHr1: 0.95, minFullHr1: 0.9 },
  { label: 'din', name: 'din', config: { d: 32, attnHidden: [32, 16], mlpHidden: [64, 32], numNegatives: 4 }, fit: { epochs: 20 }, minHr1: 0.9, minFullHr1: 0.8 },
];

const tmp = setupModelTests('llmrec-models-more-');

// -------------------------------------------------------------------- tests

describe('registry entries of caser, bert4rec, din', () => {
  it('are registered with JSON-round-tripping defaults', () => {
    for (const name of ['caser', 'bert4rec', 'din']) assertRegistryEntry(name);
  });

  it('reject bad configs', () => {
    assert.throws(() => createRecommender('caser', { loss: 'mse' }), /'loss' must be 'ce' or 'bce'/);
    assert.throws(() => createRecommender('caser', { nh: 0 }), /'nh' must be an integer >= 1/);
    assert.throws(() => createRecommender('bert4rec', { d: 30, heads: 4 }), /divisible/);
    assert.throws(() => createRecommender('bert4rec', { maskProb: 0 }), /maskProb/);
    assert.throws(() => createRecommender('din', { attnHidden: [8, 0] }), /attnHidden/);
    assert.throws(() => createRecommender('din', { mlpHidden: 'x' }), /mlpHidden/);
    assert.throws(() => createRecommender('din', { dd: 1 }), /unknown config key 'dd'/);
  });

  it('refuse to score before fit ("model not fitted")', () => {
    for (const name of ['caser', 'bert4rec', 'din']) {
      const m = createRecommender(name);
      assert.throws(() => m.scoreAll(firstUsers), /model not fitted/, name);
      assert.throws(() => m.scoreCandidates(firstUsers, new Int32Array(8).fill(1), 2), /model not fitted/, name);
      assert.throws(() => m.userEmbedding(firstUsers), /model not fitted/, name);
      assert.throws(() => m.itemEmbeddings(), /model not fitted/, name);
      m.dispose();
    }
  });
});

describe('model pieces', () => {
  it('caser: windows of the last L items, zero past the end and on padding', () => {
    // two rows of a length-4 history, L = 3
    const { win, keep } = caserWindows(new Int32Array([0, 0, 5, 6, 1, 2, 3, 4]), 2, 4, 3);
    assert.deepEqual([...win], [0, 5, 6, 5, 6, 0, 6, 0, 0, 2, 3, 4, 3, 4, 0, 4, 0, 0]);
    assert.deepEqual([...keep], [0, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0]);
    // shorter history than L: left-padded
    assert.deepEqual([...caserWindows(new Int32Array([7, 8]), 1, 2, 3).win], [0, 7, 8, 7, 8, 0, 8, 0, 0]);
  });

  it('caser: maxOverTime respects the per-column limits and routes the gradient to the argmax', () => {
    const x = tf.tensor3d([1, 9, 5, 2, 3, 1, 4, 8, 0], [1, 3, 3]); // rows t = 0..2, columns c = 0..2
    const limits = new Int32Array([3, 2, 1]);
    const y = maxOverTime(x, limits);
    assert.deepEqual([...y.dataSync()], [4, 9, 5]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(maxOverTime(t as tf.Tensor3D, limits), tf.tensor1d([1, 2, 3]))))(x);
    assert.deepEqual([...g.dataSync()], [0, 2, 3, 0, 0, 0, 1, 0, 0]);
    tf.dispose([x, y, g]);
  });

  it('bert4rec: one cloze row per user (last L + 1 train items), repeated dupe times', () => {
    const s = userClozeSamples([Int32Array.from([1, 2, 3, 4]), Int32Array.from([]), Int32Array.from([9])], 2, 2);
    assert.equal(s.count, 4);
    assert.deepEqual([...s.user], [0, 2, 0, 2]);
    assert.deepEqual([...s.target], [4, 9, 4, 9]);
    assert.deepEqual([...s.history], [2, 3, 0, 0, 2, 3, 0, 0]);
  });
});

describe('caser, bert4rec, din on the i -> i+1 pattern', () => {
  const fitted: Fitted = new Map();
  let random: Recommender;
  let pop: Recommender;

  before(async () => {
    random = createRecommender('random');
    await random.fit(data, BASE_FIT);
    pop = createRecommender('pop');
    await pop.fit(data, BASE_FIT);
  });

  after(() => {
    for (const { model } of fitted.values()) model.dispose();
    random.dispose();
    pop.dispose();
  });

  for (const s of SETUPS) {
    it(`${s.label}: fits in seconds, loss decreases, beats random${s.name === 'din' ? ' and pop' : ''}`, async () => {
      const { model, report } = await fitSetup(s, data, fitted);
      assertLossDecreases(s.label, report);
      const h = testMetric(model, data, 'sampled', 'hr@1');
      const hRandom = testMetric(random, data, 'sampled', 'hr@1');
      assert.ok(h >= s.minHr1 && h > hRandom + 0.3, `${s.label}: test HR@1 ${h} vs random ${hRandom} (need >= ${s.minHr1})`);
      const hf = testMetric(model, data, 'full', 'hr@1');
      assert.ok(hf >= s.minFullHr1, `${s.label}: full-ranking test HR@1 ${hf} (need >= ${s.minFullHr1})`);
      if (s.name === 'din') {
        for (const metric of ['hr@1', 'auc']) {
          const v = testMetric(model, data, 'sampled', metric);
          const vPop = testMetric(pop, data, 'sampled', metric);
          const vRandom = testMetric(random, data, 'sampled', metric);
          assert.ok(v > vPop + 0.1 && v > vRandom + 0.2, `din: test ${metric} ${v} vs pop ${vPop}, random ${vRandom}`);
        }
      }
      assert.deepEqual(report.bestValid, report.epochs[report.bestEpoch].valid);
    });
  }

  it('score shapes, padding at -Infinity, candidate scores = full scores, embeddings', () => {
    for (const s of SETUPS) {
      const entry = fitted.get(s.label);
      if (!entry) continue; // its fit test failed
      const m = entry.model;
      const all = assertScoreShapes(s.label, m, firstUsers);
      const { ue, ie } = assertEmbeddingShapes(s.label, m, firstUsers);
      if (s.name !== 'din') {
        // a dot-product model: the embeddings reproduce the scores
        for (let i = 1; i <= NUM_ITEMS; i++) {
          let dot = 0;
          for (let k = 0; k < ie.dim; k++) dot += ue[k] * ie.data[i * ie.dim + k];
          assert.ok(Math.abs(dot - all[i]) <= 1e-3 * Math.max(1, Math.abs(dot)), `${s.label}: <user, item ${i}> = score`);
        }
      }
    }
  });

  it('din: chunked scoring (tiny scoreChunk) gives the same scores', async () => {
    const entry = fitted.get('din');
    assert.ok(entry, 'din fitted');
    const dir = tmp();
    await entry.model.save(dir);
    const loaded = await loadRecommender(dir);
    // Same weights, blocks of at most 7 rows (1 user x 1 candidate per block, as L = 5).
    const small = createRecommender('din', { ...entry.model.config, scoreChunk: 7 });
    try {
      small.restore(readModelDir(dir));
      // Different block shapes change the matmul summation order: equal up to float rounding.
      const close = (a: Float32Array, b: Float32Array, what: string) => {
        assert.equal(a.length, b.length, what);
        for (let i = 0; i < a.length; i++) {
          if (a[i] === b[i]) continue;
          assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * Math.max(1, Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
        }
      };
      close(small.scoreAll(firstUsers), loaded.scoreAll(firstUsers), 'scoreAll');
      const cands = new Int32Array([3, 4, 5, 1, 2, 3, 7, 8, 9, 40, 39, 38]);
      close(small.scoreCandidates(firstUsers, cands, 3), loaded.scoreCandidates(firstUsers, cands, 3), 'scoreCandidates');
    } finally {
      loaded.dispose();
      small.dispose();
    }
  });

  it('save -> loadRecommender gives identical scores and config', async () => {
    for (const s of SETUPS) {
      const entry = fitted.get(s.label);
      if (!entry) continue;
      const dir = tmp();
      await assertSaveLoad(s.label, entry.model, dir, firstUsers, (loaded) => {
        const cands = data.test.negatives.subarray(0, 4 * NEG);
        assert.deepEqual(loaded.scoreCandidates(firstUsers, cands, NEG), entry.model.scoreCandidates(firstUsers, cands, NEG), `${s.label}: candidate scores after load`);
      });
      const w = readSafetensors(join(dir, 'weights.safetensors'));
      assert.ok([...w.tensors.keys()].includes('item_emb.weight'), `${s.label}: HF-style names ${[...w.tensors.keys()]}`);
    }
  });
});

describe('training: reproducibility and memory', () => {
  const SMALL: Record<string, Record<string, unknown>> = {
    caser: { d: 8, nh: 4, nv: 2 },
    bert4rec: { d: 8, blocks: 1, heads: 2, inner: 16, dupe: 2 },
    din: { d: 8, attnHidden: [8], mlpHidden: [8], numNegatives: 2 },
  };

  it('same seed -> identical losses and scores; another seed differs', async () => {
    for (const [name, config] of Object.entries(SMALL)) {
      const run = (seed: number) => seededRun(name, config, data, { ...BASE_FIT, epochs: 2, seed });
      const a = await run(5);
      const b = await run(5);
      const c = await run(6);
      assert.deepEqual(a.losses, b.losses, `${name}: same losses`);
      assert.deepEqual(a.scores, b.scores, `${name}: same scores`);
      assert.notDeepEqual(a.losses, c.losses, `${name}: another seed`);
    }
  });

  it('no tensor leak across epochs; dispose frees the parameters', async () => {
    const n0 = tf.memory().numTensors;
    for (const [name, config] of Object.entries(SMALL)) {
      const counts: number[] = [];
      const m = createRecommender(name, config);
      await m.fit(data, { ...BASE_FIT, epochs: 3, onEpoch: () => counts.push(tf.memory().numTensors) });
      assert.equal(counts[2], counts[1], `${name}: tensors after epoch 2 vs 1: ${counts}`);
      const nFitted = tf.memory().numTensors; // the optimizer state is gone after fit
      m.scoreAll(firstUsers);
      m.scoreCandidates(firstUsers, new Int32Array(8).fill(3), 2);
      m.userEmbedding(firstUsers);
      m.itemEmbeddings();
      assert.equal(tf.memory().numTensors, nFitted, `${name}: scoring leaks no tensor`);
      m.dispose();
      assert.equal(tf.memory().numTensors, n0, `${name}: tensors after dispose`);
    }
  });
});
