/**
 * Fused softmax cross-entropy with integer labels (two kernels, forward and
 * backward), registered for the wasm and cpu backends.
 *
 * The tfjs formulation needs a one-hot label matrix and two passes of the
 * wasm Exp kernel (about 10 ns an element, no SIMD exp): for a LM head of
 * 1,024 positions x 2,048 tokens that was ~100 ms of a 176 ms training step.
 * Here: one pass computing row loss and softmax (native C when the addon is
 * loaded, the SIMD wasm module's on the pure-wasm path, JS on the cpu
 * backend), and a backward pass probs - onehot.
 * Labels outside [0, V) are ignored (zero loss and zero gradient), like
 * PyTorch's ignore_index.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { activeAddon } from '../state.js';
import { fusedKernelConfigs } from './fused.js';
import { wasmSoftmaxXent, wasmSoftmaxXentGrad } from './wasm_gemm.js';

export const XENT = 'LlmrecSoftmaxXent';
export const XENT_GRAD = 'LlmrecSoftmaxXentGrad';

function check(logits: TensorInfo, labels: TensorInfo): [number, number] {
  if (logits.shape.length !== 2) throw new Error(`softmax cross-entropy: logits must be [N, V], got [${logits.shape}]`);
  if (labels.dtype !== 'int32' || labels.shape.length !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new Error(`softmax cross-entropy: labels must be int32 [${logits.shape[0]}], got ${labels.dtype} [${labels.shape}]`);
  }
  return [logits.shape[0], logits.shape[1]];
}

export function xentForwardJs(x: Float32Array, y: Int32Array, N: number, V: number, loss: Float32Array, p: Float32Array): void {
  for (let n = 0; n < N; n++) {
    const o = n * V;
    let mx = -Infinity;
    for (let v = 0; v < V; v++) if (x[o + v] > mx) mx = x[o + v];
    let sum = 0;
    for (let v = 0; v < V; v++) { const e = Math.exp(x[o + v] - mx); p[o + v] = e; sum += e; }
    const inv = 1 / sum;
    for (let v = 0; v < V; v++) p[o + v] *= inv;
    const t = y[n];
    loss[n] = t >= 0 && t < V ? Math.log(sum) + mx - x[o + t] : 0;
  }
}

export function xentBackwardJs(p: Float32Array, y: Int32Array, dy: Float32Array, N: number, V: number, out: Float32Array): void {
  for (let n = 0; n < N; n++) {
    const o = n * V;
    const t = y[n];
    const g = t >= 0 && t < V ? dy[n] : 0;
    for (let v = 0; v < V; v++) out[o + v] = g * p[o + v];
    if (t >= 0 && t < V) out[o + t] -= g;
  }
}

export const xentConfigs = [
  ...fusedKernelConfigs<Record<string, never>>({
    name: XENT,
    inputs: ['logits', 'labels'],
    outputs: ([logits, labels]) => {
      const [N, V] = check(logits, labels);
      return [{ shape: [N], dtype: 'float32' }, { shape: [N, V], dtype: 'float32' }];
    },
    run: ([x, y], [l, p], [logits, labels], _attrs, backend) => {
      const [N, V] = check(logits, labels);
      if (N === 0) return;
      const args = [x as Float32Array, y as Int32Array, N, V, l as Float32Array, p as Float32Array] as const;
      const addon = activeAddon();
      if (addon) addon.softmaxXent(...args);
      else if (!(backend && wasmSoftmaxXent(backend, ...args))) xentForwardJs(...args);
    },
  }),
  ...fusedKernelConfigs<Record<string, never>>({
    name: XENT_GRAD,
    inputs: ['probs', 'labels', 'dy'],
    outputs: ([probs, labels]) => [{ shape: check(probs, labels), dtype: 'float32' }],
    run: ([p, y, g], [o], [probs, labels], _attrs, backend) => {
      const [N, V] = check(probs, labels);
      if (N === 0) return;
      const args = [p as Float32Array, y as Int32Array, g as Float32Array, N, V, o as Float32Array] as const;
      const addon = activeAddon();
      if (addon) addon.softmaxXentGrad(...args);
      else if (!(backend && wasmSoftmaxXentGrad(backend, ...args))) xentBackwardJs(...args);
    },
  }),
];
