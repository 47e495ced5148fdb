/**
 * Serving's scoring kernels (docs/SERVING.md, "Scoring"): the one-pass top-k
 * against a full sort, and the batched user x item GEMM on every available
 * path (OpenBLAS addon, wasm SIMD GEMM, JS loop) against a plain dot product.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initEngine, nativeAvailable } from '../src/engine/index.js';
import { DotScorer, type ScorePath } from '../src/serve/scoring.js';
import { mergeSorted, sortedUnique, topKRow, topKRowOf } from '../src/serve/topk.js';
import { Mulberry32 } from '../src/util/random.js';

/** The k best of items 1..n by a full sort (higher score, then smaller item), skipping `skip`. */
function bySort(row: Float32Array, off: number, n: number, k: number, skip: Set<number>) {
  const items = Array.from({ length: n }, (_, j) => j + 1).filter((i) => !skip.has(i) && row[off + i] > Number.NEGATIVE_INFINITY);
  items.sort((a, b) => row[off + b] - row[off + a] || a - b);
  return items.slice(0, k).map((i) => ({ item: i, score: row[off + i] }));
}

describe('serve scoring', () => {
  before(async () => { await initEngine(); });

  test('one-pass top-k equals a full sort (ties to the smaller item, skipped items, NaN and -Infinity dropped)', () => {
    const rnd = new Mulberry32(7);
    for (const [n, k] of [[1, 1], [5, 10], [100, 1], [1000, 10], [12101, 100], [3000, 37]]) {
      const off = 3;
      const row = new Float32Array(off + n + 1);
      // Few distinct values: many ties.
      for (let i = 1; i <= n; i++) row[off + i] = Math.floor(rnd.next() * 50) / 7;
      row[off + Math.min(n, 2)] = Number.NaN;
      // -Infinity: an item the model cannot rank (TIGER: no beam reached it), never in an answer.
      for (let i = 3; i <= n; i += 3) row[off + i] = Number.NEGATIVE_INFINITY;
      const skipList = Array.from({ length: Math.min(60, n) }, () => 1 + Math.floor(rnd.next() * n));
      const skip = sortedUnique(skipList);
      const got = topKRow(row, off, n, k, skip);
      assert.deepEqual(got, bySort(row, off, n, k, new Set(skipList)), `n=${n} k=${k}`);
      assert.deepEqual(topKRow(row, off, n, k, new Int32Array(0)), bySort(row, off, n, k, new Set()));
    }
    const row = Float32Array.from([0, 5, 1, 5, 9, 2]);
    assert.deepEqual(topKRowOf(row, 0, [2, 3, 5, 4], 2, Int32Array.from([4])), [{ item: 3, score: 5 }, { item: 5, score: 2 }]);
    // Fewer rankable items than k: the answer is shorter, never padded with unranked items.
    const sparse = Float32Array.from([0, -Infinity, 3, -Infinity, NaN, 1]);
    assert.deepEqual(topKRow(sparse, 0, 5, 4, new Int32Array(0)), [{ item: 2, score: 3 }, { item: 5, score: 1 }]);
    assert.deepEqual(topKRowOf(sparse, 0, [1, 2, 3], 3, new Int32Array(0)), [{ item: 2, score: 3 }]);
    assert.throws(() => topKRow(row, 0, 5, 0, new Int32Array(0)), /k must be/);
  });

  test('sorted skip lists: unique, merged', () => {
    assert.deepEqual(Array.from(sortedUnique([5, 1, 5, 3, 1])), [1, 3, 5]);
    assert.deepEqual(Array.from(mergeSorted(Int32Array.from([1, 4, 9]), Int32Array.from([2, 4, 10]))), [1, 2, 4, 9, 10]);
    const a = Int32Array.from([1, 2]);
    assert.equal(mergeSorted(a, new Int32Array(0)), a);
  });

  test('batched GEMM scores equal plain dot products on every path', () => {
    const rnd = new Mulberry32(11);
    const dim = 24;
    const rows = 2049;
    const items = Float32Array.from({ length: rows * dim }, () => rnd.next() * 2 - 1);
    const users = Float32Array.from({ length: 9 * dim }, () => rnd.next() * 2 - 1);
    const paths: ScorePath[] = ['js', 'wasm', ...(nativeAvailable() ? ['blas' as const] : [])];
    for (const path of paths) {
      const s = new DotScorer(items, dim, 8, path);
      assert.equal(s.path, path);
      for (const B of [1, 5, 8]) {
        let seen = 0;
        // Users b read from users[(b + 1) * dim]: the offsets are honoured.
        s.score(B, (b) => [users, (b + 1) * dim], (b, row, off) => {
          seen++;
          for (const i of [0, 1, 1000, rows - 1]) {
            let want = 0;
            for (let d = 0; d < dim; d++) want += users[(b + 1) * dim + d] * items[i * dim + d];
            assert.ok(Math.abs(row[off + i] - want) < 1e-4, `${path} B=${B} b=${b} item ${i}: ${row[off + i]} vs ${want}`);
          }
        });
        assert.equal(seen, B);
      }
      assert.throws(() => s.score(9, () => [users, 0], () => {}), /batch 9/);
      s.dispose();
    }
  });
});
