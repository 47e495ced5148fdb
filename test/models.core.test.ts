/**
 * The collaborative-model framework on a tiny synthetic dataset with a
 * deterministic sequential pattern (item i is always followed by item i + 1
 * on the cycle 1..20; items 21..40 never occur, so Pop has a signal): every model fits in seconds, its loss goes down, it beats Random,
 * sequence models reach HR@1 ~ 1; score shapes and padding; save -> load gives
 * identical scores; seeded reproducibility; interrupt (AbortSignal) + resume
 * ends with the same weights as an uninterrupted run; best weights restored on
 * early stopping; no tensor leak across epochs; scoring before fit throws.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/engine/index.js';
import type { EvalSplit, SplitDataset, TrainSamples } from '../src/data/types.js';
import { evaluateRecommender } from '../src/eval/evaluate.js';
import type { FitOptions, FitReport, Recommender, UserBatch } from '../src/models/types.js';
import { createRecommender, loadRecommender, MODELS, modelNames } from '../src/models/registry.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { ready } from './helpers.js';

// ------------------------------------------------------------------ dataset

const NUM_USERS = 60;
const NUM_ITEMS = 40;
const L = 5;
const NEG = 9;
const CYCLE = 20;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function leftPadded(seq: Int32Array, end: number, out: Int32Array, offset: number): void {
  const start = Math.max(0, end - L);
  out.set(seq.subarray(start, end), offset + L - (end - start));
}

function evalSplit(sequences: Int32Array[], which: 'valid' | 'test', rand: () => number): EvalSplit {
  const U = sequences.length;
  const user = new Int32Array(U);
  const history = new Int32Array(U * L);
  const target = new Int32Array(U);
  const negatives = new Int32Array(U * NEG);
  for (let u = 0; u < U; u++) {
    const s = sequences[u];
    const t = which === 'valid' ? s.length - 2 : s.length - 1;
    user[u] = u;
    target[u] = s[t];
    leftPadded(s, t, history, u * L);
    const seen = new Set(s);
    const picked = new Set<number>();
    while (picked.size < NEG) {
      const x = 1 + Math.floor(rand() * NUM_ITEMS);
      if (!seen.has(x) && !picked.has(x)) picked.add(x);
    }
    negatives.set([...picked], u * NEG);
  }
  return { count: U, L, user, history, target, negatives, numNegatives: NEG };
}

/**
 * 60 users walking the cycle 1 -> 2 -> ... -> 20 -> 1 from start (u % 20) + 1
 * for 8..12 items: every transition occurs in training, items 21..40 never
 * occur (so popularity has a signal against sampled negatives).
 */
function patternData(): SplitDataset {
  const sequences: Int32Array[] = [];
  for (let u = 0; u < NUM_USERS; u++) {
    const start = u % CYCLE;
    const n = 8 + ((u + Math.floor(u / CYCLE)) % 5);
    sequences.push(Int32Array.from({ length: n }, (_, j) => ((start + j) % CYCLE) + 1));
  }
  const trainSeqs = sequences.map((s) => s.slice(0, s.length - 2));
  let count = 0;
  for (const s of trainSeqs) count += s.length - 1;
  const train: TrainSamples = { count, L, user: new Int32Array(count), history: new Int32Array(count * L), target: new Int32Array(count) };
  let r = 0;
  trainSeqs.forEach((s, u) => {
    for (let j = 1; j < s.length; j++, r++) {
      train.user[r] = u;
      train.target[r] = s[j];
      leftPadded(s, j, train.history, r * L);
    }
  });
  const rand = lcg(7);
  const itemIds = ['[PAD]', ...Array.from({ length: NUM_ITEMS }, (_, i) => `i${i + 1}`)];
  return {
    name: 'pattern', config: { ratingThreshold: null, kCore: 0, maxHistory: L, numNegatives: NEG, seed: 7 },
    numUsers: NUM_USERS, numItems: NUM_ITEMS, itemIds, userIds: sequences.map((_, u) => `u${u}`), itemMeta: new Map(),
    sequences, trainSeqs, train, valid: evalSplit(sequences, 'valid', rand), test: evalSplit(sequences, 'test', rand),
  };
}

const data = patternData();
const firstUsers: UserBatch = { size: 4, L, user: data.test.user.subarray(0, 4), history: data.test.history.subarray(0, 4 * L) };

// -------------------------------------------------------------- model setups

interface Setup {
  label: string;
  name: string;
  config: Record<string, unknown>;
  fit: Partial<FitOptions>;
  neural: boolean;
  /** The test metric (sampled protocol, 1 + 9 candidates) that must reach `min` and beat Random by 0.2. */
  metric: 'hr@1' | 'auc';
  min: number;
  /** Minimum test HR@1 over the full ranking (sequence models). */
  minFullHr1?: number;
}

const BASE_FIT: FitOptions = { epochs: 1, batchSize: 64, lr: 5e-3, patience: 100, validMetric: 'ndcg@10', validProtocol: 'full', seed: 11 };

const SETUPS: Setup[] = [
  { label: 'random', name: 'random', config: {}, fit: {}, neural: false, metric: 'auc', min: 0 },
  { label: 'pop', name: 'pop', config: {}, fit: {}, neural: false, metric: 'auc', min: 0.7 },
  { label: 'bprmf', name: 'bprmf', config: { d: 16 }, fit: { epochs: 25, lr: 1e-2 }, neural: true, metric: 'hr@1', min: 0.4 },
  { label: 'sasrec (ce)', name: 'sasrec', config: { d: 32, blocks: 2, dropout: 0.1 }, fit: { epochs: 20 }, neural: true, metric: 'hr@1', min: 0.95, minFullHr1: 0.95 },
  { label: 'sasrec (bce, 2 heads)', name: 'sasrec', config: { d: 32, blocks: 1, heads: 2, loss: 'bce', numNegatives: 4, dropout: 0.1 }, fit: { epochs: 25 }, neural: true, metric: 'hr@1', min: 0.95, minFullHr1: 0.95 },
  { label: 'gru4rec (ce)', name: 'gru4rec', config: { d: 32, dropout: 0.1 }, fit: { epochs: 20 }, neural: true, metric: 'hr@1', min: 0.95, minFullHr1: 0.95 },
  { label: 'gru4rec (bce, hidden 24)', name: 'gru4rec', config: { d: 32, hidden: 24, loss: 'bce', numNegatives: 4, dropout: 0.1 }, fit: { epochs: 30 }, neural: true, metric: 'hr@1', min: 0.95, minFullHr1: 0.95 },
];

function fitOpts(s: Setup, extra: Partial<FitOptions> = {}): FitOptions {
  return { ...BASE_FIT, ...s.fit, ...extra };
}

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'llmrec-models-'));
  tmpDirs.push(d);
  return d;
}

before(async () => {
  await ready();
});

after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function testMetric(model: Recommender, protocol: 'sampled' | 'full', metric: string): number {
  const v = evaluateRecommender(model, data, 'test', { protocol, ks: [1, 5] })[metric];
  assert.equal(typeof v, 'number', `metric ${metric}`);
  return v;
}

// -------------------------------------------------------------------- tests

describe('registry', () => {
  it('lists the models with JSON-round-tripping defaults', () => {
    for (const n of ['random', 'pop', 'bprmf', 'sasrec', 'gru4rec', 'caser', 'bert4rec', 'din']) assert.ok(modelNames().includes(n), n);
    for (const name of modelNames()) {
      const e = MODELS[name];
      assert.deepEqual(JSON.parse(JSON.stringify(e.defaults)), e.defaults, name);
      const m = createRecommender(name);
      assert.equal(m.name, name);
      assert.deepEqual(JSON.parse(JSON.stringify(m.config)), e.defaults, `${name}: config equals defaults`);
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
  const fitted = new Map<string, { model: Recommender; report: FitReport }>();

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
    const h = testMetric(a, 'sampled', 'hr@1');
    assert.ok(h < 0.3, `random HR@1 ${h} (chance 0.1)`);
    const auc = testMetric(a, 'sampled', 'auc');
    assert.ok(auc > 0.3 && auc < 0.7, `random AUC ${auc} (chance 0.5)`);
    fitted.set('random', { model: a, report: await b.fit(data, BASE_FIT) });
    b.dispose();
    c.dispose();
  });

  for (const s of SETUPS.filter((x) => x.name !== 'random')) {
    it(`${s.label}: fits, loss decreases, beats random`, async () => {
      const model = createRecommender(s.name, s.config);
      const t0 = performance.now();
      const report = await model.fit(data, fitOpts(s));
      const secs = (performance.now() - t0) / 1000;
      fitted.set(s.label, { model, report });
      assert.ok(secs < 30, `${s.label}: fit took ${secs.toFixed(1)} s`);
      assert.equal(report.interrupted, false);
      assert.ok(report.epochs.length >= 1);
      if (s.neural) {
        const losses = report.epochs.map((e) => e.loss);
        assert.ok(losses.every(Number.isFinite), `${s.label}: losses ${losses}`);
        assert.ok(losses[losses.length - 1] < 0.5 * losses[0], `${s.label}: loss ${losses[0].toFixed(4)} -> ${losses[losses.length - 1].toFixed(4)}`);
        assert.ok(report.secondsPerEpoch > 0);
      }
      const random = fitted.get('random')!.model;
      const h = testMetric(model, 'sampled', s.metric);
      const hRandom = testMetric(random, 'sampled', s.metric);
      assert.ok(h >= s.min && h > hRandom + 0.2, `${s.label}: test ${s.metric} ${h} vs random ${hRandom} (need >= ${s.min})`);
      if (s.minFullHr1 !== undefined) {
        const hf = testMetric(model, 'full', 'hr@1');
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
      const all = m.scoreAll(firstUsers);
      assert.equal(all.length, 4 * (NUM_ITEMS + 1), s.label);
      for (let b = 0; b < 4; b++) {
        assert.equal(all[b * (NUM_ITEMS + 1)], Number.NEGATIVE_INFINITY, `${s.label}: padding score`);
        for (let i = 1; i <= NUM_ITEMS; i++) assert.ok(Number.isFinite(all[b * (NUM_ITEMS + 1) + i]), `${s.label}: finite score`);
      }
      const cands = new Int32Array([3, 4, 5, 1, 2, 3, 7, 8, 9, 40, 39, 38]);
      const some = m.scoreCandidates(firstUsers, cands, 3);
      assert.equal(some.length, 12, s.label);
      for (let b = 0; b < 4; b++) {
        for (let c = 0; c < 3; c++) {
          const want = all[b * (NUM_ITEMS + 1) + cands[b * 3 + c]];
          assert.ok(Math.abs(some[b * 3 + c] - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${s.label}: candidate score = full score`);
        }
      }
      assert.throws(() => m.scoreCandidates(firstUsers, cands, 2), /expected/);
      const ue = m.userEmbedding(firstUsers);
      const ie = m.itemEmbeddings();
      if (s.neural) {
        assert.ok(ie && ie.data.length === (NUM_ITEMS + 1) * ie.dim, `${s.label}: item embeddings`);
        assert.ok(ue && ue.length === 4 * ie.dim, `${s.label}: user embedding`);
      } else {
        assert.equal(ue, null);
        assert.equal(ie, null);
      }
    }
  });

  it('save -> loadRecommender gives identical scores and config', async () => {
    for (const s of SETUPS) {
      const entry = fitted.get(s.label);
      if (!entry) continue;
      const dir = tmp();
      await entry.model.save(dir);
      const loaded = await loadRecommender(dir);
      try {
        assert.equal(loaded.name, entry.model.name);
        assert.deepEqual(loaded.config, entry.model.config, s.label);
        assert.deepEqual(loaded.scoreAll(firstUsers), entry.model.scoreAll(firstUsers), `${s.label}: scores after load`);
        if (s.neural) {
          const w = readSafetensors(join(dir, 'weights.safetensors'));
          assert.ok([...w.tensors.keys()].includes('item_emb.weight'), `${s.label}: HF-style names ${[...w.tensors.keys()]}`);
        }
      } finally {
        loaded.dispose();
      }
    }
    await assert.rejects(loadRecommender(tmp()), /cannot read model config/);
  });
});

describe('training loop', () => {
  const SAS = { d: 16, blocks: 1, dropout: 0.2 };

  it('same seed -> identical losses and weights; another seed differs', async () => {
    const run = async (seed: number) => {
      const m = createRecommender('sasrec', SAS);
      const r = await m.fit(data, { ...BASE_FIT, epochs: 3, seed });
      const scores = m.scoreAll(firstUsers);
      m.dispose();
      return { losses: r.epochs.map((e) => e.loss), scores };
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    assert.deepEqual(a.losses, b.losses);
    assert.deepEqual(a.scores, b.scores);
    assert.notDeepEqual(a.losses, c.losses);
  });

  it('interrupt (AbortSignal) mid-epoch + resume = the uninterrupted run', async () => {
    const opts = (dir: string): FitOptions => ({ ...BASE_FIT, epochs: 4, seed: 3, checkpointDir: dir });
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
    assert.equal(r2.interrupted, false);
    assert.deepEqual(r2.epochs.map((e) => e.loss), refReport.epochs.map((e) => e.loss), 'same epoch losses');
    assert.deepEqual(r2.epochs.map((e) => e.valid), refReport.epochs.map((e) => e.valid), 'same validation');
    assert.equal(r2.bestEpoch, refReport.bestEpoch);
    assert.deepEqual(second.scoreAll(firstUsers), ref.scoreAll(firstUsers), 'same final weights');
    // A third fit resuming from the finished checkpoint does no more training.
    const third = createRecommender('gru4rec', { d: 16, dropout: 0.2, loss: 'bce', numNegatives: 2 });
    const r3 = await third.fit(data, { ...opts(dir), resume: true });
    assert.equal(r3.epochs.length, refReport.epochs.length);
    assert.deepEqual(third.scoreAll(firstUsers), ref.scoreAll(firstUsers));
    // A checkpoint from another configuration is refused.
    const other = createRecommender('gru4rec', { d: 8, loss: 'bce', numNegatives: 2 });
    await assert.rejects(other.fit(data, { ...opts(dir), resume: true }), /cannot resume .*different run/);
    for (const m of [ref, second, third, other]) m.dispose();
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
