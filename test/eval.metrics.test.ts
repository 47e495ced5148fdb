/**
 * Every metric of src/eval/metrics.ts (and the report helpers) against values
 * computed by hand and written out in the test: pessimistic ranks and AUC,
 * HR/NDCG/MRR, the random-ranker closed forms, RMSE/MAE, BLEU (corpus and
 * sentence, brevity penalty, smoothing), ROUGE-1/2/L, coverage, intra-list
 * diversity, and the softmax distribution distances (cosine, KL, JS, TV).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MetricAccumulator,
  aucOne,
  corpusBleu,
  cosine,
  coverage,
  diversityDistance,
  hitAt,
  intraListDiversity,
  jsDivergence,
  klDivergence,
  lcsLength,
  mae,
  meanIntraListDiversity,
  mrrAt,
  ndcgAt,
  randomRankerExpectation,
  rankOfTarget,
  rmse,
  rouge,
  rougeL,
  rougeN,
  sentenceBleu,
  softmax,
  tvDistance,
} from '../src/eval/metrics.js';
import { assertBaselinesPresent, metricsTable } from '../src/eval/report.js';

const EPS = 1e-12;
function close(actual: number, expected: number, tol = EPS, msg?: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg ?? ''} expected ${expected}, got ${actual}`);
}
const tok = (s: string): string[] => s.split(' ').filter((w) => w.length > 0);

describe('ranking metrics', () => {
  it('pessimistic rank, HR, NDCG, MRR and AUC on [0.9, 0.5, 0.5, 0.1], target 1', () => {
    const scores = [0.9, 0.5, 0.5, 0.1];
    const r = rankOfTarget(scores, 1);
    assert.equal(r, 3, 'the positive goes below the tied 0.5 and below 0.9');
    assert.equal(hitAt(r, 1), 0);
    assert.equal(hitAt(r, 2), 0);
    assert.equal(hitAt(r, 3), 1);
    close(ndcgAt(r, 3), 0.5); // 1 / log2(4)
    assert.equal(ndcgAt(r, 2), 0);
    close(mrrAt(r, 3), 1 / 3);
    assert.equal(mrrAt(r, 2), 0);
    close(aucOne(scores, 1), (1 + 0.5) / 3);
    close(aucOne(scores, 1), 0.5);
  });

  it('other targets of the same list', () => {
    const scores = [0.9, 0.5, 0.5, 0.1];
    assert.equal(rankOfTarget(scores, 0), 1);
    assert.equal(rankOfTarget(scores, 2), 3);
    assert.equal(rankOfTarget(scores, 3), 4);
    close(aucOne(scores, 0), 1);
    close(aucOne(scores, 3), 0);
    close(ndcgAt(1, 1), 1);
    close(ndcgAt(2, 5), 1 / Math.log2(3));
  });

  it('a constant scorer gets the worst rank C and AUC 0.5', () => {
    for (const C of [2, 10, 101]) {
      const scores = new Float32Array(C).fill(0.3);
      for (const t of [0, C - 1]) {
        assert.equal(rankOfTarget(scores, t), C);
        close(aucOne(scores, t), 0.5);
      }
    }
  });

  it('NaN scores are pessimistic and never give a NaN rank', () => {
    assert.equal(rankOfTarget([NaN, 1, 2, 3], 0), 4, 'NaN target: worst rank');
    close(aucOne([NaN, 1, 2, 3], 0), 0);
    assert.equal(rankOfTarget([5, NaN, 1, 2], 0), 2, 'a NaN other counts above the target');
    close(aucOne([5, NaN, 1, 2], 0), 2 / 3);
    assert.equal(rankOfTarget([NaN, NaN, NaN], 1), 3);
    close(aucOne([NaN, NaN, NaN], 1), 0);
    assert.equal(rankOfTarget([-Infinity, -Infinity, 0], 0), 3);
    close(aucOne([-Infinity, -Infinity, 0], 0), 0.25);
  });

  it('rejects a target index outside the list; AUC without negatives is NaN', () => {
    assert.throws(() => rankOfTarget([1, 2], 2), RangeError);
    assert.throws(() => rankOfTarget([1, 2], -1), RangeError);
    assert.equal(rankOfTarget([7], 0), 1);
    assert.ok(Number.isNaN(aucOne([7], 0)));
  });

  it('MetricAccumulator averages ranks into auc, hr@k, ndcg@k, mrr@k', () => {
    const acc = new MetricAccumulator([1, 3]);
    acc.add(1, 1);
    acc.add(3, 0.5);
    acc.add(5, 0);
    acc.add(2); // no AUC for this user
    acc.add(1, NaN); // user without negatives: out of the AUC mean only
    const m = acc.result();
    assert.equal(acc.count, 5);
    assert.equal(acc.aucCount, 3);
    assert.deepEqual(Object.keys(m).sort(), ['auc', 'hr@1', 'hr@3', 'mrr@1', 'mrr@3', 'ndcg@1', 'ndcg@3'].sort());
    close(m.auc, 0.5);
    close(m['hr@1'], 2 / 5);
    close(m['hr@3'], 4 / 5);
    close(m['ndcg@1'], 2 / 5);
    close(m['ndcg@3'], (1 + 0.5 + 1 / Math.log2(3) + 1) / 5);
    close(m['mrr@1'], 2 / 5);
    close(m['mrr@3'], (1 + 1 / 3 + 1 / 2 + 1) / 5);
    assert.throws(() => new MetricAccumulator([0]));
    assert.throws(() => new MetricAccumulator([]));
    assert.throws(() => acc.add(NaN));
    assert.throws(() => acc.add(0));
  });

  it('HR@k is monotone in k (the Transformers4Rec #700 bug cannot happen)', () => {
    const acc = new MetricAccumulator([1, 5, 10]);
    for (let r = 1; r <= 20; r++) acc.add(r, 0.5);
    const m = acc.result();
    assert.ok(m['hr@1'] <= m['hr@5'] && m['hr@5'] <= m['hr@10']);
    close(m['hr@5'], 5 / 20);
  });

  it('random-ranker expectations (C = 10): closed forms', () => {
    const e = randomRankerExpectation(10, [1, 3, 20]);
    close(e.auc, 0.5);
    close(e['hr@1'], 0.1);
    close(e['hr@3'], 0.3);
    close(e['hr@20'], 1);
    close(e['ndcg@1'], 0.1);
    close(e['ndcg@3'], (1 + 1 / Math.log2(3) + 0.5) / 10);
    close(e['mrr@3'], (1 + 1 / 2 + 1 / 3) / 10);
    // MRR@C = H_10 / 10
    close(e['mrr@20'], 7381 / 2520 / 10);
  });
});

describe('rating metrics', () => {
  it('RMSE and MAE', () => {
    // errors 1, -2, 0, 1: squared 1, 4, 0, 1 -> mean 1.5
    close(rmse([4, 1, 3, 5], [3, 3, 3, 4]), Math.sqrt(1.5));
    close(mae([4, 1, 3, 5], [3, 3, 3, 4]), 1);
    assert.throws(() => rmse([1], [1, 2]));
    assert.throws(() => mae([], []));
  });
});

describe('BLEU and ROUGE', () => {
  const cand = tok('the cat sat on the mat');
  const ref = tok('the cat is on the mat');

  it('sentence BLEU-2 without smoothing: sqrt(5/6 * 3/5), no brevity penalty', () => {
    // unigrams: the(2, clipped 2) cat on mat match, sat not -> 5/6
    // bigrams: "the cat", "on the", "the mat" of 5 -> 3/5
    close(sentenceBleu(cand, [ref], { maxN: 2, smoothing: 'none' }), Math.sqrt(0.5));
  });

  it('BLEU-4 is 0 without smoothing (no 4-gram matches) and (1/18)^(1/4) with add-one for n >= 2', () => {
    close(sentenceBleu(cand, [ref], { maxN: 4, smoothing: 'none' }), 0);
    // p1 = 5/6, p2 = (3+1)/(5+1), p3 = (1+1)/(4+1), p4 = (0+1)/(3+1) -> product 1/18
    close(sentenceBleu(cand, [ref]), Math.pow(1 / 18, 1 / 4));
    close(sentenceBleu(cand, [ref]), 0.48549177170732344, 1e-12);
  });

  it('brevity penalty exp(1 - r/c) and clipping', () => {
    // c = 2, r = 6, both precisions 1
    close(sentenceBleu(tok('the cat'), [ref], { maxN: 2, smoothing: 'none' }), Math.exp(1 - 6 / 2));
    // "the the the": unigram clipped to 2 of 3
    close(sentenceBleu(tok('the the the'), [tok('the cat the')], { maxN: 1 }), 2 / 3);
    // a perfect match is 1
    close(sentenceBleu(ref, [ref]), 1);
    assert.equal(sentenceBleu([], [ref]), 0);
  });

  it('multiple references: max clipping and closest reference length', () => {
    // refs of length 2 and 4 for a candidate of length 3: |2-3| = |4-3| -> the shorter (2): c > r, BP = 1
    close(sentenceBleu(tok('a b c'), [tok('a b'), tok('x c y z')], { maxN: 1 }), 1);
    // refs of length 5 and 4 for a candidate of length 3: closest 4 -> BP = exp(1 - 4/3)
    close(sentenceBleu(tok('a b c'), [tok('a b q q q'), tok('c x x x')], { maxN: 1 }), Math.exp(1 - 4 / 3));
  });

  it('corpus BLEU sums counts over sentences before the geometric mean', () => {
    const b = corpusBleu([cand, tok('the cat')], [[ref], [tok('the cat sat')]], { maxN: 2 });
    // unigrams (5 + 2) / (6 + 2), bigrams (3 + 1) / (5 + 1); c = 8, r = 6 + 3 = 9
    close(b, Math.exp(1 - 9 / 8) * Math.sqrt((7 / 8) * (4 / 6)));
    assert.throws(() => corpusBleu([cand], []));
  });

  it('ROUGE-1/2/L on the same pair', () => {
    const r = rouge(cand, ref);
    close(r.rouge1, 5 / 6);
    close(r.rouge2, 3 / 5);
    close(r.rougeL, 5 / 6); // LCS "the cat on the mat"
    assert.equal(lcsLength(cand, ref), 5);
  });

  it('ROUGE precision / recall / F1 with different lengths', () => {
    const c = tok('the cat');
    const rf = tok('the cat sat');
    const r1 = rougeN(c, rf, 1);
    close(r1.precision, 1);
    close(r1.recall, 2 / 3);
    close(r1.f1, 0.8);
    const r2 = rougeN(c, rf, 2);
    close(r2.precision, 1);
    close(r2.recall, 1 / 2);
    close(r2.f1, 2 / 3);
    // LCS of "a b c d" and "a c b d" is 3
    const rl = rougeL(tok('a b c d'), tok('a c b d'));
    close(rl.f1, 3 / 4);
    const none = rougeN(tok('a'), tok('b'), 2);
    assert.equal(none.f1, 0);
  });
});

describe('coverage and intra-list diversity', () => {
  it('coverage counts distinct catalogue items over all lists, ignoring padding', () => {
    close(coverage([[1, 2], [2, 3]], 10), 3 / 10);
    close(coverage([Int32Array.from([0, 4]), [4, 11]], 4), 1 / 4);
  });

  it('intra-list diversity: mean pairwise 1 - cosine', () => {
    // item 0 unused, item 1 = (1, 0), item 2 = (0, 1), item 3 = (1, 1)
    const v = Float32Array.from([0, 0, 1, 0, 0, 1, 1, 1]);
    close(intraListDiversity([1, 2], v, 2), 1);
    close(intraListDiversity([1, 2, 3], v, 2), (1 + 2 * (1 - Math.SQRT1_2)) / 3, 1e-7);
    close(intraListDiversity([1, 1], v, 2), 0, 1e-7);
    assert.equal(intraListDiversity([1], v, 2), 0);
    close(meanIntraListDiversity([[1, 2], [1, 1], [3]], v, 2), 0.5, 1e-7);
    assert.throws(() => intraListDiversity([1, 4], v, 2), RangeError);
  });
});

describe('distribution distances', () => {
  it('cosine', () => {
    close(cosine([1, 0], [1, 1]), Math.SQRT1_2);
    close(cosine([1, 2, 3], [2, 4, 6]), 1);
    close(cosine([1, 0], [-1, 0]), -1);
    assert.equal(cosine([0, 0], [1, 1]), 0);
    assert.throws(() => cosine([1], [1, 2]));
  });

  it('softmax is stable', () => {
    const p = softmax([1000, 1000 + Math.log(3)]);
    close(p[0], 0.25);
    close(p[1], 0.75);
  });

  // P = softmax([0, 0]) = (1/2, 1/2), Q = softmax([ln 3, 0]) = (3/4, 1/4), M = (5/8, 3/8)
  const a = [0, 0];
  const b = [Math.log(3), 0];

  it('KL(P || Q) by hand', () => {
    close(klDivergence(a, b), 0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25));
    close(klDivergence(b, a), 0.75 * Math.log(1.5) + 0.25 * Math.log(0.5));
    close(klDivergence(a, a), 0);
  });

  it('JS by hand, symmetric, bounded by ln 2', () => {
    const klPM = 0.5 * Math.log(0.5 / 0.625) + 0.5 * Math.log(0.5 / 0.375);
    const klQM = 0.75 * Math.log(0.75 / 0.625) + 0.25 * Math.log(0.25 / 0.375);
    close(jsDivergence(a, b), 0.5 * klPM + 0.5 * klQM);
    close(jsDivergence(a, b), jsDivergence(b, a));
    const far = jsDivergence([1000, 0], [0, 1000]);
    assert.ok(far <= Math.LN2 && far > Math.LN2 - 1e-9, `JS of disjoint distributions ~ ln 2, got ${far}`);
    close(jsDivergence([3, 1, 2], [3, 1, 2]), 0);
  });

  it('TV by hand', () => {
    close(tvDistance(a, b), 0.25);
    close(tvDistance([1000, 0], [0, 1000]), 1);
  });

  it('diversity distance alpha * (1 - cos) + beta * JS', () => {
    const x = [1, 0];
    const y = [1, 1];
    // P = softmax(1, 0), Q = (1/2, 1/2)
    const e = Math.E;
    const p1 = e / (e + 1);
    const p2 = 1 / (e + 1);
    const m1 = (p1 + 0.5) / 2;
    const m2 = (p2 + 0.5) / 2;
    const js = 0.5 * (p1 * Math.log(p1 / m1) + p2 * Math.log(p2 / m2)) + 0.5 * (0.5 * Math.log(0.5 / m1) + 0.5 * Math.log(0.5 / m2));
    close(diversityDistance(x, y), 1 - Math.SQRT1_2 + js);
    close(diversityDistance(x, y, 2, 0), 2 * (1 - Math.SQRT1_2));
    close(diversityDistance(x, y, 0, 3), 3 * js);
  });
});

describe('report', () => {
  it('metricsTable renders Markdown with 4 decimals', () => {
    const t = metricsTable(
      [
        { model: 'random', metrics: { 'hr@1': 0.1, auc: 0.5, count: 12 } },
        { model: 'pop', metrics: { 'hr@1': 0.123456, auc: 0.61234 } },
      ],
      ['hr@1', 'auc', 'count'],
    );
    assert.equal(
      t,
      ['| model | hr@1 | auc | count |', '|---|---:|---:|---:|', '| random | 0.1000 | 0.5000 | 12 |', '| pop | 0.1235 | 0.6123 | - |', ''].join('\n'),
    );
  });

  it('assertBaselinesPresent requires random and pop', () => {
    const m = { auc: 0.5 };
    assert.doesNotThrow(() => assertBaselinesPresent([{ model: 'Random', metrics: m }, { model: 'pop', metrics: m }, { model: 'sasrec', metrics: m }]));
    assert.throws(() => assertBaselinesPresent([{ model: 'sasrec', metrics: m }, { model: 'pop', metrics: m }]), /random/);
    assert.throws(() => assertBaselinesPresent([{ model: 'random', metrics: m }]), /pop/);
  });
});
