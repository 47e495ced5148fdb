/**
 * Our wasm kernels (BatchMatMul on both paths, UnsortedSegmentSum, GatherV2)
 * against the tfjs 'cpu' reference backend: values and gradients, on seeded
 * random shapes and on edge cases (empty dims, broadcasting, out-of-range ids).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type MatmulPath } from '../src/engine/index.js';
import {
  MATMUL_PATHS, Rng, assertClose, assertCloseArrays, onBackend, onEachPath, randn, ready, size, skipPath, wasmDataIds, withMatmulPath,
  type Plain,
} from './helpers.js';

await ready();

// ---------------------------------------------------------------------------
// BatchMatMul
// ---------------------------------------------------------------------------

interface MMCase {
  a: number[];
  b: number[];
  tA: boolean;
  tB: boolean;
}

function broadcastShape(x: number[], y: number[]): number[] {
  const r = Math.max(x.length, y.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const dx = x[x.length - r + i] ?? 1;
    const dy = y[y.length - r + i] ?? 1;
    if (dx !== dy && dx !== 1 && dy !== 1) throw new Error(`bad broadcast ${x} vs ${y}`);
    out.push(dx === 1 ? dy : dx);
  }
  return out;
}

function mmGeometry(c: MMCase) {
  const ra = c.a.length;
  const rb = c.b.length;
  const M = c.tA ? c.a[ra - 1] : c.a[ra - 2];
  const N = c.tB ? c.b[rb - 2] : c.b[rb - 1];
  const outer = broadcastShape(c.a.slice(0, -2), c.b.slice(0, -2));
  const aFull = [...outer, ...c.a.slice(-2)];
  const bFull = [...outer, ...c.b.slice(-2)];
  const broadcast = c.a.join() !== aFull.join() || c.b.join() !== bFull.join();
  return { out: [...outer, M, N], aFull, bFull, broadcast };
}

/** x broadcast explicitly to `full` (leading 1s, then BroadcastTo). */
function expandTo(x: tf.Tensor, full: number[]): tf.Tensor {
  if (x.shape.join() === full.join()) return x;
  const r = tf.reshape(x, [...new Array<number>(full.length - x.rank).fill(1), ...x.shape]);
  return tf.broadcastTo(r, full);
}

function label(c: MMCase): string {
  return `[${c.a}]${c.tA ? 'ᵀ' : ''} x [${c.b}]${c.tB ? 'ᵀ' : ''}`;
}

/** Sums the gradient of an explicitly broadcast operand back to the operand's shape. */
function reduceTo(dFull: tf.Tensor, shape: number[]): tf.Tensor {
  const lead = dFull.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dFull.rank - 2; i++) if (i < lead || shape[i - lead] === 1) axes.push(i);
  return tf.reshape(axes.length ? tf.sum(dFull, axes) : dFull, shape);
}

/**
 * y = matMul(a, b) and d/da, d/db of sum(y * w).
 * `reference`: operands broadcast explicitly (the cpu kernel's batch
 * broadcasting is only right when one side has a batch of 1). Otherwise the
 * forward is the direct (broadcasting) matMul. tfjs's BatchMatMul gradient
 * does not reduce broadcast batch dims (it throws on every backend, see the
 * test below), so for broadcast cases both sides differentiate w.r.t. the
 * explicitly broadcast operands and sum the gradient back.
 */
function mmCompute(c: MMCase, av: Float32Array, bv: Float32Array, wv: Float32Array, reference: boolean, grad: boolean): { y: tf.Tensor; da?: tf.Tensor; db?: tf.Tensor } {
  const g = mmGeometry(c);
  const a = tf.tensor(av, c.a, 'float32');
  const b = tf.tensor(bv, c.b, 'float32');
  const w = tf.tensor(wv, g.out, 'float32');
  const y = reference ? tf.matMul(expandTo(a, g.aFull), expandTo(b, g.bFull), c.tA, c.tB) : tf.matMul(a, b, c.tA, c.tB);
  if (!grad) return { y };
  const f = (x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, z, c.tA, c.tB), w));
  if (!reference && !g.broadcast) {
    const [da, db] = tf.grads(f)([a, b]);
    return { y, da, db };
  }
  const [daFull, dbFull] = tf.grads(f)([expandTo(a, g.aFull), expandTo(b, g.bFull)]);
  return { y, da: reduceTo(daFull, c.a), db: reduceTo(dbFull, c.b) };
}

async function checkMatmul(path: MatmulPath, c: MMCase, seed: number, grad = true, tol = { atol: 1e-4, rtol: 1e-4 }): Promise<void> {
  const rng = new Rng(seed);
  const g = mmGeometry(c);
  const av = randn(rng, c.a);
  const bv = randn(rng, c.b);
  const wv = randn(rng, g.out);
  const ref = await onBackend('cpu', () => mmCompute(c, av, bv, wv, true, grad));
  const got = await withMatmulPath(path, () => onBackend('wasm', () => mmCompute(c, av, bv, wv, false, grad)));
  assert.deepEqual(got.y.shape, g.out, `${label(c)}: output shape`);
  assertClose(got.y, ref.y, tol, `${path} ${label(c)} value`);
  if (grad) {
    assertClose(got.da!, ref.da!, tol, `${path} ${label(c)} d/da`);
    assertClose(got.db!, ref.db!, tol, `${path} ${label(c)} d/db`);
  }
}

const TRANSPOSES: Array<[boolean, boolean]> = [[false, false], [false, true], [true, false], [true, true]];

/** Operand shapes for logical [..outerA, M, K] x [..outerB, K, N] under the transposes. */
function mmCase(outerA: number[], outerB: number[], M: number, K: number, N: number, tA: boolean, tB: boolean): MMCase {
  return {
    a: [...outerA, ...(tA ? [K, M] : [M, K])],
    b: [...outerB, ...(tB ? [N, K] : [K, N])],
    tA, tB,
  };
}

describe('BatchMatMul vs cpu', () => {
  for (const path of MATMUL_PATHS) {
    describe(`${path} path`, () => {
      it('2-D, all four transpose combos', async (t) => {
        if (skipPath(t, path)) return;
        let seed = 100;
        for (const [tA, tB] of TRANSPOSES) {
          for (const [M, K, N] of [[1, 1, 1], [3, 5, 4], [7, 2, 9], [16, 33, 8], [1, 17, 1]]) {
            await checkMatmul(path, mmCase([], [], M, K, N, tA, tB), seed++);
          }
        }
      });

      it('the same tensor as both operands (x xᵀ, xᵀ x, batched)', async (t) => {
        if (skipPath(t, path)) return;
        for (const [shape, tA, tB] of [[[5, 3], false, true], [[5, 3], true, false], [[2, 4, 3], false, true], [[2, 4, 3], true, false]] as Array<[number[], boolean, boolean]>) {
          const xv = randn(new Rng(size(shape)), shape);
          const compute = () => {
            const x = tf.tensor(xv, shape);
            const [dx] = tf.grads((z: tf.Tensor) => tf.sum(tf.square(tf.matMul(z, z, tA, tB))))([x]);
            return { y: tf.matMul(x, x, tA, tB), dx };
          };
          const ref = await onBackend('cpu', compute);
          const got = await withMatmulPath(path, () => onBackend('wasm', compute));
          assertClose(got.y, ref.y, {}, `${path} x[${shape}] self product`);
          assertClose(got.dx, ref.dx, { atol: 1e-3, rtol: 1e-4 }, `${path} x[${shape}] self product gradient`);
        }
      });

      it('3-D batched (same batch), all four transpose combos', async (t) => {
        if (skipPath(t, path)) return;
        let seed = 200;
        for (const [tA, tB] of TRANSPOSES) {
          for (const [B, M, K, N] of [[2, 3, 4, 5], [5, 1, 7, 3], [3, 6, 1, 2]]) {
            await checkMatmul(path, mmCase([B], [B], M, K, N, tA, tB), seed++);
          }
          await checkMatmul(path, mmCase([2, 3], [2, 3], 4, 5, 3, tA, tB), seed++);
        }
      });

      it('broadcast of batch dims: [B,M,K]x[K,N], [1,M,K]x[B,K,N], [M,K]x[B,K,N], rank-4 general', async (t) => {
        if (skipPath(t, path)) return;
        let seed = 300;
        for (const [tA, tB] of TRANSPOSES) {
          await checkMatmul(path, mmCase([4], [], 3, 5, 6, tA, tB), seed++); // shared right operand (folded)
          await checkMatmul(path, mmCase([1], [4], 3, 5, 6, tA, tB), seed++);
          await checkMatmul(path, mmCase([], [3], 2, 4, 5, tA, tB), seed++);
          await checkMatmul(path, mmCase([3], [1], 2, 4, 5, tA, tB), seed++);
          await checkMatmul(path, mmCase([2, 1], [3], 3, 4, 2, tA, tB), seed++); // general: [2,1,M,K] x [3,K,N]
          await checkMatmul(path, mmCase([2, 1, 3], [4, 1], 2, 3, 2, tA, tB), seed++); // [2,1,3] x [4,1] -> [2,4,3]
          await checkMatmul(path, mmCase([1, 3], [2, 1], 2, 3, 4, tA, tB), seed++);
          await checkMatmul(path, mmCase([2, 3], [3], 2, 3, 4, tA, tB), seed++); // [2,3] x [3] -> [2,3]
        }
      });

      it('empty dims give empty or zero outputs (M=0, N=0, K=0, batch 0), gradients too', async (t) => {
        if (skipPath(t, path)) return;
        let seed = 400;
        const cases: Array<[number[], number[], number, number, number]> = [
          [[], [], 0, 3, 4], [[], [], 3, 3, 0], [[], [], 3, 0, 4], [[], [], 0, 0, 0],
          [[2], [2], 0, 3, 4], [[2], [2], 3, 0, 4], [[2], [2], 3, 4, 0],
          [[0], [0], 3, 4, 5], [[0], [0], 3, 0, 5],
          [[2], [], 3, 0, 4], [[], [2], 3, 0, 4],
        ];
        for (const [tA, tB] of TRANSPOSES) {
          for (const [oa, ob, M, K, N] of cases) {
            const c = mmCase(oa, ob, M, K, N, tA, tB);
            await checkMatmul(path, c, seed++);
            // And exactly zeros of the right shape, not whatever was on the heap.
            const got = await withMatmulPath(path, () => onBackend('wasm', () => ({
              y: tf.matMul(tf.fill(c.a, 1), tf.fill(c.b, 1), tA, tB),
            })));
            const g = mmGeometry(c);
            assert.deepEqual(got.y.shape, g.out, `${label(c)} shape`);
            assert.equal(got.y.values.length, size(g.out));
            assert.ok(got.y.values.every((v) => v === 0), `${label(c)}: K=0 product must be exactly 0`);
          }
        }
        // Batch 0 against a broadcast operand: cpu cannot do this one, check the shape only.
        const got = await withMatmulPath(path, () => onBackend('wasm', () => ({
          y: tf.matMul(tf.ones([0, 3, 4]), tf.ones([4, 5])),
          z: tf.matMul(tf.ones([3, 4]), tf.ones([0, 4, 5])),
        })));
        assert.deepEqual(got.y.shape, [0, 3, 5]);
        assert.deepEqual(got.z.shape, [0, 3, 5]);
      });

      it('20 seeded random shapes (ranks 2-4, broadcasting, transposes), values and gradients', async (t) => {
        if (skipPath(t, path)) return;
        const rng = new Rng(4242);
        for (let i = 0; i < 20; i++) {
          const rank = rng.int(0, 3); // batch rank 0..2
          const outer = Array.from({ length: rank }, () => rng.int(1, 4));
          // Each operand: keep, set to 1, or drop leading batch dims.
          const pick = () => {
            const mode = rng.int(0, 3);
            if (mode === 0) return [...outer];
            if (mode === 1) return outer.map((d) => (rng.next() < 0.5 ? 1 : d));
            return outer.slice(rng.int(0, outer.length + 1));
          };
          let oa = pick();
          let ob = pick();
          // At least one operand must carry every non-1 dim so the output batch is `outer`.
          if (broadcastShape(oa, ob).join() !== outer.join()) { oa = [...outer]; ob = rng.next() < 0.5 ? [] : ob; }
          const c = mmCase(oa, ob, rng.int(1, 9), rng.int(1, 9), rng.int(1, 9), rng.next() < 0.5, rng.next() < 0.5);
          await checkMatmul(path, c, 5000 + i);
        }
      });

      it('large case crosses the blas threading threshold (300x200 @ 200x150, and transposed)', async (t) => {
        if (skipPath(t, path)) return;
        // 2*300*200*150 = 18 Mflop > the default 8 Mflop threshold for 2 threads.
        await checkMatmul(path, mmCase([], [], 300, 200, 150, false, false), 600, false, { atol: 2e-4, rtol: 1e-4 });
        await checkMatmul(path, mmCase([], [], 300, 200, 150, true, true), 601, false, { atol: 2e-4, rtol: 1e-4 });
        await checkMatmul(path, mmCase([2], [2], 150, 200, 150, false, true), 602, false, { atol: 2e-4, rtol: 1e-4 });
      });

      // Per product form: plain 2-D (XNNPACK), shared right operand folded into rows, truly batched.
      for (const [oa, ob, form] of [[[], [], '2-D'], [[2], [], 'folded [2,2,2] x [2,2]'], [[2], [2], 'batched [2,2,2] x [2,2,2]']] as Array<[number[], number[], string]>) {
        it(`NaN and Infinity propagate as on cpu (0 * Inf = NaN): ${form}`, async (t) => {
          if (skipPath(t, path)) return;
          const av = new Float32Array([0, 1, 1, 0]);
          const bv = new Float32Array([Infinity, NaN, 1, 2]); // row 0 of a@b: 0*Inf + 1*1 = NaN
          const aAll = new Float32Array(4 * size(oa)).map((_, i) => av[i % 4]);
          const bAll = new Float32Array(4 * size(ob)).map((_, i) => bv[i % 4]);
          const c: MMCase = { a: [...oa, 2, 2], b: [...ob, 2, 2], tA: false, tB: false };
          const compute = (reference: boolean) => () => {
            const g = mmGeometry(c);
            const a = tf.tensor(aAll, c.a);
            const b = tf.tensor(bAll, c.b);
            return { y: reference ? tf.matMul(expandTo(a, g.aFull), expandTo(b, g.bFull)) : tf.matMul(a, b) };
          };
          const ref = await onBackend('cpu', compute(true));
          const got = await withMatmulPath(path, () => onBackend('wasm', compute(false)));
          assert.ok(Number.isNaN(ref.y.values[0]), 'reference: 0 * Inf + 1 is NaN');
          assertClose(got.y, ref.y, {}, `${path} [${c.a}] x [${c.b}] with NaN/Inf`);
        });
      }

      it('frees its temporaries (wasm data buffers unchanged after the call)', async (t) => {
        if (skipPath(t, path)) return;
        await withMatmulPath(path, () => {
          const rng = new Rng(7);
          const cases = [
            mmCase([], [], 4, 5, 6, true, true), mmCase([3], [], 4, 5, 6, true, true),
            mmCase([3], [3], 4, 5, 6, true, true), mmCase([2, 1], [3], 4, 5, 6, true, false),
          ];
          for (const c of cases) {
            const a = tf.tensor(randn(rng, c.a), c.a);
            const b = tf.tensor(randn(rng, c.b), c.b);
            const n0 = wasmDataIds();
            const y = tf.matMul(a, b, c.tA, c.tB);
            y.dispose();
            assert.equal(wasmDataIds(), n0, `${path} ${label(c)} leaked wasm buffers`);
            tf.dispose([a, b]);
          }
        });
      });
    });
  }

  it('gradient of a batch-broadcast matMul throws on cpu and wasm alike (tfjs limitation, not ours)', async () => {
    const run = (backend: 'cpu' | 'wasm') => onBackend(backend, () => {
      const a = tf.ones([2, 3, 4]);
      const b = tf.ones([4, 5]);
      const [, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y)))([a, b]);
      return { db };
    });
    await assert.rejects(run('cpu'), /does not match the shape/);
    await assert.rejects(run('wasm'), /does not match the shape/);
  });

  it('rejects mismatched inner dims like tfjs', async () => {
    await ready();
    assert.throws(() => tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([4, 2]))), /inner shapes/);
  });
});

// ---------------------------------------------------------------------------
// UnsortedSegmentSum
// ---------------------------------------------------------------------------

async function checkSegmentSum(xShape: number[], ids: number[], numSegments: number, opts: { seed: number; int?: boolean; grad?: boolean; idsShape?: number[] }): Promise<{ got: Plain; ref: Plain }> {
  const rng = new Rng(opts.seed);
  const dtype = opts.int ? 'int32' : 'float32';
  const xv = opts.int ? rng.intArray(size(xShape), -50, 50) : randn(rng, xShape);
  const outShape = [numSegments, ...xShape.slice((opts.idsShape ?? [ids.length]).length)];
  const wv = randn(rng, outShape);
  const idsShape = opts.idsShape ?? [ids.length];
  // The cpu kernel mis-broadcasts ids of rank > 1 (it inserts the new axes at 1
  // instead of at the end), so its reference runs on the flattened equivalent.
  const compute = (reference: boolean) => (): { y: tf.Tensor; dx?: tf.Tensor } => {
    const flat = reference && idsShape.length > 1;
    const xs = flat ? [size(idsShape), ...xShape.slice(idsShape.length)] : xShape;
    const x = tf.tensor(xv, xs, dtype);
    const segIds = tf.tensor(ids, flat ? [ids.length] : idsShape, 'int32');
    const y = tf.unsortedSegmentSum(x, segIds as tf.Tensor1D, numSegments);
    if (!opts.grad) return { y };
    const w = tf.tensor(wv, outShape);
    const dx = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(tf.unsortedSegmentSum(z, segIds as tf.Tensor1D, numSegments), w)))(x);
    return { y, dx: tf.reshape(dx, xShape) };
  };
  const ref = await onBackend('cpu', compute(true));
  const got = await onBackend('wasm', compute(false));
  const what = `segmentSum x[${xShape}] ids[${ids}] n=${numSegments}`;
  assert.equal(got.y.dtype, dtype, `${what}: output dtype follows x`);
  assertClose(got.y, ref.y, { atol: 1e-5, rtol: 1e-5 }, what);
  if (opts.grad) assertClose(got.dx, ref.dx, { atol: 1e-6, rtol: 1e-6 }, `${what} gradient`);
  return { got: got.y, ref: ref.y };
}

onEachPath('UnsortedSegmentSum vs cpu', () => {
  it('1-D x, repeated ids, hand-checked', async () => {
    const compute = () => ({ y: tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4, 5]), tf.tensor1d([0, 2, 0, 2, 1], 'int32'), 4) });
    const got = await onBackend('wasm', compute);
    assert.deepEqual(got.y.values, [4, 5, 6, 0]);
    await checkSegmentSum([9], [0, 1, 1, 3, 3, 3, 0, 2, 1], 4, { seed: 1, grad: true });
  });

  it('2-D and 3-D x, ids of rank 1 and rank 2', async () => {
    await checkSegmentSum([6, 3], [2, 0, 2, 1, 0, 2], 3, { seed: 2, grad: true });
    await checkSegmentSum([5, 2, 3], [1, 1, 0, 4, 1], 5, { seed: 3, grad: true });
    // Values only: tfjs-core's UnsortedSegmentSum gradient has the same rank > 1 ids broadcasting bug (every backend).
    await checkSegmentSum([3, 2, 4], [0, 1, 1, 1, 2, 0], 3, { seed: 4, idsShape: [3, 2] });
  });

  it('ids out of range (negative and >= numSegments) are dropped like cpu', async () => {
    const compute = () => ({
      y: tf.unsortedSegmentSum(tf.tensor2d([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]), tf.tensor1d([0, -1, 3, 1, 7], 'int32'), 3),
    });
    const got = await onBackend('wasm', compute);
    const ref = await onBackend('cpu', compute);
    assert.deepEqual(got.y.values, [1, 1, 4, 4, 0, 0]);
    assert.deepEqual(got.y.values, ref.y.values);
    await checkSegmentSum([8, 3], [-1, 0, 5, 2, -7, 1, 3, 2], 3, { seed: 5 });
    await checkSegmentSum([6], [-2, -1, 9, 9, 100, -100], 4, { seed: 6 }); // all dropped -> zeros
  });

  it('gradient with negative ids (they get zero gradient)', async () => {
    await checkSegmentSum([7, 2], [-1, 0, 2, -3, 1, 1, 0], 3, { seed: 7, grad: true });
  });

  it('gradient with ids >= numSegments throws on cpu and wasm alike (tfjs gathers them unclipped)', async () => {
    const compute = () => {
      const x = tf.ones([3, 2]);
      return { dx: tf.grad((z: tf.Tensor) => tf.sum(tf.unsortedSegmentSum(z, tf.tensor1d([0, 5, 1], 'int32'), 2)))(x) };
    };
    await assert.rejects(onBackend('cpu', compute), /index value 5/);
    await assert.rejects(onBackend('wasm', compute), /index value 5/);
  });

  it('empty x (0 rows) gives zeros; numSegments larger than max id', async () => {
    const r = await checkSegmentSum([0, 3], [], 4, { seed: 8, grad: true });
    assert.deepEqual(r.got.shape, [4, 3]);
    assert.ok(r.got.values.every((v) => v === 0));
    await checkSegmentSum([0], [], 2, { seed: 9 });
    await checkSegmentSum([4, 2], [0, 1, 1, 0], 10, { seed: 10, grad: true });
    const zeroInner = await onBackend('wasm', () => ({ y: tf.unsortedSegmentSum(tf.zeros([3, 0]), tf.tensor1d([0, 1, 0], 'int32'), 2) }));
    assert.deepEqual(zeroInner.y.shape, [2, 0]);
  });

  it('output buffer is zeroed even when the heap slot was dirty', async () => {
    // Allocate and free a buffer full of garbage, then sum into the same size.
    for (let i = 0; i < 3; i++) tf.tidy(() => tf.fill([5, 4], 123.5).dataSync());
    const got = await onBackend('wasm', () => ({ y: tf.unsortedSegmentSum(tf.ones([2, 4]), tf.tensor1d([4, 4], 'int32'), 5) }));
    assert.deepEqual(got.y.values, [...new Array<number>(16).fill(0), 2, 2, 2, 2]);
  });

  it('int32 x keeps int32 and sums exactly (cpu returns float32 values)', async () => {
    const r = await checkSegmentSum([7, 3], [0, 2, 1, 1, 2, -1, 0], 3, { seed: 11, int: true });
    assert.equal(r.got.dtype, 'int32');
    assert.ok(r.got.values.every((v) => Number.isInteger(v)));
    await checkSegmentSum([5], [3, 3, 3, 0, 9], 4, { seed: 12, int: true });
  });

  it('10 seeded random cases with gradients', async () => {
    const rng = new Rng(777);
    for (let i = 0; i < 10; i++) {
      const n = rng.int(0, 12);
      const inner = Array.from({ length: rng.int(0, 3) }, () => rng.int(1, 5));
      const numSegments = rng.int(1, 8);
      const ids = Array.from({ length: n }, () => rng.int(-2, numSegments)); // includes negatives
      await checkSegmentSum([n, ...inner], ids, numSegments, { seed: 900 + i, grad: true });
      const idsHigh = Array.from({ length: n }, () => rng.int(-2, numSegments + 3)); // includes >= numSegments
      await checkSegmentSum([n, ...inner], idsHigh, numSegments, { seed: 950 + i });
    }
  });

  it('leaks no wasm buffers', () => {
    const x = tf.ones([6, 3]);
    const ids = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
    const n0 = wasmDataIds();
    tf.unsortedSegmentSum(x, ids, 3).dispose();
    assert.equal(wasmDataIds(), n0);
    tf.dispose([x, ids]);
  });
});

// ---------------------------------------------------------------------------
// GatherV2
// ---------------------------------------------------------------------------

async function checkGather(xShape: number[], idx: number[], idxShape: number[], axis: number, batchDims: number,
  opts: { seed: number; int?: boolean; grad?: boolean }): Promise<Plain> {
  const rng = new Rng(opts.seed);
  const dtype = opts.int ? 'int32' : 'float32';
  const xv = opts.int ? rng.intArray(size(xShape), -1000, 1000) : randn(rng, xShape);
  const compute = (): { y: tf.Tensor; dx?: tf.Tensor } => {
    const x = tf.tensor(xv, xShape, dtype);
    const ind = tf.tensor(idx, idxShape, 'int32');
    const y = tf.gather(x, ind, axis, batchDims);
    if (!opts.grad) return { y };
    const w = tf.tensor(randn(new Rng(opts.seed + 1), y.shape), y.shape);
    const dx = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(tf.gather(z, ind, axis, batchDims), w)))(x);
    return { y, dx };
  };
  const ref = await onBackend('cpu', compute);
  const got = await onBackend('wasm', compute);
  const what = `gather x[${xShape}] idx[${idxShape}] axis=${axis} batchDims=${batchDims}`;
  assert.equal(got.y.dtype, dtype);
  // A gather is a copy: exact.
  assertClose(got.y, ref.y, { atol: 0, rtol: 0 }, what);
  if (opts.grad) assertClose(got.dx, ref.dx, { atol: 1e-5, rtol: 1e-5 }, `${what} gradient`);
  return got.y;
}

onEachPath('GatherV2 vs cpu', () => {
  it('axis 0, repeated indices, hand-checked', async () => {
    const got = await onBackend('wasm', () => ({ y: tf.gather(tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([2, 0, 2, 2], 'int32')) }));
    assert.deepEqual(got.y.values, [5, 6, 1, 2, 5, 6, 5, 6]);
    assert.deepEqual(got.y.shape, [4, 2]);
    await checkGather([7, 5], [3, 3, 0, 6, 1, 3], [6], 0, 0, { seed: 20, grad: true });
    await checkGather([7], [3, 3, 0, 6], [4], 0, 0, { seed: 21, grad: true });
  });

  it('axis 1 and negative axis', async () => {
    await checkGather([3, 6, 2], [5, 0, 0, 2], [4], 1, 0, { seed: 22, grad: true });
    await checkGather([3, 6], [1, 5, 1], [3], -1, 0, { seed: 23, grad: true });
    await checkGather([2, 3, 4, 5], [3, 0, 2, 3], [4], 2, 0, { seed: 24, grad: true });
  });

  it('batchDims 1', async () => {
    await checkGather([3, 5, 4], [0, 4, 4, 1, 2, 2, 3, 0, 1], [3, 3], 1, 1, { seed: 25, grad: true });
    await checkGather([2, 3, 6], [5, 5, 1, 0], [2, 2], 2, 1, { seed: 26, grad: true });
  });

  it('int32 params (exact copy of the bits)', async () => {
    await checkGather([6, 3], [5, 1, 1, 0], [4], 0, 0, { seed: 27, int: true });
    await checkGather([3, 6], [5, 1], [2], 1, 0, { seed: 28, int: true });
    const big = await onBackend('wasm', () => ({ y: tf.gather(tf.tensor1d([2147483647, -2147483648, 16777217], 'int32'), tf.tensor1d([2, 1, 0], 'int32')) }));
    assert.deepEqual(big.y.values, [16777217, -2147483648, 2147483647]);
  });

  it('empty indices and empty params slices', async () => {
    const y = await checkGather([4, 3], [], [0], 0, 0, { seed: 29, grad: true });
    assert.deepEqual(y.shape, [0, 3]);
    const y2 = await checkGather([4, 3], [], [0], 1, 0, { seed: 30, grad: true });
    assert.deepEqual(y2.shape, [4, 0]);
    const y3 = await checkGather([4, 0], [1, 3], [2], 0, 0, { seed: 31 });
    assert.deepEqual(y3.shape, [2, 0]);
    const y4 = await checkGather([5, 2], [], [2, 0], 0, 0, { seed: 32, grad: true });
    assert.deepEqual(y4.shape, [2, 0, 2]);
  });

  it('2-D indices (an embedding lookup) with gradient', async () => {
    await checkGather([11, 4], [1, 3, 3, 10, 0, 0, 5, 1], [2, 4], 0, 0, { seed: 33, grad: true });
    await checkGather([3, 9, 2], [8, 0, 0, 4, 4, 4], [3, 2], 1, 0, { seed: 34, grad: true });
  });

  it('seeded random embedding lookups with gradients (exercises UnsortedSegmentSum)', async () => {
    const rng = new Rng(31337);
    for (let i = 0; i < 6; i++) {
      const rows = rng.int(1, 15);
      const dim = rng.int(1, 9);
      const idxShape = [rng.int(1, 4), rng.int(1, 6)];
      const idx = Array.from({ length: size(idxShape) }, () => rng.int(0, rows));
      await checkGather([rows, dim], idx, idxShape, 0, 0, { seed: 1000 + i, grad: true });
    }
  });

  it('out-of-range index throws on wasm, like cpu', async () => {
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
    for (const bad of [[3], [0, -1], [1, 100]]) {
      const ind = tf.tensor1d(bad, 'int32');
      assert.throws(() => tf.gather(x, ind), /not in \[0, 2\]/, `wasm index ${bad}`);
      assert.throws(() => tf.gather(x, ind, 1), /not in \[0, 1\]/, `wasm axis 1 index ${bad}`);
      ind.dispose();
    }
    x.dispose();
    await assert.rejects(onBackend('cpu', () => ({ y: tf.gather(tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([3], 'int32')) })),
      /not in \[0, 2\]/);
  });

  it('leaks no wasm buffers, also when it throws', () => {
    const x = tf.ones([5, 3]);
    const good = tf.tensor1d([0, 4, 4], 'int32');
    const bad = tf.tensor1d([0, 5], 'int32');
    const n0 = wasmDataIds();
    tf.gather(x, good).dispose();
    assert.throws(() => tf.gather(x, bad));
    assert.equal(wasmDataIds(), n0);
    tf.dispose([x, good, bad]);
  });

  it('bool params fall back to the stock kernel', async () => {
    const got = await onBackend('wasm', () => ({ y: tf.gather(tf.tensor1d([true, false, true], 'bool'), tf.tensor1d([1, 2, 1], 'int32')) }));
    assert.equal(got.y.dtype, 'bool');
    assert.deepEqual(got.y.values, [0, 1, 0]);
  });
});

// Sanity check of the harness itself: the cpu reference really is another backend.
describe('harness', () => {
  it('onBackend runs on the requested backend and returns to wasm', async () => {
    let seen = '';
    await onBackend('cpu', () => { seen = tf.getBackend(); return { y: tf.zeros([1]) }; });
    assert.equal(seen, 'cpu');
    assert.equal(tf.getBackend(), 'wasm');
    assertCloseArrays([1, NaN, Infinity], [1 + 1e-6, NaN, Infinity]);
  });
});
