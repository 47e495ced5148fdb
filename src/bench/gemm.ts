/**
 * GEMM throughput of the engine's matmul (tf.matMul through our BatchMatMul
 * kernel, on each path) beside OpenBLAS called directly on plain arrays.
 */
import { tf, blasAddon, setMatmulPath, type MatmulPath } from '../engine/index.js';
import { Rng } from '../nn/rng.js';
import { median } from './stats.js';

export type GemmVariant = 'plain' | 'transA' | 'transB' | 'batched' | 'attn_scores' | 'attn_context';

export interface GemmShape { batch: number; M: number; N: number; K: number; tA: boolean; tB: boolean }

/**
 * The attention products of `batch` heads of length L and head dim d:
 * scores Q Kᵀ ([b, L, d] x [b, d, L]) and context P V ([b, L, L] x [b, L, d]).
 */
export function attentionGemmShape(variant: 'attn_scores' | 'attn_context', batch: number, L: number, d: number): GemmShape {
  return variant === 'attn_scores'
    ? { batch, M: L, N: L, K: d, tA: false, tB: true }
    : { batch, M: L, N: d, K: L, tA: false, tB: false };
}

/** The attention shapes of the GEMM sweep: [batch x heads, L, head dim] of SASRec (256, 50, 64), the LM bench (32, 128, 32) and a long one (16, 200, 64). */
export const ATTENTION_GEMM_SHAPES: Array<{ batch: number; L: number; d: number }> = [
  { batch: 256, L: 50, d: 64 }, { batch: 32, L: 128, d: 32 }, { batch: 16, L: 200, d: 64 },
];

/** size 0 with 'batched' means the SASRec attention-score shape 256 x [50x64 @ 64x50]. */
export function gemmShape(size: number, variant: GemmVariant): GemmShape {
  if (variant === 'attn_scores' || variant === 'attn_context') throw new Error(`gemmShape: use attentionGemmShape for ${variant}`);
  if (variant === 'batched') {
    return size === 0
      ? { batch: 256, M: 50, N: 50, K: 64, tA: false, tB: true }
      : { batch: 8, M: size, N: size, K: size, tA: false, tB: false };
  }
  return { batch: 1, M: size, N: size, K: size, tA: variant === 'transA', tB: variant === 'transB' };
}

export function gemmFlops(s: GemmShape): number {
  return 2 * s.batch * s.M * s.N * s.K;
}

function timeIt(fn: () => void, minMs: number, minReps: number): number {
  fn(); // warm-up
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < minMs) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/**
 * Median ms of one tf.matMul on the given path. The wasm backend runs a kernel
 * synchronously inside the call, so the product is complete when tf.matMul
 * returns; the result is not read back per call (a copy of the whole output
 * into a fresh JS array, which neither OpenBLAS called directly nor PyTorch's
 * timing includes: at 512^2 it cost 0.2-5 ms, docs/PERF.md "GEMM read-back").
 * One product is read back after the timing and checked against a direct
 * OpenBLAS product when the addon is present (a guard that the timed calls computed).
 */
export function timeEngineGemm(s: GemmShape, path: MatmulPath, minMs = 500): number {
  setMatmulPath(path);
  const rng = new Rng(7);
  const aShape = s.tA ? [s.K, s.M] : [s.M, s.K];
  const bShape = s.tB ? [s.N, s.K] : [s.K, s.N];
  const A = rng.uniformArray(s.batch * s.M * s.K, -1, 1);
  const B = rng.uniformArray(s.batch * s.K * s.N, -1, 1);
  const a = tf.tensor(A, s.batch > 1 ? [s.batch, ...aShape] : aShape);
  const b = tf.tensor(B, s.batch > 1 ? [s.batch, ...bShape] : bShape);
  const ms = timeIt(() => {
    tf.matMul(a, b, s.tA, s.tB).dispose();
  }, minMs, 3);
  const c = tf.matMul(a, b, s.tA, s.tB);
  const got = c.dataSync() as Float32Array;
  tf.dispose([a, b, c]);
  const blas = blasAddon();
  if (blas) {
    const ref = new Float32Array(s.batch * s.M * s.N);
    blas.sgemmBatched(s.tA, s.tB, s.M, s.N, s.K, s.batch, A, 0, s.M * s.K, B, 0, s.K * s.N, ref, 0, s.M * s.N, 1, 0);
    for (let i = 0; i < ref.length; i++) {
      if (!(Math.abs(got[i] - ref[i]) <= 1e-3 * (1 + Math.abs(ref[i])))) {
        throw new Error(`GEMM bench ${s.M}x${s.N}x${s.K} (path ${path}): element ${i} is ${got[i]}, OpenBLAS gives ${ref[i]}`);
      }
    }
  }
  return ms;
}

/** Median ms of OpenBLAS sgemm on plain Float32Arrays (no tfjs), or null without the addon. */
export function timeDirectBlas(s: GemmShape, minMs = 500): number | null {
  const blas = blasAddon();
  if (!blas) return null;
  const rng = new Rng(7);
  const A = rng.uniformArray(s.batch * s.M * s.K, -1, 1);
  const B = rng.uniformArray(s.batch * s.K * s.N, -1, 1);
  const C = new Float32Array(s.batch * s.M * s.N);
  return timeIt(() => blas.sgemmBatched(s.tA, s.tB, s.M, s.N, s.K, s.batch, A, 0, s.M * s.K, B, 0, s.K * s.N, C, 0, s.M * s.N, 1, 0), minMs, 3);
}
