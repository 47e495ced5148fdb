/**
 * Two threads on the pure-wasm path (src/engine/kernels/wasm_threads.ts): the
 * SIMD GEMM split between the main thread and a worker gives the same result
 * bit for bit as one thread, and matches the tfjs cpu backend (values and
 * gradients) on edge shapes: batch split (odd batch, broadcast operands),
 * row split (M not a multiple of 8, M < 8, transposed A), plain 2-D products
 * (routed from XNNPACK to the split GEMM), fused attention.
 * The flop threshold is set to 0 so that small shapes take the threaded path.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { engineInfo, fusedAttention, attentionReference, causalMask, setGemmThreadPolicy, stopGemmWorker, tf } from '../src/engine/index.js';
import { gemmThreads } from '../src/engine/kernels/wasm_threads.js';
import { Rng, assertClose, onBackend, randn, ready, withMatmulPath, type Plain } from './helpers.js';

await ready();

after(async () => {
  await stopGemmWorker();
  setGemmThreadPolicy(1, 2 * 256 ** 3);
});

/** `grad: false` for broadcast operands (tfjs's BatchMatMul gradient does not reduce a broadcast batch). */
interface Case { a: number[]; b: number[]; tA: boolean; tB: boolean; grad?: false }

const CASES: Case[] = [
  { a: [4, 20, 12], b: [4, 12, 9], tA: false, tB: false },
  { a: [3, 20, 12], b: [3, 9, 12], tA: false, tB: true },
  { a: [5, 12, 20], b: [12, 9], tA: true, tB: false, grad: false }, // broadcast B, odd batch
  { a: [20, 12], b: [2, 9, 12], tA: false, tB: true, grad: false }, // broadcast A
  { a: [37, 16], b: [16, 11], tA: false, tB: false }, // plain 2-D (XNNPACK otherwise), row split
  { a: [16, 37], b: [16, 11], tA: true, tB: false }, // row split of a transposed A
  { a: [6, 5], b: [7, 5], tA: false, tB: true }, // M < 8: the worker gets no rows
  { a: [2, 1, 9], b: [2, 9, 1], tA: false, tB: false },
];

function run(c: Case, seed: number) {
  const rng = new Rng(seed);
  const av = randn(rng, c.a);
  const bv = randn(rng, c.b);
  return () => {
    const a = tf.tensor(av, c.a);
    const b = tf.tensor(bv, c.b);
    const y = tf.matMul(a, b, c.tA, c.tB);
    if (c.grad === false) return { y } as { y: tf.Tensor; da?: tf.Tensor; db?: tf.Tensor };
    const w = tf.tensor(randn(new Rng(seed + 1000), y.shape), y.shape);
    const [da, db] = tf.grads((x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, z, c.tA, c.tB), w)))([a, b]);
    return { y, da, db } as { y: tf.Tensor; da?: tf.Tensor; db?: tf.Tensor };
  };
}

function sameBits(a: Plain, b: Plain, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  for (let i = 0; i < a.values.length; i++) {
    if (!Object.is(a.values[i], b.values[i])) assert.fail(`${what}: element ${i} is ${a.values[i]} on 2 threads, ${b.values[i]} on 1`);
  }
}

describe('wasm path on two threads', () => {
  it('doctor/engineInfo reports the thread count', () => {
    setGemmThreadPolicy(2, 0);
    assert.equal(engineInfo().wasmThreads, 2);
    assert.equal(engineInfo().wasmMinFlops, 0);
    setGemmThreadPolicy(1, 0);
    assert.equal(engineInfo().wasmThreads, 1);
    assert.throws(() => setGemmThreadPolicy(0, 0), /positive integer/);
  });

  it('matMul values and gradients: same bits as one thread, close to the cpu backend', async () => {
    let seed = 1;
    for (const c of CASES) {
      const what = `a [${c.a}]${c.tA ? 'ᵀ' : ''} b [${c.b}]${c.tB ? 'ᵀ' : ''}`;
      const f = run(c, seed++);
      const ref = await onBackend('cpu', f);
      setGemmThreadPolicy(1, 0);
      const one = await withMatmulPath('wasm', () => onBackend('wasm', f));
      setGemmThreadPolicy(2, 0);
      const two = await withMatmulPath('wasm', () => onBackend('wasm', f));
      assert.equal(gemmThreads.failure, null, `${what}: ${gemmThreads.failure}`);
      for (const k of (c.grad === false ? ['y'] : ['y', 'da', 'db']) as Array<'y' | 'da' | 'db'>) {
        assertClose(two[k], ref[k], { atol: 1e-4, rtol: 1e-4 }, `${what} ${k} vs cpu`);
        // The plain 2-D product runs XNNPACK on one thread and the SIMD GEMM on two: close, not equal.
        if (!(c.a.length === 2 && c.b.length === 2 && !c.tA && !c.tB && k === 'y')) sameBits(two[k], one[k], `${what} ${k}`);
      }
    }
    assert.ok(gemmThreads.worker != null, 'the worker ran');
  });

  it('fused attention (batch split of every GEMM) equals the cpu composition', async () => {
    const rng = new Rng(9);
    const shape = [3, 2, 13, 8];
    const [qv, kv, vv, wv] = [randn(rng, shape), randn(rng, shape), randn(rng, shape), randn(rng, shape)];
    const f = (attn: typeof fusedAttention) => () => {
      const [q, k, v, w] = [qv, kv, vv, wv].map((x) => tf.tensor(x, shape));
      const mask = causalMask(13);
      const y = attn(q, k, v, { mask });
      const [dq, dk, dv] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attn(a, b, c, { mask }), w)))([q, k, v]);
      return { y, dq, dk, dv };
    };
    const ref = await onBackend('cpu', f(attentionReference));
    setGemmThreadPolicy(2, 0);
    const got = await withMatmulPath('wasm', () => onBackend('wasm', f(fusedAttention)));
    for (const k of ['y', 'dq', 'dk', 'dv'] as const) assertClose(got[k], ref[k], { atol: 2e-4, rtol: 2e-4 }, `attention ${k}`);
  });
});
