/**
 * Fused softmax cross-entropy with integer labels (two kernels, forward and
 * backward), registered for the wasm and cpu backends.
 *
 * The tfjs formulation needs a one-hot label matrix and two passes of the
 * wasm Exp kernel (about 10 ns an element, no SIMD exp): for a LM head of
 * 1,024 positions x 2,048 tokens that was ~100 ms of a 176 ms training step.
 * Here: one pass computing row loss and softmax (native C when the addon is
 * loaded, JS otherwise), and a backward pass probs - onehot.
 * Labels outside [0, V) are ignored (zero loss and zero gradient), like
 * PyTorch's ignore_index.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '../backend.js';
import type { BlasAddon } from '../native.js';

export const XENT = 'LlmrecSoftmaxXent';
export const XENT_GRAD = 'LlmrecSoftmaxXentGrad';
export const xentState: { native: BlasAddon | null } = { native: null };

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

// wasm: in place on the heap.
function xentWasm(args: { inputs: { logits: TensorInfo; labels: TensorInfo }; backend: BackendWasm }): TensorInfo[] {
  const { inputs: { logits, labels }, backend } = args;
  const [N, V] = check(logits, labels);
  const loss = backend.makeOutput([N], 'float32');
  const probs = backend.makeOutput([N, V], 'float32');
  const x = backend.typedArrayFromHeap(logits) as Float32Array;
  const y = backend.typedArrayFromHeap(labels) as Int32Array;
  const l = backend.typedArrayFromHeap(loss) as Float32Array;
  const p = backend.typedArrayFromHeap(probs) as Float32Array;
  if (N > 0) (xentState.native ? xentState.native.softmaxXent.bind(xentState.native) : xentForwardJs)(x, y, N, V, l, p);
  return [loss, probs];
}

function xentGradWasm(args: { inputs: { probs: TensorInfo; labels: TensorInfo; dy: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { inputs: { probs, labels, dy }, backend } = args;
  const [N, V] = check(probs, labels);
  const out = backend.makeOutput([N, V], 'float32');
  const p = backend.typedArrayFromHeap(probs) as Float32Array;
  const y = backend.typedArrayFromHeap(labels) as Int32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  if (N > 0) (xentState.native ? xentState.native.softmaxXentGrad.bind(xentState.native) : xentBackwardJs)(p, y, g, N, V, o);
  return out;
}

// cpu (the reference backend in tests): copies through readSync/makeTensorInfo.
interface CpuLike {
  readSync(dataId: object): Float32Array | Int32Array;
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): TensorInfo;
}

function xentCpu(args: { inputs: { logits: TensorInfo; labels: TensorInfo }; backend: CpuLike }): TensorInfo[] {
  const { inputs: { logits, labels }, backend } = args;
  const [N, V] = check(logits, labels);
  const l = new Float32Array(N);
  const p = new Float32Array(N * V);
  xentForwardJs(backend.readSync(logits.dataId) as Float32Array, backend.readSync(labels.dataId) as Int32Array, N, V, l, p);
  return [backend.makeTensorInfo([N], 'float32', l), backend.makeTensorInfo([N, V], 'float32', p)];
}

function xentGradCpu(args: { inputs: { probs: TensorInfo; labels: TensorInfo; dy: TensorInfo }; backend: CpuLike }): TensorInfo {
  const { inputs: { probs, labels, dy }, backend } = args;
  const [N, V] = check(probs, labels);
  const o = new Float32Array(N * V);
  xentBackwardJs(backend.readSync(probs.dataId) as Float32Array, backend.readSync(labels.dataId) as Int32Array,
    backend.readSync(dy.dataId) as Float32Array, N, V, o);
  return backend.makeTensorInfo([N, V], 'float32', o);
}

export const xentConfigs: KernelConfig[] = [
  { kernelName: XENT, backendName: 'wasm', kernelFunc: xentWasm as unknown as KernelFunc },
  { kernelName: XENT_GRAD, backendName: 'wasm', kernelFunc: xentGradWasm as unknown as KernelFunc },
  { kernelName: XENT, backendName: 'cpu', kernelFunc: xentCpu as unknown as KernelFunc },
  { kernelName: XENT_GRAD, backendName: 'cpu', kernelFunc: xentGradCpu as unknown as KernelFunc },
];
