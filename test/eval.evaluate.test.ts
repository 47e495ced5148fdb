/**
 * The evaluator (src/eval/evaluate.ts) with tiny fake Recommenders written
 * here (oracle, constant scorer, anti-oracle, history lovers, seeded random)
 * on a hand-built SplitDataset: sampled and full protocols, pessimistic ties,
 * history exclusion that never excludes the target (repeat purchases), the
 * validation target excluded on test only, padding never a candidate, batch-size
 * independence, the random ranker against its closed-form expectations, and
 * the speed of full ranking at 12,000 items x 22,000 users.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { EvalSplit, SplitDataset } from '../src/data/types.js';
import { DEFAULT_PROTOCOL } from '../src/data/types.js';
import type { FitReport, Recommender, UserBatch } from '../src/models/types.js';
import { evaluateAll, evaluatePerUser, evaluatePerUserInterruptible, evaluateRecommender, evaluateRecommenderInterruptible, randomRankerExpectation, sliceSplit } from '../src/eval/evaluate.js';
import { metricsOfPerUser, perUserMetric } from '../src/eval/metrics.js';
import { metricsTable, assertBaselinesPresent } from '../src/eval/report.js';
import { Rng } from '../src/nn/rng.js';

function close(actual: number, expected: number, tol = 1e-12, msg?: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg ?? ''} expected ${expected}, got ${actual}`);
}

// ---------------------------------------------------------------------------
// A hand-built dataset. 8 items, 3 users, L = 4, 3 negatives per row.
//   user 0: 1 2 3 | valid 4 | test 5
//   user 1: 2 6 2 | valid 7 | test 2   (test target repeats a train item)
//   user 2: 8 1 3 | valid 6 | test 3   (test target repeats a train item)

function evalSplit(L: number, rows: { user: number; history: number[]; target: number; negatives: number[] }[], numNegatives: number): EvalSplit {
  const count = rows.length;
  const history = new Int32Array(count * L);
  const negatives = new Int32Array(count * numNegatives);
  rows.forEach((r, i) => {
    const h = r.history.slice(-L);
    history.set(h, i * L + (L - h.length));
    negatives.set(r.negatives, i * numNegatives);
  });
  return {
    count,
    L,
    user: Int32Array.from(rows.map((r) => r.user)),
    history,
    target: Int32Array.from(rows.map((r) => r.target)),
    negatives,
    numNegatives,
  };
}

function dataset(numItems: number, trainSeqs: number[][], valid: EvalSplit, test: EvalSplit): SplitDataset {
  const numUsers = trainSeqs.length;
  const sequences = trainSeqs.map((t, u) => Int32Array.from([...t, valid.target[u], test.target[u]]));
  return {
    name: 'tiny',
    config: { ...DEFAULT_PROTOCOL, maxHistory: valid.L, numNegatives: valid.numNegatives },
    numUsers,
    numItems,
    itemIds: ['[PAD]', ...Array.from({ length: numItems }, (_, i) => `i${i + 1}`)],
    userIds: Array.from({ length: numUsers }, (_, u) => `u${u}`),
    itemMeta: new Map(),
    sequences,
    trainSeqs: trainSeqs.map((t) => Int32Array.from(t)),
    train: { count: 0, L: valid.L, user: new Int32Array(0), history: new Int32Array(0), target: new Int32Array(0) },
    valid,
    test,
  };
}

const L = 4;
const TRAIN = [
  [1, 2, 3],
  [2, 6, 2],
  [8, 1, 3],
];
const VALID = evalSplit(
  L,
  [
    { user: 0, history: [1, 2, 3], target: 4, negatives: [6, 7, 8] },
    { user: 1, history: [2, 6, 2], target: 7, negatives: [1, 3, 4] },
    { user: 2, history: [8, 1, 3], target: 6, negatives: [2, 4, 5] },
  ],
  3,
);
const TEST = evalSplit(
  L,
  [
    { user: 0, history: [1, 2, 3, 4], target: 5, negatives: [6, 7, 8] },
    { user: 1, history: [2, 6, 2, 7], target: 2, negatives: [5, 8, 1] },
    { user: 2, history: [8, 1, 3, 6], target: 3, negatives: [7, 2, 4] },
  ],
  3,
);
const DATA = dataset(8, TRAIN, VALID, TEST);

// ---------------------------------------------------------------------------
// Fake recommenders: score(user, item) drives both scoreCandidates and scoreAll.

class FakeModel implements Recommender {
  readonly config: Record<string, unknown> = {};
  calls = 0;
  constructor(
    readonly name: string,
    private readonly numItems: number,
    private readonly score: (user: number, item: number) => number,
    private readonly paddingScore = -Infinity,
  ) {}
  fit(): Promise<FitReport> {
    return Promise.reject(new Error('fake model: not trainable'));
  }
  scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array {
    this.calls++;
    assert.equal(candidates.length, batch.size * C);
    assert.equal(batch.history.length, batch.size * batch.L);
    const out = new Float32Array(batch.size * C);
    for (let b = 0; b < batch.size; b++) {
      for (let c = 0; c < C; c++) out[b * C + c] = this.score(batch.user[b], candidates[b * C + c]);
    }
    return out;
  }
  scoreAll(batch: UserBatch): Float32Array {
    this.calls++;
    const W = this.numItems + 1;
    const out = new Float32Array(batch.size * W);
    for (let b = 0; b < batch.size; b++) {
      out[b * W] = this.paddingScore;
      for (let i = 1; i < W; i++) out[b * W + i] = this.score(batch.user[b], i);
    }
    return out;
  }
  userEmbedding(): Float32Array | null {
    return null;
  }
  itemEmbeddings(): { dim: number; data: Float32Array } | null {
    return null;
  }
  save(): Promise<void> {
    return Promise.resolve();
  }
  dispose(): void {}
}

/** user -> target of a split. */
function targetsOf(split: EvalSplit, numUsers: number): Int32Array {
  const t = new Int32Array(numUsers);
  for (let r = 0; r < split.count; r++) t[split.user[r]] = split.target[r];
  return t;
}

const oracle = (s: EvalSplit, pad = -Infinity): FakeModel => {
  const t = targetsOf(s, DATA.numUsers);
  return new FakeModel('oracle', DATA.numItems, (u, i) => (i === t[u] ? 1 : 0), pad);
};
const antiOracle = (s: EvalSplit): FakeModel => {
  const t = targetsOf(s, DATA.numUsers);
  return new FakeModel('anti-oracle', DATA.numItems, (u, i) => (i === t[u] ? -1 : 0));
};
const constant = new FakeModel('constant', DATA.numItems, () => 0.25);

const KS = [1, 3, 4, 5, 10];

describe('sampled protocol (C = 4)', () => {
  it('sliceSplit gives views of the rows', () => {
    const b = sliceSplit(TEST, 1, 3);
    assert.equal(b.size, 2);
    assert.equal(b.L, L);
    assert.deepEqual(Array.from(b.user), [1, 2]);
    assert.deepEqual(Array.from(b.history), [2, 6, 2, 7, 8, 1, 3, 6]);
  });

  it('the oracle gets HR@1 = NDCG = MRR = AUC = 1', () => {
    for (const split of ['valid', 'test'] as const) {
      const m = evaluateRecommender(oracle(DATA[split]), DATA, split, { protocol: 'sampled', ks: KS });
      assert.equal(m.count, 3);
      for (const k of KS) {
        close(m[`hr@${k}`], 1);
        close(m[`ndcg@${k}`], 1);
        close(m[`mrr@${k}`], 1);
      }
      close(m.auc, 1);
    }
  });

  it('a constant scorer gets the worst rank C = 4 (pessimistic ties) and AUC 0.5', () => {
    const m = evaluateRecommender(constant, DATA, 'test', { protocol: 'sampled', ks: KS });
    close(m['hr@1'], 0);
    close(m['hr@3'], 0);
    close(m['hr@4'], 1);
    close(m['ndcg@3'], 0);
    close(m['ndcg@4'], 1 / Math.log2(5));
    close(m['mrr@4'], 1 / 4);
    close(m.auc, 0.5);
  });

  it('the anti-oracle gets rank C: HR@k = 0 for k < C, AUC 0', () => {
    const m = evaluateRecommender(antiOracle(TEST), DATA, 'test', { protocol: 'sampled', ks: KS });
    close(m['hr@1'], 0);
    close(m['hr@3'], 0);
    close(m['mrr@3'], 0);
    close(m['hr@4'], 1);
    close(m.auc, 0);
  });

  it('mixed ranks by hand: ranks 1, 2 (beaten by one negative), 3 (one tie + one above)', () => {
    // user 0 target 5: highest. user 1 target 2 vs negatives 5, 8, 1: item 8 above.
    // user 2 target 3 vs negatives 7, 2, 4: item 7 above, item 2 tied.
    const sc: Record<number, Record<number, number>> = {
      0: { 5: 9 },
      1: { 2: 5, 8: 6 },
      2: { 3: 5, 7: 6, 2: 5 },
    };
    const m = evaluateRecommender(new FakeModel('hand', 8, (u, i) => sc[u][i] ?? 0), DATA, 'test', { protocol: 'sampled', ks: [1, 2, 3] });
    close(m['hr@1'], 1 / 3);
    close(m['hr@2'], 2 / 3);
    close(m['hr@3'], 1);
    close(m['ndcg@3'], (1 + 1 / Math.log2(3) + 0.5) / 3);
    close(m['mrr@3'], (1 + 1 / 2 + 1 / 3) / 3);
    close(m.auc, (1 + 2 / 3 + (1 + 0.5) / 3) / 3);
    // Kept per user (the paired tests' input): the same ranks and AUCs, user by user, in the split's order.
    const p = evaluatePerUser(new FakeModel('hand', 8, (u, i) => sc[u][i] ?? 0), DATA, 'test', { protocol: 'sampled', ks: [1, 2, 3] });
    assert.deepEqual(p.users, [0, 1, 2]);
    assert.deepEqual(p.rank, [1, 2, 3]);
    assert.deepEqual(p.auc, [1, 2 / 3, 1.5 / 3]);
    assert.deepEqual(perUserMetric(p, 'hr@2'), [1, 1, 0]);
    assert.deepEqual(perUserMetric(p, 'ndcg@3'), [1, 1 / Math.log2(3), 0.5]);
    assert.deepEqual(perUserMetric(p, 'mrr@1'), [1, 0, 0]);
    for (const k of ['auc', 'hr@1', 'hr@2', 'ndcg@3', 'mrr@3']) close(perUserMetric(p, k).reduce((a, b) => a + b, 0) / 3, m[k]);
    const { count: _count, ...means } = m;
    assert.deepEqual(metricsOfPerUser(p, [1, 2, 3]), means);
    assert.throws(() => metricsOfPerUser({ rank: [1], auc: [] }, [1]), /1 ranks but 0 AUC/);
    assert.throws(() => perUserMetric(p, 'recall@3'), /unknown metric 'recall@3'/);
    assert.throws(() => perUserMetric(p, 'hr@0'), /cut-off/);
  });

  it('needs stored negatives; rejects wrong score shapes and bad options', () => {
    const noNeg = { ...DATA, test: { ...TEST, negatives: new Int32Array(0), numNegatives: 0 } };
    assert.throws(() => evaluateRecommender(constant, noNeg, 'test', { protocol: 'sampled', ks: [1] }), /negatives/);
    const bad = new FakeModel('bad', 8, () => 0);
    bad.scoreCandidates = () => new Float32Array(1);
    assert.throws(() => evaluateRecommender(bad, DATA, 'test', { protocol: 'sampled', ks: [1] }), /scoreCandidates returned 1/);
    assert.throws(() => evaluateRecommender(constant, DATA, 'test', { protocol: 'sampled', ks: [0] }), /cut-off/);
    assert.throws(() => evaluateRecommender(constant, DATA, 'test', { protocol: 'sampled', ks: [1], batchSize: 0 }), /batchSize/);
  });
});

describe('full protocol (8 items, history excluded)', () => {
  it('the oracle gets HR@1 = 1, even if it (wrongly) scores padding highest', () => {
    for (const split of ['valid', 'test'] as const) {
      const m = evaluateRecommender(oracle(DATA[split], Infinity), DATA, split, { protocol: 'full', ks: KS });
      close(m['hr@1'], 1);
      close(m.auc, 1);
    }
  });

  it('constant scorer: rank = number of remaining candidates (valid excludes the train part)', () => {
    // valid: u0 1..8 minus {1,2,3} -> 5; u1 minus {2,6} -> 6; u2 minus {8,1,3} -> 5
    const m = evaluateRecommender(constant, DATA, 'valid', { protocol: 'full', ks: KS });
    close(m['hr@4'], 0);
    close(m['hr@5'], 2 / 3);
    close(m['hr@10'], 1);
    close(m['mrr@10'], (1 / 5 + 1 / 6 + 1 / 5) / 3);
    close(m['ndcg@10'], (2 / Math.log2(6) + 1 / Math.log2(7)) / 3);
    close(m.auc, 0.5);
    const p = evaluatePerUser(constant, DATA, 'valid', { protocol: 'full', ks: KS });
    assert.deepEqual(p.rank, [5, 6, 5]);
    assert.deepEqual(p.auc, [0.5, 0.5, 0.5]);
  });

  it('constant scorer on test: train part + validation target excluded, the repeated target kept', () => {
    // u0: minus {1,2,3,4} -> 4 candidates; u1: minus {6,7}, target 2 kept -> 6; u2: minus {8,1,6}, target 3 kept -> 5
    const m = evaluateRecommender(constant, DATA, 'test', { protocol: 'full', ks: KS });
    close(m['hr@4'], 1 / 3);
    close(m['hr@5'], 2 / 3);
    close(m['mrr@10'], (1 / 4 + 1 / 6 + 1 / 5) / 3);
  });

  it('a history lover ranks the target first once the history is excluded (target never excluded)', () => {
    // known items (train part + validation target) score 2, the test target 1 (2 when it is a repeat), others 0
    const known = DATA.sequences.map((s) => new Set(Array.from(s.subarray(0, s.length - 1))));
    const tt = targetsOf(TEST, 3);
    const lover = new FakeModel('history-lover', 8, (u, i) => (known[u].has(i) ? 2 : i === tt[u] ? 1 : 0));
    const m = evaluateRecommender(lover, DATA, 'test', { protocol: 'full', ks: [1, 3] });
    close(m['hr@1'], 1, 1e-12, 'the repeated targets of users 1 and 2 stay candidates');
    close(m.auc, 1);
    // sampled protocol is not affected by histories: the negatives are never-seen items
    const s = evaluateRecommender(lover, DATA, 'test', { protocol: 'sampled', ks: [1] });
    close(s['hr@1'], 1);
  });

  it('valid does not exclude the test target; test excludes the validation target', () => {
    const vt = targetsOf(VALID, 3);
    const tt = targetsOf(TEST, 3);
    // scores: test target 3, validation target 2, rest 0
    const leak = new FakeModel('leak', 8, (u, i) => (i === tt[u] ? 3 : i === vt[u] ? 2 : 0));
    const v = evaluateRecommender(leak, DATA, 'valid', { protocol: 'full', ks: [1, 2] });
    // u0: test target 5 is a candidate on valid -> rank 2; u1, u2: test target is a train item -> excluded -> rank 1
    close(v['hr@1'], 2 / 3);
    close(v['hr@2'], 1);
    // the opposite: validation target scored above the test target is excluded on test
    const leak2 = new FakeModel('leak2', 8, (u, i) => (i === vt[u] ? 3 : i === tt[u] ? 2 : 0));
    const t = evaluateRecommender(leak2, DATA, 'test', { protocol: 'full', ks: [1] });
    close(t['hr@1'], 1);
  });

  it('the anti-oracle is last; NaN scores are pessimistic', () => {
    const m = evaluateRecommender(antiOracle(VALID), DATA, 'valid', { protocol: 'full', ks: [4] });
    close(m['hr@4'], 0);
    close(m.auc, 0);
    const nan = new FakeModel('nan', 8, () => NaN);
    const n = evaluateRecommender(nan, DATA, 'valid', { protocol: 'full', ks: [5, 6] });
    close(n['hr@5'], 2 / 3);
    close(n['hr@6'], 1);
    close(n.auc, 0);
    assert.ok(Object.values(n).every((x) => !Number.isNaN(x)));
  });

  it('rejects a scoreAll of the wrong width', () => {
    const bad = new FakeModel('bad', 7, () => 0);
    assert.throws(() => evaluateRecommender(bad, DATA, 'valid', { protocol: 'full', ks: [1] }), /scoreAll returned/);
  });
});

describe('batches, determinism, evaluateAll and report', () => {
  it('results do not depend on the batch size and are deterministic', () => {
    const sc = (u: number, i: number): number => Math.sin(u * 31 + i * 7);
    for (const protocol of ['sampled', 'full'] as const) {
      const ref = evaluateRecommender(new FakeModel('sin', 8, sc), DATA, 'test', { protocol, ks: KS, batchSize: 256 });
      for (const batchSize of [1, 2, 3]) {
        const model = new FakeModel('sin', 8, sc);
        assert.deepEqual(evaluateRecommender(model, DATA, 'test', { protocol, ks: KS, batchSize }), ref);
        assert.equal(model.calls, Math.ceil(3 / batchSize));
      }
    }
  });

  it('the interruptible evaluations give the same numbers, and null within one batch once aborted', async () => {
    const sc = (u: number, i: number): number => Math.sin(u * 31 + i * 7);
    for (const protocol of ['sampled', 'full'] as const) {
      for (const split of ['valid', 'test'] as const) {
        const ref = evaluateRecommender(new FakeModel('sin', 8, sc), DATA, split, { protocol, ks: KS, batchSize: 1 });
        assert.deepEqual(await evaluateRecommenderInterruptible(new FakeModel('sin', 8, sc), DATA, split, { protocol, ks: KS, batchSize: 1 }), ref);
        assert.deepEqual(await evaluateRecommenderInterruptible(new FakeModel('sin', 8, sc), DATA, split, { protocol, ks: KS, batchSize: 1 }, new AbortController().signal), ref);
        const perUser = evaluatePerUser(new FakeModel('sin', 8, sc), DATA, split, { protocol, ks: KS, batchSize: 1 });
        assert.deepEqual(await evaluatePerUserInterruptible(new FakeModel('sin', 8, sc), DATA, split, { protocol, ks: KS, batchSize: 1 }, new AbortController().signal), perUser);
      }
      // Aborted while the first of three batches is scored: no second batch is scored.
      const ac = new AbortController();
      const model = new FakeModel('sin', 8, (u, i) => { ac.abort(); return sc(u, i); });
      assert.equal(await evaluateRecommenderInterruptible(model, DATA, 'test', { protocol, ks: KS, batchSize: 1 }, ac.signal), null);
      assert.equal(model.calls, 1);
      const perModel = new FakeModel('sin', 8, (u, i) => { ac.abort(); return sc(u, i); });
      assert.equal(await evaluatePerUserInterruptible(perModel, DATA, 'test', { protocol, ks: KS, batchSize: 1 }, ac.signal), null);
      assert.equal(perModel.calls, 0, 'already aborted');
      // Already aborted: nothing is scored.
      const idle = new FakeModel('sin', 8, sc);
      assert.equal(await evaluateRecommenderInterruptible(idle, DATA, 'test', { protocol, ks: KS }, ac.signal), null);
      assert.equal(idle.calls, 0);
    }
    // Bad options are refused as by evaluateRecommender.
    await assert.rejects(evaluateRecommenderInterruptible(new FakeModel('sin', 8, sc), DATA, 'test', { protocol: 'sampled', ks: [0] }), /cut-off/);
  });

  it('evaluateAll returns one row per model, rendered by the report', () => {
    const rows = evaluateAll(
      [new FakeModel('random', 8, (u, i) => ((u * 5 + i * 3) % 7) / 7), new FakeModel('pop', 8, (_u, i) => i), oracle(TEST)],
      DATA,
      'test',
      { protocol: 'sampled', ks: [1, 3] },
    );
    assert.deepEqual(
      rows.map((r) => r.model),
      ['random', 'pop', 'oracle'],
    );
    assertBaselinesPresent(rows);
    const t = metricsTable(rows, ['hr@1', 'ndcg@3', 'auc']);
    assert.match(t, /\| oracle \| 1\.0000 \| 1\.0000 \| 1\.0000 \|/);
  });
});

describe('random ranker vs closed form', () => {
  it('sampled, C = 10, 20,000 users: HR, NDCG, MRR, AUC within tolerance of the expectation', () => {
    const users = 20000;
    const numItems = 50;
    const neg = 9;
    const rng = new Rng(7);
    const rows = [];
    const train: number[][] = [];
    for (let u = 0; u < users; u++) {
      train.push([1, 2]);
      const negatives = [];
      for (let j = 0; j < neg; j++) negatives.push(4 + ((u + j) % (numItems - 3)));
      rows.push({ user: u, history: [1, 2], target: 3, negatives });
    }
    const split = evalSplit(2, rows, neg);
    const data = dataset(numItems, train, split, split);
    const random = new FakeModel('random', numItems, () => rng.next());
    const ks = [1, 3, 5, 10];
    const m = evaluateRecommender(random, data, 'test', { protocol: 'sampled', ks });
    const e = randomRankerExpectation(neg + 1, ks);
    for (const key of Object.keys(e)) close(m[key], e[key], 0.01, key);
    assert.equal(m.count, users);
  });
});

describe('speed', () => {
  it('full ranking of 12,000 items x 22,000 users takes seconds given the scores', (t) => {
    const numItems = 12000;
    const users = 22000;
    const W = numItems + 1;
    const batchSize = 256;
    const rng = new Rng(3);
    const pool = new Float32Array((batchSize + 64) * W);
    for (let i = 0; i < pool.length; i++) pool[i] = rng.next();
    const train: number[][] = [];
    const rows = [];
    for (let u = 0; u < users; u++) {
      const t = [];
      for (let j = 0; j < 10; j++) t.push(1 + ((u * 37 + j * 101) % numItems));
      train.push(t);
      rows.push({ user: u, history: t, target: 1 + ((u * 13 + 7) % numItems), negatives: [] as number[] });
    }
    const split = evalSplit(10, rows, 0);
    const data = dataset(numItems, train, split, split);
    let call = 0;
    const model = new FakeModel('pool', numItems, () => 0);
    model.scoreAll = (b: UserBatch): Float32Array => {
      const off = (call++ % 64) * W;
      return pool.subarray(off, off + b.size * W);
    };
    const t0 = performance.now();
    const m = evaluateRecommender(model, data, 'test', { protocol: 'full', ks: [10, 20], batchSize });
    const sec = (performance.now() - t0) / 1000;
    t.diagnostic(`full ranking 12,000 items x 22,000 users: ${sec.toFixed(2)} s`);
    assert.equal(m.count, users);
    close(m.auc, 0.5, 0.01);
    assert.ok(sec < 30, `took ${sec} s`);
  });
});
