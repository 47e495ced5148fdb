/**
 * The collaborative-model framework on a tiny synthetic dataset with a
 * deterministic sequential pattern (test/fixtures/pattern_data.ts: item i is
 * always followed by item i + 1 on the cycle 1..20; items 21..40 never occur,
 * so Pop has a signal): every model fits in seconds, its loss goes down, it beats Random,
 * sequence models reach HR@1 ~ 1; score shapes and padding; save -> load gives
 * identical scores; seeded reproducibility; interrupt (AbortSignal) + resume
 * ends with the same weights as an uninterrupted run; best weights restored on
 * early stopping; no tensor leak across epochs; scoring before fit throws.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf } from '../src/engine/index.js';
import { evaluateRecommender } from '../src/eval/evaluate.js';
import type { FitOptions, FitReport, Recommender } from '../src/models/types.js';
import { createRecommender, loadRecommender, MODELS, modelNames } from '../src/models/registry.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { BASE_FIT, assertEmbeddingShapes, assertLossDecreases, assertRegistryEntry, assertSaveLoad, assertScoreShapes, firstUsers as firstUsersOf, fitSetup, type Fitted, type ModelSetup, patternData, seededRun, setupModelTests, testMetric } from './fixtures/pattern_data.js';

const data = patternData();
const firstUsers = firstUsersOf(data);

// -------------------------------------------------------------- model setups

interface Setup extends ModelSetup {
  neural: boolean;
  /** The test metric (sampled protocol, 1 + 9 candidates) that must reach `min` and beat Random by 0.2. */
  metric: 'hr@1' | 'auc';
  min: number;
  /** Minimum test HR@1 over the full ranking (sequence models). */
  minFullHr1?: number;
}

const SETUPS: Setup[] = [
  { label: 'random', name: 'random', config: {}, fit: {}, neural: false, metric: 'auc', min: 0 },
  { label: 'pop', name: 'pop', config: {}, fit: {}, neural: false, metric: 'auc', min: 0.7 },
  { label: 'bprmf', name: 'bprmf', config: { d: 16 }, fit: { epochs: 25, lr: 1e-2 }, neural: true, metric: 'hr@1', min: 0.4 },
  { label: 'sasrec (ce)', name: 'sasrec', config: { d: 32, blocks: 2, dropout: 0.1 }, fit: { epochs: 20 }, neural: true, metric: 'hr@1', min: 0.95, minFullHr1: 0.95 },
  { label: 'sasrec (bce, 2 heads)', name: 'sasrec', config: { d: 32, blocks: 1, heads: 2, loss: 'bce', numNegatives: 4, dropout: 0.1 }, fit: { epochs: 25 }, neural: true, metric: 'hr@1', min: 0.95, minFullHr1: 0.95 },
  { label: 'gru4rec (ce)', name: 'gru4rec', config: { d: 32, dropout: 0.1 }, fit: { epochs: 20 }, neural: true, metric: 'hr@1', min: 0.95, minFullHr1: 0.95 },
  { label: 'gru4rec (bce, hidden 24)', name: 'gru4rec', config: { d: 32, hidden: 24, loss: 'bce', numNegatives: 4, dropout: 0.1 }, fit: { epochs: 30 }, neural: true, metric: 'hr@1', min: 0.95, minFullHr1: 0.95 },
];

const tmp = setupModelTests('llmrec-models-');

// -------------------------------------------------------------------- tests

describe('registry', () => {
  it('lists the models with JSON-round-tripping defaults', () => {
    for (const n of ['random', 'pop', 'bprmf', 'sasrec', 'gru4rec', 'caser', 'bert4rec', 'din']) assert.ok(modelNames().includes(n), n);
    for (const name of modelNames()) {
      assertRegistryEntry(name);
      const e = MODELS[name];
      assert.ok(e.fit.batchSize >= 1 && e.fit.lr > 0 && e.fit.weightDecay === 0, name);
    }
  });

  it('rejects unknown models, unknown config keys and ill-typed values', () => {
    assert.throws(() => createRecommender('nope'), /unknown model 'nope'/);
    assert.throws(() => createRecommender('sasrec', { dd: 3 }), /unknown config key 'dd'/);
    assert.throws(() => createRecommender('sasrec', { d: '64' }), /'d' must be number/);
    assert.throws(() => createRecommender('sasrec', { loss: 'mse' }), /'loss' must be 'ce' or 'bce'/);
    assert.throws(() => createRecommender('sasrec', { d: 30, heads: 4 }), /divisible/);
    assert.throws(() => createRecommender('gru4rec', { dropout: 1 }), /in \[0, 1\)/);
  });

  it('every model refuses to score before fit ("model not fitted")', () => {
    for (const name of modelNames()) {
      const m = createRecommender(name);
      assert.throws(() => m.scoreAll(firstUsers), /model not fitted/, name);
      assert.throws(() => m.scoreCandidates(firstUsers, new Int32Array(8).fill(1), 2), /model not fitted/, name);
      assert.throws(() => m.itemEmbeddings(), /model not fitted/, name);
      m.dispose();
    }
  });

  it('fit validates its options', async () => {
    const m = createRecommender('sasrec', { d: 8, blocks: 1 });
    await assert.rejects(m.fit(data, { ...BASE_FIT, validMetric: 'precision@3' }), /validMetric/);
    await assert.rejects(m.fit(data, { ...BASE_FIT, epochs: 0 }), /epochs must be an integer >= 1/);
    m.dispose();
  });
});

describe('models on the i -> i+1 pattern', () => {
  const fitted: Fitted = new Map();

  after(() => {
    for (const { model } of fitted.values()) model.dispose();
  });

  it('random is deterministic per seed and near chance', async () => {
    const a = createRecommender('random');
    const b = createRecommender('random');
    const c = createRecommender('random');
    await a.fit(data, BASE_FIT);
    await b.fit(data, BASE_FIT);
    await c.fit(data, { ...BASE_FIT, seed: 12 });
    assert.deepEqual(a.scoreAll(firstUsers), b.scoreAll(firstUsers));
    assert.notDeepEqual(a.scoreAll(firstUsers), c.scoreAll(firstUsers));
    const h = testMetric(a, data, 'sampled', 'hr@1');
    assert.ok(h < 0.3, `random HR@1 ${h} (chance 0.1)`);
    const auc = testMetric(a, data, 'sampled', 'auc');
    assert.ok(auc > 0.3 && auc < 0.7, `random AUC ${auc} (chance 0.5)`);
    fitted.set('random', { model: a, report: await b.fit(data, BASE_FIT) });
    b.dispose();
    c.dispose();
  });

  for (const s of SETUPS.filter((x) => x.name !== 'random')) {
    it(`${s.label}: fits, loss decreases, beats random`, async () => {
      const { model, report } = await fitSetup(s, data, fitted);
      assert.ok(report.epochs.length >= 1);
      if (s.neural) {
        assertLossDecreases(s.label, report);
        assert.ok(report.secondsPerEpoch > 0);
      }
      const random = fitted.get('random')!.model;
      const h = testMetric(model, data, 'sampled', s.metric);
      const hRandom = testMetric(random, data, 'sampled', s.metric);
      assert.ok(h >= s.min && h > hRandom + 0.2, `${s.label}: test ${s.metric} ${h} vs random ${hRandom} (need >= ${s.min})`);
      if (s.minFullHr1 !== undefined) {
        const hf = testMetric(model, data, 'full', 'hr@1');
        assert.ok(hf >= s.minFullHr1, `${s.label}: full-ranking test HR@1 ${hf}`);
      }
      assert.deepEqual(report.bestValid, report.epochs[report.bestEpoch].valid);
    });
  }

  it('score shapes, padding at -Infinity, embeddings', () => {
    for (const s of SETUPS) {
      const entry = fitted.get(s.label);
      if (!entry) continue; // its fit test failed
      const m = entry.model;
      assertScoreShapes(s.label, m, firstUsers);
      if (s.neural) {
        assertEmbeddingShapes(s.label, m, firstUsers);
      } else {
        assert.equal(m.userEmbedding(firstUsers), null);
        assert.equal(m.itemEmbeddings(), null);
      }
    }
  });

  it('save -> loadRecommender gives identical scores and config', async () => {
    for (const s of SETUPS) {
      const entry = fitted.get(s.label);
      if (!entry) continue;
      const dir = tmp();
      await assertSaveLoad(s.label, entry.model, dir, firstUsers);
      if (s.neural) {
        const w = readSafetensors(join(dir, 'weights.safetensors'));
        assert.ok([...w.tensors.keys()].includes('item_emb.weight'), `${s.label}: HF-style names ${[...w.tensors.keys()]}`);
      }
    }
    await assert.rejects(loadRecommender(tmp()), /cannot read model config/);
  });
});

/** A resumed fit ended as the uninterrupted reference run: not interrupted, the same epochs, best epoch and final weights. */
function assertSameRun(model: Recommender, r: FitReport, ref: Recommender, refReport: FitReport): void {
  assert.equal(r.interrupted, false);
  assert.deepEqual(r.epochs.map((e) => e.loss), refReport.epochs.map((e) => e.loss), 'same epoch losses');
  assert.deepEqual(r.epochs.map((e) => e.valid), refReport.epochs.map((e) => e.valid), 'same validation');
  assert.equal(r.bestEpoch, refReport.bestEpoch);
  assert.deepEqual(model.scoreAll(firstUsers), ref.scoreAll(firstUsers), 'same final weights');
}

describe('training loop', () => {
  const SAS = { d: 16, blocks: 1, dropout: 0.2 };

  it('same seed -> identical losses and weights; another seed differs', async () => {
    const run = (seed: number) => seededRun('sasrec', SAS, data, { ...BASE_FIT, epochs: 3, seed });
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    assert.deepEqual(a.losses, b.losses);
    assert.deepEqual(a.scores, b.scores);
    assert.notDeepEqual(a.losses, c.losses);
  });

  for (const groupByLength of [0, 4]) it(`interrupt (AbortSignal) mid-epoch + resume = the uninterrupted run (groupByLength ${groupByLength})`, async () => {
    const opts = (dir: string): FitOptions => ({ ...BASE_FIT, epochs: 4, seed: 3, checkpointDir: dir, groupByLength });
    const ref = createRecommender('gru4rec', { d: 16, dropout: 0.2, loss: 'bce', numNegatives: 2 });
    const refDir = tmp();
    const refReport = await ref.fit(data, opts(refDir));

    const dir = tmp();
    const first = createRecommender('gru4rec', { d: 16, dropout: 0.2, loss: 'bce', numNegatives: 2 });
    const ac = new AbortController();
    let epochsSeen = 0;
    const r1 = await first.fit(data, {
      ...opts(dir),
      onEpoch: () => { epochsSeen++; },
      onBatch: (done) => { if (epochsSeen === 1 && done === 3) ac.abort(); },
      signal: ac.signal,
    });
    assert.equal(r1.interrupted, true);
    assert.equal(r1.epochs.length, 1, 'stopped during the second epoch');
    first.dispose();

    const second = createRecommender('gru4rec', { d: 16, dropout: 0.2, loss: 'bce', numNegatives: 2 });
    const r2 = await second.fit(data, { ...opts(dir), resume: true });
    assertSameRun(second, r2, ref, refReport);
    // A third fit resuming from the finished checkpoint does no more training.
    const third = createRecommender('gru4rec', { d: 16, dropout: 0.2, loss: 'bce', numNegatives: 2 });
    const r3 = await third.fit(data, { ...opts(dir), resume: true });
    assert.equal(r3.epochs.length, refReport.epochs.length);
    assert.deepEqual(third.scoreAll(firstUsers), ref.scoreAll(firstUsers));
    // A checkpoint from another configuration is refused.
    const other = createRecommender('gru4rec', { d: 8, loss: 'bce', numNegatives: 2 });
    await assert.rejects(other.fit(data, { ...opts(dir), resume: true }), /cannot resume .*different run/);
    // So is one with other batches (grouping by length on or off).
    const regrouped = createRecommender('gru4rec', { d: 16, dropout: 0.2, loss: 'bce', numNegatives: 2 });
    await assert.rejects(regrouped.fit(data, { ...opts(dir), groupByLength: groupByLength ? 0 : 4, resume: true }), /cannot resume .*different run/);
    for (const m of [ref, second, third, other, regrouped]) m.dispose();
  });

  it('interrupt during an epoch\'s validation (also the last, and again on resume) + resume = the uninterrupted run', async () => {
    const config = { d: 16, dropout: 0.2, loss: 'bce', numNegatives: 2 };
    const opts = (dir: string): FitOptions => ({ ...BASE_FIT, epochs: 3, seed: 3, checkpointDir: dir });
    const ref = createRecommender('gru4rec', config);
    const refReport = await ref.fit(data, opts(tmp()));
    assert.equal(refReport.epochs.length, 3);
    for (const at of [1, 2]) {
      const dir = tmp();
      const ac = new AbortController();
      let epochsSeen = 0;
      // The signal fires at the last batch of epoch `at`, so its validation (epoch 2: the last) is cut short.
      const first = createRecommender('gru4rec', config);
      const r1 = await first.fit(data, {
        ...opts(dir),
        onEpoch: () => { epochsSeen++; },
        onBatch: (done, total) => { if (epochsSeen === at && done === total) ac.abort(); },
        signal: ac.signal,
      });
      assert.equal(r1.interrupted, true, `epoch ${at}`);
      assert.equal(r1.epochs.length, at, `epoch ${at} trained, its validation not recorded`);
      first.dispose();
      // Resumed with the signal still aborted: the pending validation is cut short again and nothing is recorded.
      const again = createRecommender('gru4rec', config);
      const r2 = await again.fit(data, { ...opts(dir), resume: true, signal: ac.signal });
      assert.equal(r2.interrupted, true);
      assert.equal(r2.epochs.length, at);
      again.dispose();
      const last = createRecommender('gru4rec', config);
      const r3 = await last.fit(data, { ...opts(dir), resume: true });
      assertSameRun(last, r3, ref, refReport);
      last.dispose();
    }
    ref.dispose();
  });

  it('early stopping restores the best epoch', async () => {
    const m = createRecommender('sasrec', SAS);
    const r = await m.fit(data, { ...BASE_FIT, epochs: 40, patience: 2, lr: 1e-2 });
    assert.ok(r.stoppedEarly, `stopped early (${r.epochs.length} epochs)`);
    assert.equal(r.epochs.length, r.bestEpoch + 3, 'patience 2 after the best epoch');
    const v = evaluateRecommender(m, data, 'valid', { protocol: 'sampled', ks: [1, 5, 10] });
    assert.equal(v['hr@1'], r.bestValid['hr@1'], 'the restored weights are the best epoch');
    m.dispose();
  });

  it('lrDecay: lr is multiplied on a validation plateau, and a resumed run decays identically', async () => {
    const GRU = { d: 16, dropout: 0.2, loss: 'bce', numNegatives: 2 };
    const opts = (dir: string): FitOptions => ({ ...BASE_FIT, epochs: 10, lr: 5e-2, seed: 4, checkpointDir: dir, lrDecay: 0.5, lrDecayPatience: 2 });
    const ref = createRecommender('gru4rec', GRU);
    const r = await ref.fit(data, opts(tmp()));
    // The rule by hand from the epochs' best flags: two epochs in a row without a strict improvement halve lr.
    let lr = 5e-2;
    let bad = 0;
    const expected: number[] = [];
    for (const e of r.epochs) {
      expected.push(lr);
      bad = e.best ? 0 : bad + 1;
      if (bad === 2) { lr *= 0.5; bad = 0; }
    }
    assert.deepEqual(r.epochs.map((e) => e.lr), expected);
    const firstDecay = expected.findIndex((x) => x < 5e-2);
    assert.ok(firstDecay > 0 && firstDecay < expected.length - 1, `a decay inside the run (lr by epoch ${expected.join(', ')})`);

    // Interrupted in the epoch after the first decay, then resumed: the same epochs, rates and weights.
    const dir = tmp();
    const first = createRecommender('gru4rec', GRU);
    const ac = new AbortController();
    let epochsSeen = 0;
    const r1 = await first.fit(data, {
      ...opts(dir),
      onEpoch: () => { epochsSeen++; },
      onBatch: (done) => { if (epochsSeen === firstDecay && done === 2) ac.abort(); },
      signal: ac.signal,
    });
    assert.equal(r1.interrupted, true);
    first.dispose();
    const second = createRecommender('gru4rec', GRU);
    const r2 = await second.fit(data, { ...opts(dir), resume: true });
    assert.deepEqual(r2.epochs.map((e) => [e.loss, e.lr, e.valid]), r.epochs.map((e) => [e.loss, e.lr, e.valid]));
    assert.deepEqual(second.scoreAll(firstUsers), ref.scoreAll(firstUsers), 'same final weights');
    // Without lrDecay the checkpoint is another run's.
    const plain = createRecommender('gru4rec', GRU);
    await assert.rejects(plain.fit(data, { ...opts(dir), lrDecay: undefined, lrDecayPatience: undefined, resume: true }), /cannot resume .*different run/);
    for (const m of [ref, second, plain]) m.dispose();
  });

  it('lrDecay options are checked by name', async () => {
    const m = createRecommender('bprmf', { d: 8 });
    await assert.rejects(m.fit(data, { ...BASE_FIT, lrDecay: 1 }), /lrDecay must be in \(0, 1\), got 1/);
    await assert.rejects(m.fit(data, { ...BASE_FIT, lrDecay: 0.5, lrDecayPatience: 0 }), /lrDecayPatience must be an integer >= 1, got 0/);
    await assert.rejects(m.fit(data, { ...BASE_FIT, lrDecayPatience: 2 }), /lrDecayPatience is set but lrDecay is not/);
    m.dispose();
  });

  it('no tensor leak across epochs; dispose frees the parameters', async () => {
    const n0 = tf.memory().numTensors;
    for (const name of ['sasrec', 'gru4rec', 'bprmf']) {
      const counts: number[] = [];
      const m = createRecommender(name, { d: 8 });
      await m.fit(data, { ...BASE_FIT, epochs: 3, onEpoch: () => counts.push(tf.memory().numTensors) });
      assert.equal(counts[2], counts[1], `${name}: tensors after epoch 2 vs 1: ${counts}`);
      m.dispose();
      assert.equal(tf.memory().numTensors, n0, `${name}: tensors after dispose`);
    }
  });
});

describe('failed fit', () => {
  it('a fit that throws leaves the model unfitted (no silent scoring with half-trained weights)', async () => {
    const m = createRecommender('sasrec', { d: 8, blocks: 1 });
    await assert.rejects(m.fit(data, { ...BASE_FIT, validProtocol: 'sampled', validMetric: 'hr@42x' }), /validMetric/);
    assert.throws(() => m.scoreAll(firstUsers), /model not fitted/);
    m.dispose();
  });
});
