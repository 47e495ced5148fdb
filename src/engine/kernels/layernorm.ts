/**
 * Fused LayerNorm over the last axis, forward and backward (one kernel each
 * way instead of ~10 forward and ~25 backward tfjs ops, each a full pass over
 * the activations):
 *   forward   y = (x - mean) * rstd * gamma + beta, also returning mean and
 *             rstd = 1 / sqrt(var + eps) (biased variance, as torch);
 *   backward  xhat = (x - mean) * rstd, g = dy * gamma,
 *             dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
 *             dgamma = sum over rows of dy * xhat, dbeta = sum of dy.
 * Implementations: the addon's C (native/kernels.c), else the SIMD wasm module
 * (native/wasm/gemm.c: row statistics in float32 lanes, the sums over rows in
 * float64), else the JS loops below (cpu backend; statistics in float64).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type F32orI32, fusedKernelConfigs } from './fused.js';
import { activeAddon } from '../state.js';
import { wasmLayerNorm, wasmLayerNormGrad } from './wasm_gemm.js';

export const LAYER_NORM = 'LlmrecLayerNorm';
export const LAYER_NORM_GRAD = 'LlmrecLayerNormGrad';

function rowsOf(x: TensorInfo, gamma: TensorInfo, what: string): [number, number] {
  if (x.dtype !== 'float32' || x.shape.length < 1) throw new Error(`${what}: x must be float32 with rank >= 1, got ${x.dtype} [${x.shape}]`);
  const D = x.shape[x.shape.length - 1];
  if (gamma.shape.length !== 1 || gamma.shape[0] !== D) throw new Error(`${what}: gamma/beta must be [${D}], got [${gamma.shape}]`);
  const N = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return [N, D];
}

export function layerNormForward(x: Float32Array, gamma: Float32Array, beta: Float32Array, N: number, D: number, eps: number,
  y: Float32Array, mean: Float32Array, rstd: Float32Array): void {
  for (let n = 0; n < N; n++) {
    const o = n * D;
    let s = 0;
    for (let j = 0; j < D; j++) s += x[o + j];
    const mu = s / D;
    let v = 0;
    for (let j = 0; j < D; j++) { const c = x[o + j] - mu; v += c * c; }
    const r = 1 / Math.sqrt(v / D + eps);
    mean[n] = mu;
    rstd[n] = r;
    for (let j = 0; j < D; j++) y[o + j] = (x[o + j] - mu) * r * gamma[j] + beta[j];
  }
}

export function layerNormBackward(dy: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, gamma: Float32Array,
  N: number, D: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array): void {
  const dg = new Float64Array(D);
  const db = new Float64Array(D);
  for (let n = 0; n < N; n++) {
    const o = n * D;
    const mu = mean[n];
    const r = rstd[n];
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < D; j++) {
      const xh = (x[o + j] - mu) * r;
      const d = dy[o + j];
      const g = d * gamma[j];
      sg += g;
      sgx += g * xh;
      dg[j] += d * xh;
      db[j] += d;
    }
    const mg = sg / D;
    const mgx = sgx / D;
    for (let j = 0; j < D; j++) {
      const xh = (x[o + j] - mu) * r;
      dx[o + j] = r * (dy[o + j] * gamma[j] - mg - xh * mgx);
    }
  }
  for (let j = 0; j < D; j++) { dgamma[j] = dg[j]; dbeta[j] = db[j]; }
}

export const layerNormConfigs = [
  ...fusedKernelConfigs<{ eps: number }>({
    name: LAYER_NORM,
    inputs: ['x', 'gamma', 'beta'],
    outputs: ([x, gamma, beta]) => {
      const [N] = rowsOf(x, gamma, LAYER_NORM);
      rowsOf(x, beta, LAYER_NORM);
      return [{ shape: x.shape, dtype: 'float32' }, { shape: [N], dtype: 'float32' }, { shape: [N], dtype: 'float32' }];
    },
    run: ([x, g, b], [y, m, r], [xi, gi], { eps }, backend) => {
      const [N, D] = rowsOf(xi, gi, LAYER_NORM);
      const args = [x as Float32Array, g as Float32Array, b as Float32Array, N, D, eps, y as Float32Array, m as Float32Array, r as Float32Array] as const;
      const addon = activeAddon();
      if (addon) addon.layerNorm(...args);
      else if (!(backend && wasmLayerNorm(backend, ...args))) layerNormForward(...args);
    },
  }),
  ...fusedKernelConfigs<Record<string, never>>({
    name: LAYER_NORM_GRAD,
    inputs: ['dy', 'x', 'mean', 'rstd', 'gamma'],
    outputs: ([dy, x, mean, rstd, gamma]) => {
      const [N, D] = rowsOf(x, gamma, LAYER_NORM_GRAD);
      if (dy.shape.join() !== x.shape.join()) throw new Error(`${LAYER_NORM_GRAD}: dy [${dy.shape}] must match x [${x.shape}]`);
      if (mean.shape[0] !== N || rstd.shape[0] !== N) throw new Error(`${LAYER_NORM_GRAD}: mean/rstd must be [${N}]`);
      return [{ shape: x.shape, dtype: 'float32' }, { shape: [D], dtype: 'float32' }, { shape: [D], dtype: 'float32' }];
    },
    run: (ins: F32orI32[], outs: F32orI32[], infos, _attrs, backend) => {
      const [N, D] = rowsOf(infos[1], infos[4], LAYER_NORM_GRAD);
      const [dy, x, mean, rstd, gamma] = ins as Float32Array[];
      const [dx, dgamma, dbeta] = outs as Float32Array[];
      const addon = activeAddon();
      if (addon) addon.layerNormGrad(dy, x, mean, rstd, gamma, N, D, dx, dgamma, dbeta);
      else if (!(backend && wasmLayerNormGrad(backend, dy, x, mean, rstd, gamma, N, D, dx, dgamma, dbeta))) {
        layerNormBackward(dy, x, mean, rstd, gamma, N, D, dx, dgamma, dbeta);
      }
    },
  }),
];
