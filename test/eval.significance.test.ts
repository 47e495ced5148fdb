/**
 * The paired tests of src/eval/significance.ts against values computed by
 * hand: the exact sign-flip p-value (every assignment written out), zero
 * differences left out of the enumeration, NaN pairs dropped, the sampled
 * test agreeing with the exact one, the bootstrap interval, the quantile
 * rule, determinism per seed, and bad input refused with the reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pairedTest, quantileSorted } from '../src/eval/significance.js';
import { Mulberry32 } from '../src/util/random.js';

const close = (a: number, b: number, tol = 1e-12, msg = '') => assert.ok(Math.abs(a - b) <= tol, `${msg} expected ${b}, got ${a}`);

describe('paired sign-flip test', () => {
  it('d = (1, 2, 3): the 8 sums are ±6, ±4, ±2, 0, 0, so p = 2/8', () => {
    const t = pairedTest([1, 2, 3], [0, 0, 0]);
    assert.equal(t.method, 'exact');
    assert.equal(t.n, 3);
    assert.equal(t.dropped, 0);
    close(t.meanA, 2);
    close(t.meanB, 0);
    close(t.meanDiff, 2);
    close(t.pValue, 0.25);
    // The sign of the difference does not change a two-sided p.
    close(pairedTest([0, 0, 0], [1, 2, 3]).pValue, 0.25);
  });

  it('d = (1, -1, 2): sums 2, 0, 4, -2, 2, -4, 0, -2 (|s| >= 2 in 6 of 8)', () => {
    close(pairedTest([1, 0, 2], [0, 1, 0]).pValue, 6 / 8);
  });

  it('zero differences do not enter the enumeration; the mean still counts every pair', () => {
    // Non-zero d = (1, 1): sums 2, 0, 0, -2, so p = 2/4; mean over the 4 pairs 0.5.
    const t = pairedTest([1, 1, 0, 5], [0, 0, 0, 5]);
    close(t.pValue, 0.5);
    close(t.meanDiff, 0.5);
    assert.equal(t.n, 4);
  });

  it('equal models: p = 1 and the interval is [0, 0]', () => {
    const t = pairedTest([0.3, 0.7, 1], [0.3, 0.7, 1]);
    assert.equal(t.pValue, 1);
    assert.deepEqual(t.ci95, [0, 0]);
  });

  it('a pair with NaN (a user without negatives has no AUC) is dropped and counted', () => {
    const t = pairedTest([1, NaN, 2, 3], [0, 0.5, 0, NaN]);
    assert.equal(t.n, 2);
    assert.equal(t.dropped, 2);
    close(t.meanDiff, 1.5);
    close(t.pValue, 0.5); // d = (1, 2): sums 3, 1, -1, -3
  });

  it('the sampled test agrees with the exact one (18 differences, both computed here)', () => {
    const rng = new Mulberry32(7);
    const a = Array.from({ length: 18 }, () => rng.next() + 0.15);
    const b = Array.from({ length: 18 }, () => rng.next());
    const exact = pairedTest(a, b, { exactUpTo: 18 });
    const sampled = pairedTest(a, b, { exactUpTo: 16, resamples: 40_000, seed: 3 });
    assert.equal(exact.method, 'exact');
    assert.equal(sampled.method, 'sampled');
    // Monte Carlo standard error at p ~ 0.1 with 40,000 draws is 0.0015.
    close(sampled.pValue, exact.pValue, 0.01, 'sampled p');
    assert.ok(exact.pValue > 0 && exact.pValue < 1);
  });

  it('the sampled p is never 0: (1 + hits) / (1 + resamples)', () => {
    const a = Array.from({ length: 40 }, () => 1);
    const b = Array.from({ length: 40 }, () => 0);
    const t = pairedTest(a, b, { resamples: 999 });
    assert.equal(t.method, 'sampled');
    // Only the all-plus and all-minus assignments reach |sum| = 40 (probability 2^-39): no hit in 999 draws.
    close(t.pValue, 1 / 1000);
  });

  it('the bootstrap interval: a constant difference gives [c, c]; otherwise it holds the mean and is reproducible per seed', () => {
    const t = pairedTest([1.5, 2.5, 3.5], [1, 2, 3]);
    close(t.ci95[0], 0.5);
    close(t.ci95[1], 0.5);
    const rng = new Mulberry32(1);
    const a = Array.from({ length: 300 }, () => rng.next());
    const b = Array.from({ length: 300 }, () => rng.next() * 0.9);
    const x = pairedTest(a, b, { seed: 5 });
    assert.ok(x.ci95[0] < x.meanDiff && x.meanDiff < x.ci95[1], JSON.stringify(x.ci95));
    assert.deepEqual(pairedTest(a, b, { seed: 5 }), x);
    assert.notDeepEqual(pairedTest(a, b, { seed: 6 }).ci95, x.ci95);
    // The interval's width is close to the normal one, 2 x 1.96 x sd(d) / sqrt(n).
    const d = a.map((v, i) => v - b[i]);
    const m = d.reduce((s, v) => s + v, 0) / d.length;
    const sd = Math.sqrt(d.reduce((s, v) => s + (v - m) ** 2, 0) / (d.length - 1));
    close(x.ci95[1] - x.ci95[0], (2 * 1.96 * sd) / Math.sqrt(300), 0.1 * (2 * 1.96 * sd) / Math.sqrt(300), 'width');
  });

  it('quantiles by linear interpolation between order statistics (R type 7)', () => {
    const v = [1, 2, 4, 8];
    close(quantileSorted(v, 0), 1);
    close(quantileSorted(v, 1), 8);
    close(quantileSorted(v, 0.5), 3); // h = 1.5: 2 + 0.5 x (4 - 2)
    close(quantileSorted(v, 0.025), 1.075); // h = 0.075: 1 + 0.075 x 1
    close(quantileSorted([7], 0.975), 7);
    assert.throws(() => quantileSorted([], 0.5), /no values/);
    assert.throws(() => quantileSorted(v, 1.5), /q must be in/);
  });

  it('bad input is refused with the reason', () => {
    assert.throws(() => pairedTest([1, 2], [1]), /same users, got 2 and 1/);
    assert.throws(() => pairedTest([NaN], [1]), /no pair without NaN/);
    assert.throws(() => pairedTest([], []), /no pair without NaN among 0/);
    assert.throws(() => pairedTest([Infinity], [1]), /infinite/);
    assert.throws(() => pairedTest([1], [0], { resamples: 0 }), /resamples/);
    assert.throws(() => pairedTest([1], [0], { exactUpTo: 30 }), /exactUpTo/);
    assert.throws(() => pairedTest([1], [0], { seed: 0.5 }), /seed/);
  });
});
