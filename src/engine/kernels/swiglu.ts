/**
 * SwiGLU, the LLaMA-family MLP gate, one kernel each way (docs/PERF.md
 * "SwiGLU on the addon path"):
 *   forward   y = silu(g) u = g sigmoid(g) u
 *   backward  dg = dy u (s + g s (1 - s)),  du = dy g s,  s = sigmoid(g)
 * instead of Sigmoid, two products and about five gradient ops. The op
 * (ops.ts `swiglu`) uses these kernels only when the native addon is active:
 * there the C loop (native/kernels.c, vectorised exp) runs; the pure-wasm
 * path keeps the composition, whose XNNPACK sigmoid measured faster than a
 * fused SIMD wasm loop. The JS loops below serve the cpu backend (tests).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { activeAddon } from '../state.js';
import { fusedKernelConfigs } from './fused.js';

export const SWIGLU = 'LlmrecSwiGlu';
export const SWIGLU_GRAD = 'LlmrecSwiGluGrad';

function sameShape(ts: TensorInfo[], names: string[], what: string): number {
  const s = ts[0].shape;
  ts.forEach((t, i) => {
    if (t.dtype !== 'float32' || t.shape.join() !== s.join()) {
      throw new Error(`${what}: ${names.join(', ')} must be float32 of one shape, got ${names[i]} ${t.dtype} [${t.shape}] against [${s}]`);
    }
  });
  return s.reduce((a, b) => a * b, 1);
}

export function swigluForward(g: Float32Array, u: Float32Array, n: number, y: Float32Array): void {
  for (let i = 0; i < n; i++) y[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
}

export function swigluBackward(dy: Float32Array, g: Float32Array, u: Float32Array, n: number, dg: Float32Array, du: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const s = 1 / (1 + Math.exp(-g[i]));
    const gs = g[i] * s;
    du[i] = dy[i] * gs;
    dg[i] = dy[i] * u[i] * (s + gs * (1 - s));
  }
}

export const swigluConfigs = [
  ...fusedKernelConfigs<Record<string, never>>({
    name: SWIGLU,
    inputs: ['g', 'u'],
    outputs: ([g, u]) => {
      sameShape([g, u], ['g', 'u'], SWIGLU);
      return [{ shape: g.shape, dtype: 'float32' }];
    },
    run: ([g, u], [y], infos) => {
      const n = sameShape(infos, ['g', 'u'], SWIGLU);
      const addon = activeAddon();
      if (addon) addon.swiglu(g as Float32Array, u as Float32Array, n, y as Float32Array);
      else swigluForward(g as Float32Array, u as Float32Array, n, y as Float32Array);
    },
  }),
  ...fusedKernelConfigs<Record<string, never>>({
    name: SWIGLU_GRAD,
    inputs: ['dy', 'g', 'u'],
    outputs: ([dy, g, u]) => {
      sameShape([dy, g, u], ['dy', 'g', 'u'], SWIGLU_GRAD);
      return [{ shape: g.shape, dtype: 'float32' }, { shape: g.shape, dtype: 'float32' }];
    },
    run: (ins, [dg, du], infos) => {
      const n = sameShape(infos, ['dy', 'g', 'u'], SWIGLU_GRAD);
      const [dy, g, u] = ins as Float32Array[];
      const addon = activeAddon();
      if (addon) addon.swigluGrad(dy, g, u, n, dg as Float32Array, du as Float32Array);
      else swigluBackward(dy, g, u, n, dg as Float32Array, du as Float32Array);
    },
  }),
];
