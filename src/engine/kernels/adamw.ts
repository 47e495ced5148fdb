/**
 * Fused AdamW update (torch.optim.AdamW semantics), one pass per parameter
 * instead of ~12 tfjs ops, each a full pass and a new tensor:
 *   g' = g * gradScale
 *   m' = b1 m + (1 - b1) g';  v' = b2 v + (1 - b2) g'^2
 *   p' = p (1 - lr wd) - (lr / bc1) m' / (sqrt(v' / bc2) + eps)
 * Outputs new p, m and v (tfjs tensors are immutable; the optimizer assigns them).
 * Implementations: the addon's C, else the SIMD wasm module (both in float32
 * arithmetic), else the JS loop below (cpu backend, float64 arithmetic).
 */
import { fusedKernelConfigs } from './fused.js';
import { activeAddon } from '../state.js';
import { wasmAdamW } from './wasm_gemm.js';

export const ADAMW = 'LlmrecAdamW';

export interface AdamWAttrs { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; bc1: number; bc2: number; gradScale: number }

export function adamwUpdate(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, a: AdamWAttrs,
  pOut: Float32Array, mOut: Float32Array, vOut: Float32Array): void {
  const { beta1: b1, beta2: b2, eps, gradScale } = a;
  const decay = 1 - a.lr * a.weightDecay;
  const step = a.lr / a.bc1;
  const invBc2 = 1 / a.bc2;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] * gradScale;
    const mi = b1 * m[i] + (1 - b1) * gi;
    const vi = b2 * v[i] + (1 - b2) * gi * gi;
    mOut[i] = mi;
    vOut[i] = vi;
    pOut[i] = p[i] * decay - (step * mi) / (Math.sqrt(vi * invBc2) + eps);
  }
}

export const adamwConfigs = fusedKernelConfigs<AdamWAttrs>({
  name: ADAMW,
  inputs: ['p', 'g', 'm', 'v'],
  outputs: (ins) => {
    const shape = ins[0].shape;
    for (const [i, n] of ['p', 'g', 'm', 'v'].entries()) {
      if (ins[i].dtype !== 'float32' || ins[i].shape.join() !== shape.join()) {
        throw new Error(`${ADAMW}: '${n}' must be float32 [${shape}], got ${ins[i].dtype} [${ins[i].shape}]`);
      }
    }
    return [0, 1, 2].map(() => ({ shape, dtype: 'float32' as const }));
  },
  run: ([p, g, m, v], [po, mo, vo], _infos, a, backend) => {
    const addon = activeAddon();
    if (addon) {
      addon.adamw(p as Float32Array, g as Float32Array, m as Float32Array, v as Float32Array, a.lr, a.beta1, a.beta2, a.eps,
        a.weightDecay, a.bc1, a.bc2, a.gradScale, po as Float32Array, mo as Float32Array, vo as Float32Array);
      return;
    }
    if (backend && wasmAdamW(backend, p as Float32Array, g as Float32Array, m as Float32Array, v as Float32Array, a,
      po as Float32Array, mo as Float32Array, vo as Float32Array)) return;
    adamwUpdate(p as Float32Array, g as Float32Array, m as Float32Array, v as Float32Array, a,
      po as Float32Array, mo as Float32Array, vo as Float32Array);
  },
});
