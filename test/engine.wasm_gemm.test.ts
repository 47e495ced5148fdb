/**
 * The pure-wasm SIMD GEMM (native/wasm/gemm.c, src/engine/kernels/wasm_gemm.ts):
 * the embedded build matches its source, the module runs in place on the tfjs
 * heap, and batched / attention-shaped products on the wasm path match the
 * tfjs cpu backend in values and gradients, edge shapes included.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../src/engine/index.js';
import { heapF32, heapOffset, wasmBackend } from '../src/engine/backend.js';
import { packageRoot } from '../src/engine/native.js';
import { GEMM_WASM_SOURCE_SHA256 } from '../src/engine/kernels/gemm_wasm.js';
import { wasmGemm, wasmGemmBatched, wasmGemmUnavailable } from '../src/engine/kernels/wasm_gemm.js';
import { Rng, assertClose, onBackend, randn, ready, size, withMatmulPath } from './helpers.js';

await ready();

describe('SIMD GEMM module', () => {
  it('is built from the current native/wasm/gemm.c (else run `node native/wasm/build.mjs`)', () => {
    const sha = createHash('sha256').update(readFileSync(join(packageRoot, 'native', 'wasm', 'gemm.c'))).digest('hex');
    assert.equal(GEMM_WASM_SOURCE_SHA256, sha);
  });

  it('instantiates on the tfjs wasm memory', () => {
    assert.notEqual(wasmGemm(wasmBackend()), null, wasmGemmUnavailable ?? '');
  });

  it('computes broadcast, transposed and odd-sized products in place on the heap', () => {
    const rng = new Rng(7);
    for (const [M, N, K, tA, tB, batch, sA, sB] of [
      [5, 13, 3, false, false, 3, true, false], [9, 4, 17, true, true, 2, false, true], [1, 1, 1, false, true, 1, true, true],
      [4, 8, 8, true, false, 4, true, true], [33, 10, 2, false, true, 2, false, false],
    ] as Array<[number, number, number, boolean, boolean, number, boolean, boolean]>) {
      const av = randn(rng, [sA ? batch : 1, M * K]);
      const bv = randn(rng, [sB ? batch : 1, K * N]);
      const a = tf.tensor(av);
      const b = tf.tensor(bv);
      const c = tf.fill([batch * M * N], Number.NaN);
      const be = wasmBackend();
      assert.ok(wasmGemmBatched(be, tA, tB, M, N, K, batch, heapOffset(be, a) >>> 2, sA ? M * K : 0,
        heapOffset(be, b) >>> 2, sB ? K * N : 0, heapOffset(be, c) >>> 2, M * N));
      const heap = heapF32(be);
      const oc = heapOffset(be, c) >>> 2;
      for (let bi = 0; bi < batch; bi++) {
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < N; j++) {
            let ref = 0;
            for (let k = 0; k < K; k++) {
              ref += av[(sA ? bi * M * K : 0) + (tA ? k * M + i : i * K + k)] * bv[(sB ? bi * K * N : 0) + (tB ? j * K + k : k * N + j)];
            }
            const got = heap[oc + bi * M * N + i * N + j];
            assert.ok(Math.abs(got - ref) <= 1e-5 * (1 + Math.abs(ref)), `${M}x${N}x${K} b${bi} [${i},${j}]: ${got} vs ${ref}`);
          }
        }
      }
      tf.dispose([a, b, c]);
    }
  });
});

interface Case { a: number[]; b: number[]; tA: boolean; tB: boolean; what: string }

/** y = a @ b and the gradients of sum(y * w); broadcast operands are tiled explicitly when `tile`. */
function compute(c: Case, av: Float32Array, bv: Float32Array, wv: Float32Array, outShape: number[]) {
  const a = tf.tensor(av, c.a);
  const b = tf.tensor(bv, c.b);
  const w = tf.tensor(wv, outShape);
  const y = tf.matMul(a, b, c.tA, c.tB);
  const [da, db] = tf.grads((x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, z, c.tA, c.tB), w)))([a, b]);
  return { y, da, db };
}

async function check(c: Case, seed: number, grad = true): Promise<void> {
  const rng = new Rng(seed);
  const av = randn(rng, c.a);
  const bv = randn(rng, c.b);
  const outShape = tf.tidy(() => tf.matMul(tf.zeros(c.a), tf.zeros(c.b), c.tA, c.tB).shape);
  const wv = randn(rng, outShape);
  const run = grad ? () => compute(c, av, bv, wv, outShape) : () => ({ y: tf.matMul(tf.tensor(av, c.a), tf.tensor(bv, c.b), c.tA, c.tB) });
  const ref = await onBackend('cpu', run);
  const got = await withMatmulPath('wasm', () => onBackend('wasm', run));
  const tol = { atol: 2e-4, rtol: 2e-4 };
  assert.deepEqual(got.y.shape, outShape, c.what);
  assertClose(got.y, ref.y, tol, `${c.what} value`);
  if (grad) {
    const g = got as unknown as Record<string, Parameters<typeof assertClose>[0]>;
    const r = ref as unknown as Record<string, Parameters<typeof assertClose>[0]>;
    assertClose(g.da, r.da, tol, `${c.what} d/da`);
    assertClose(g.db, r.db, tol, `${c.what} d/db`);
  }
}

describe('wasm path batched products vs cpu (values and gradients)', () => {
  it('attention shapes: scores Q Kᵀ and context P V, [B*H, L, d] and rank 4 [B, H, L, d]', async () => {
    let seed = 1;
    for (const [BH, L, d] of [[4, 50, 32], [2, 61, 64], [3, 7, 5]]) {
      await check({ a: [BH, L, d], b: [BH, L, d], tA: false, tB: true, what: `QKᵀ [${BH},${L},${d}]` }, seed++);
      await check({ a: [BH, L, L], b: [BH, L, d], tA: false, tB: false, what: `PV [${BH},${L},${d}]` }, seed++);
    }
    await check({ a: [2, 3, 10, 8], b: [2, 3, 10, 8], tA: false, tB: true, what: 'rank-4 QKᵀ' }, seed++);
    await check({ a: [2, 3, 10, 8], b: [2, 3, 10, 8], tA: true, tB: false, what: 'rank-4 Qᵀ K' }, seed++);
    await check({ a: [2, 3, 10, 9], b: [2, 3, 8, 10], tA: true, tB: true, what: 'rank-4 both transposed' }, seed);
  });

  it('edge shapes: batch 1, dims of 1, sizes off the 4x8 tile', async () => {
    let seed = 50;
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as Array<[boolean, boolean]>) {
      for (const [B, M, K, N] of [[1, 5, 3, 7], [3, 1, 1, 1], [2, 1, 9, 1], [2, 9, 1, 13], [5, 4, 8, 8], [2, 13, 17, 19]]) {
        const a = [B, ...(tA ? [K, M] : [M, K])];
        const b = [B, ...(tB ? [N, K] : [K, N])];
        await check({ a, b, tA, tB, what: `[${a}]${tA ? 'ᵀ' : ''} x [${b}]${tB ? 'ᵀ' : ''}` }, seed++);
      }
    }
  });

  it('2-D transposed products (the backward pass), which now skip the Transpose copies', async () => {
    let seed = 80;
    for (const [tA, tB] of [[true, false], [false, true], [true, true]] as Array<[boolean, boolean]>) {
      await check({ a: tA ? [37, 11] : [11, 37], b: tB ? [6, 37] : [37, 6], tA, tB, what: `2-D tA=${tA} tB=${tB}` }, seed++);
    }
  });

  it('broadcast batch: a shared operand on either side, and general rank-4 broadcasting (values)', async () => {
    // tfjs's BatchMatMul gradient does not reduce broadcast batch dims (see engine.kernels.test.ts), so values only.
    let seed = 90;
    await check({ a: [1, 6, 5], b: [4, 5, 7], tA: false, tB: false, what: '[1,M,K] x [B,K,N]' }, seed++, false);
    await check({ a: [6, 5], b: [4, 7, 5], tA: false, tB: true, what: '[M,K] x [B,N,K]ᵀ' }, seed++, false);
    await check({ a: [4, 5, 6], b: [5, 7], tA: true, tB: false, what: '[B,K,M]ᵀ x [K,N]' }, seed++, false);
    // The cpu kernel mis-broadcasts when both sides have batch dims > 1: the reference tiles explicitly.
    const rng = new Rng(seed);
    const av = randn(rng, [2, 1, 6, 5]);
    const bv = randn(rng, [3, 5, 7]);
    const ref = await onBackend('cpu', () => ({
      y: tf.matMul(tf.broadcastTo(tf.tensor(av, [2, 1, 6, 5]), [2, 3, 6, 5]), tf.broadcastTo(tf.tensor(bv, [1, 3, 5, 7]), [2, 3, 5, 7])),
    }));
    const got = await withMatmulPath('wasm', () => onBackend('wasm', () => ({ y: tf.matMul(tf.tensor(av, [2, 1, 6, 5]), tf.tensor(bv, [3, 5, 7])) })));
    assertClose(got.y, ref.y, { atol: 2e-4, rtol: 2e-4 }, '[2,1,M,K] x [3,K,N]');
  });

  it('empty operands give empty or zero outputs', async () => {
    for (const [a, b] of [[[2, 0, 4], [2, 4, 3]], [[2, 3, 0], [2, 0, 5]], [[0, 3, 4], [0, 4, 5]]]) {
      const got = await withMatmulPath('wasm', () => onBackend('wasm', () => ({ y: tf.matMul(tf.zeros(a), tf.ones(b)) })));
      const want = [a[0], a[1], b[2]];
      assert.deepEqual(got.y.shape, want);
      assert.equal(got.y.values.length, size(want));
      assert.ok(got.y.values.every((v) => v === 0));
    }
  });
});
