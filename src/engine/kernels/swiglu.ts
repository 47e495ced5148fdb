/**
 * SwiGLU's gate, y = silu(g) * u = g * sigmoid(g) * u (the LLaMA / Qwen2 /
 * Mistral MLP: down(silu(gate(x)) * up(x))), one kernel each way instead of
 * 3 forward and ~7 backward tfjs ops:
 *   backward  s = sigmoid(g), du = dy * g * s, dg = dy * u * s * (1 + g (1 - s)).
 * Implementations: the SIMD wasm module (native/wasm/gemm.c `swiglu`, exp by
 * the Cephes polynomial) on both engine paths, else the JS loops below (cpu
 * backend).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { fusedKernelConfigs } from './fused.js';
import { wasmSwiglu, wasmSwigluGrad } from './wasm_gemm.js';

export const SWIGLU = 'LlmrecSwiglu';
export const SWIGLU_GRAD = 'LlmrecSwigluGrad';

function sameShape(what: string, names: string[], ts: TensorInfo[]): number[] {
  const shape = ts[0].shape;
  ts.forEach((t, i) => {
    if (t.dtype !== 'float32' || t.shape.join() !== shape.join()) {
      throw new Error(`${what}: '${names[i]}' must be float32 [${shape}] like '${names[0]}', got ${t.dtype} [${t.shape}]`);
    }
  });
  return shape;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export const swigluConfigs = [
  ...fusedKernelConfigs<Record<string, never>>({
    name: SWIGLU,
    inputs: ['g', 'u'],
    outputs: (ins) => [{ shape: sameShape(SWIGLU, ['g', 'u'], ins), dtype: 'float32' }],
    run: ([g, u], [y], _infos, _a, backend) => {
      const [gf, uf, yf] = [g, u, y] as Float32Array[];
      if (backend && wasmSwiglu(backend, gf, uf, yf)) return;
      for (let i = 0; i < yf.length; i++) yf[i] = gf[i] * sigmoid(gf[i]) * uf[i];
    },
  }),
  ...fusedKernelConfigs<Record<string, never>>({
    name: SWIGLU_GRAD,
    inputs: ['dy', 'g', 'u'],
    outputs: (ins) => {
      const shape = sameShape(SWIGLU_GRAD, ['dy', 'g', 'u'], ins);
      return [{ shape, dtype: 'float32' }, { shape, dtype: 'float32' }];
    },
    run: ([dy, g, u], [dg, du], _infos, _a, backend) => {
      const [d, gf, uf, dgf, duf] = [dy, g, u, dg, du] as Float32Array[];
      if (backend && wasmSwigluGrad(backend, d, gf, uf, dgf, duf)) return;
      for (let i = 0; i < d.length; i++) {
        const s = sigmoid(gf[i]);
        duf[i] = d[i] * gf[i] * s;
        dgf[i] = d[i] * uf[i] * s * (1 + gf[i] * (1 - s));
      }
    },
  }),
];
