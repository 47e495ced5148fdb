/**
 * State dicts in PyTorch layout. A model's parameters live in a ParamStore
 * under their Hugging Face state-dict names; the few stored transposed
 * (torch.nn.Linear weights, LoRA A/B) are transposed on the way in and out,
 * so files written here load in PyTorch and vice versa.
 */
import { tf } from '../engine/index.js';
import type { ParamStore } from '../nn/index.js';
import { type SafeTensor, toFloat32 } from '../io/safetensors.js';

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c];
  }
  return out;
}

/** Every parameter (or those `select` keeps) as F32 tensors in PyTorch layout, in registration order. */
export function exportStateDict(store: ParamStore, select: (name: string) => boolean = () => true): Map<string, SafeTensor> {
  const out = new Map<string, SafeTensor>();
  for (const [name, v] of store.vars) {
    if (!select(name)) continue;
    const data = v.dataSync() as Float32Array;
    if (store.transposed.has(name)) {
      const [r, c] = v.shape as [number, number];
      out.set(name, { dtype: 'F32', shape: [c, r], data: transpose2d(data, r, c) });
    } else {
      out.set(name, { dtype: 'F32', shape: [...v.shape], data: data.slice() });
    }
  }
  return out;
}

export interface LoadStateDictOptions {
  /** Throw when a parameter of the store has no tensor (default true). */
  strict?: boolean;
  /** Tensor names to ignore when unused (e.g. rotary caches, `attn.bias` buffers). */
  ignore?: (name: string) => boolean;
  /** Where the tensors came from, for error messages. */
  source?: string;
}

export interface LoadStateDictResult {
  loaded: string[];
  missing: string[];
  unexpected: string[];
}

/**
 * Assigns tensors (PyTorch layout, any float dtype incl. F16/BF16) to the
 * store's parameters by name. Shapes are checked before anything is
 * assigned, so a failed load leaves the store untouched.
 */
export function loadStateDict(store: ParamStore, tensors: Map<string, SafeTensor>, opts: LoadStateDictOptions = {}): LoadStateDictResult {
  const src = opts.source ? ` (${opts.source})` : '';
  const plan: Array<[string, tf.Variable, Float32Array]> = [];
  const missing: string[] = [];
  for (const [name, v] of store.vars) {
    const t = tensors.get(name);
    if (!t) { missing.push(name); continue; }
    const tr = store.transposed.has(name);
    const want: number[] = tr ? [v.shape[1]!, v.shape[0]!] : v.shape;
    if (t.shape.length !== want.length || t.shape.some((s, i) => s !== want[i])) {
      throw new Error(`state dict${src}: tensor '${name}' has shape [${t.shape}], the model expects [${want}]`);
    }
    let data = toFloat32(t);
    if (tr) data = transpose2d(data, want[0]!, want[1]!);
    plan.push([name, v, data]);
  }
  if ((opts.strict ?? true) && missing.length > 0) {
    throw new Error(`state dict${src}: missing ${missing.length} parameter(s): ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}`);
  }
  const unexpected = [...tensors.keys()].filter((n) => !store.has(n) && !(opts.ignore?.(n) ?? false));
  for (const [, v, data] of plan) {
    tf.tidy(() => v.assign(tf.tensor(data, v.shape, 'float32')));
  }
  return { loaded: plan.map(([name]) => name), missing, unexpected };
}
