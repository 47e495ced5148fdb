/**
 * Fused RMSNorm over the last axis (LLaMA, Qwen2, Mistral, T5's layer norm),
 * forward and backward, one kernel each way instead of ~6 forward and ~15
 * backward tfjs ops:
 *   forward   rstd = 1 / sqrt(mean(x^2) + eps), y = x * rstd * gamma, also
 *             returning rstd;
 *   backward  g = dy * gamma, dx = rstd * (g - x * rstd^2 * mean(g * x)),
 *             dgamma = sum over rows of dy * x * rstd.
 * Implementations: the SIMD wasm module (native/wasm/gemm.c `rms_norm`,
 * row sums in float32 lanes, dgamma in float64) on both engine paths, else
 * the JS loops below (cpu backend; statistics in float64).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { fusedKernelConfigs } from './fused.js';
import { wasmRmsNorm, wasmRmsNormGrad } from './wasm_gemm.js';

export const RMS_NORM = 'LlmrecRmsNorm';
export const RMS_NORM_GRAD = 'LlmrecRmsNormGrad';

function rowsOf(x: TensorInfo, gamma: TensorInfo, what: string): [number, number] {
  if (x.dtype !== 'float32' || x.shape.length < 1) throw new Error(`${what}: x must be float32 with rank >= 1, got ${x.dtype} [${x.shape}]`);
  const D = x.shape[x.shape.length - 1];
  if (gamma.dtype !== 'float32' || gamma.shape.length !== 1 || gamma.shape[0] !== D) {
    throw new Error(`${what}: gamma must be float32 [${D}], got ${gamma.dtype} [${gamma.shape}]`);
  }
  const N = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return [N, D];
}

export function rmsNormForward(x: Float32Array, gamma: Float32Array, N: number, D: number, eps: number, y: Float32Array, rstd: Float32Array): void {
  for (let n = 0; n < N; n++) {
    const o = n * D;
    let v = 0;
    for (let j = 0; j < D; j++) v += x[o + j] * x[o + j];
    const r = 1 / Math.sqrt(v / D + eps);
    rstd[n] = r;
    for (let j = 0; j < D; j++) y[o + j] = x[o + j] * r * gamma[j];
  }
}

export function rmsNormBackward(dy: Float32Array, x: Float32Array, rstd: Float32Array, gamma: Float32Array, N: number, D: number,
  dx: Float32Array, dgamma: Float32Array): void {
  const dg = new Float64Array(D);
  for (let n = 0; n < N; n++) {
    const o = n * D;
    const r = rstd[n];
    let sgx = 0;
    for (let j = 0; j < D; j++) {
      sgx += dy[o + j] * gamma[j] * x[o + j];
      dg[j] += dy[o + j] * x[o + j] * r;
    }
    const c = (r * r * sgx) / D;
    for (let j = 0; j < D; j++) dx[o + j] = r * (dy[o + j] * gamma[j] - x[o + j] * c);
  }
  for (let j = 0; j < D; j++) dgamma[j] = dg[j];
}

export const rmsNormConfigs = [
  ...fusedKernelConfigs<{ eps: number }>({
    name: RMS_NORM,
    inputs: ['x', 'gamma'],
    outputs: ([x, gamma]) => {
      const [N] = rowsOf(x, gamma, RMS_NORM);
      return [{ shape: x.shape, dtype: 'float32' }, { shape: [N], dtype: 'float32' }];
    },
    run: ([x, g], [y, r], [xi, gi], { eps }, backend) => {
      const [N, D] = rowsOf(xi, gi, RMS_NORM);
      const args = [x as Float32Array, g as Float32Array, N, D, eps, y as Float32Array, r as Float32Array] as const;
      if (!(backend && wasmRmsNorm(backend, ...args))) rmsNormForward(...args);
    },
  }),
  ...fusedKernelConfigs<Record<string, never>>({
    name: RMS_NORM_GRAD,
    inputs: ['dy', 'x', 'rstd', 'gamma'],
    outputs: ([dy, x, rstd, gamma]) => {
      const [N, D] = rowsOf(x, gamma, RMS_NORM_GRAD);
      if (dy.shape.join() !== x.shape.join()) throw new Error(`${RMS_NORM_GRAD}: dy [${dy.shape}] must match x [${x.shape}]`);
      if (rstd.shape.length !== 1 || rstd.shape[0] !== N) throw new Error(`${RMS_NORM_GRAD}: rstd must be [${N}], got [${rstd.shape}]`);
      return [{ shape: x.shape, dtype: 'float32' }, { shape: [D], dtype: 'float32' }];
    },
    run: (ins, outs, infos, _attrs, backend) => {
      const [N, D] = rowsOf(infos[1], infos[3], RMS_NORM_GRAD);
      const [dy, x, rstd, gamma] = ins as Float32Array[];
      const [dx, dgamma] = outs as Float32Array[];
      if (!(backend && wasmRmsNormGrad(backend, dy, x, rstd, gamma, N, D, dx, dgamma))) rmsNormBackward(dy, x, rstd, gamma, N, D, dx, dgamma);
    },
  }),
];
