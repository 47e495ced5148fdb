/**
 * Functional layers over ParamStore parameters. Dense layers flatten inputs to
 * 2-D before the matmul: a [B, T, d] @ [d, o] product with broadcasting would
 * make tfjs compute the weight gradient as a batched product plus a sum.
 */
import { layerNorm, rmsNorm, rope, tf } from '../engine/index.js';
import { SeededDropout } from './dropout.js';
import type { Init, ParamStore } from './params.js';

export interface LoraConfig {
  r: number;
  alpha: number;
  /** Dropout on the adapter's input while the store is in training mode (default 0). */
  dropout?: number;
}

/**
 * Where a Linear's weight sits in PyTorch checkpoints: 'out_in' for
 * torch.nn.Linear ([out, in], transposed on load/save), 'in_out' for GPT-2's
 * Conv1D ([in, out], as stored here).
 */
export type TorchLayout = 'out_in' | 'in_out';

/**
 * y = x W (+ b) (+ (alpha / r) * dropout(x) A B), W: [in, out]. LoRA's B
 * starts at zero (PEFT semantics), so an adapter starts as the identity
 * change; `merge` folds it into W and `unmerge` takes it out again.
 */
/** A 32-bit seed from a module name (FNV-1a), so each adapter draws its own masks. */
function nameSeed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Linear {
  readonly W: tf.Variable;
  readonly b?: tf.Variable;
  A?: tf.Variable;
  B?: tf.Variable;
  scaling = 0;
  loraDropout = 0;
  /** The adapter's dropout stream (seeded by the layer's name and the store's dropoutStream). */
  private loraDrop?: SeededDropout;
  /** The adapter is folded into W (and skipped in apply). */
  merged = false;

  constructor(private readonly store: ParamStore, readonly name: string, readonly inDim: number, readonly outDim: number, bias = true,
    layout: TorchLayout = 'out_in', init?: Init) {
    // Kaiming-uniform(a = sqrt(5)) as in torch.nn.Linear: limit = 1 / sqrt(in).
    const limit = 1 / Math.sqrt(inDim);
    this.W = store.add(`${name}.weight`, [inDim, outDim], init ?? { kind: 'uniform', limit });
    if (layout === 'out_in') store.markTransposed(`${name}.weight`);
    if (bias) this.b = store.add(`${name}.bias`, [outDim], init ? { kind: 'zeros' } : { kind: 'uniform', limit });
    store.modules.set(name, this);
  }

  /** Adds a LoRA adapter (A: [in, r] Kaiming-uniform as PEFT's, B: [r, out] zeros). */
  addLora(store: ParamStore, cfg: LoraConfig): void {
    if (!Number.isInteger(cfg.r) || cfg.r <= 0) throw new Error(`LoRA rank must be a positive integer, got ${cfg.r}`);
    if (this.A) throw new Error(`${this.name} already has a LoRA adapter`);
    this.A = store.add(`${this.name}.lora_A.weight`, [this.inDim, cfg.r], { kind: 'uniform', limit: 1 / Math.sqrt(this.inDim) });
    this.B = store.add(`${this.name}.lora_B.weight`, [cfg.r, this.outDim], { kind: 'zeros' });
    // PEFT stores lora_A.weight as [r, in] and lora_B.weight as [out, r].
    store.markTransposed(`${this.name}.lora_A.weight`);
    store.markTransposed(`${this.name}.lora_B.weight`);
    this.scaling = cfg.alpha / cfg.r;
    this.loraDropout = cfg.dropout ?? 0;
    this.loraDrop = new SeededDropout(nameSeed(this.name), store);
  }

  /** W += scaling * A B (inference without the adapter's extra matmuls). */
  merge(): void {
    if (!this.A || !this.B) throw new Error(`${this.name} has no LoRA adapter to merge`);
    if (this.merged) return;
    tf.tidy(() => this.W.assign(tf.add(this.W, tf.mul(tf.matMul(this.A!, this.B!), this.scaling))));
    this.merged = true;
  }

  /** W -= scaling * A B. */
  unmerge(): void {
    if (!this.merged) return;
    tf.tidy(() => this.W.assign(tf.sub(this.W, tf.mul(tf.matMul(this.A!, this.B!), this.scaling))));
    this.merged = false;
  }

  /** Drops the adapter (unmerged first unless `keepMerged`). */
  removeLora(keepMerged = false): void {
    if (!this.A) return;
    if (this.merged && !keepMerged) this.unmerge();
    this.store.remove(`${this.name}.lora_A.weight`);
    this.store.remove(`${this.name}.lora_B.weight`);
    this.A = this.B = undefined;
    this.merged = false;
  }

  apply(x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, this.inDim]);
    let y = tf.matMul(x2 as tf.Tensor2D, this.W);
    if (this.b) y = tf.add(y, this.b);
    if (this.A && this.B && !this.merged) {
      const xa = this.store.training && this.loraDropout > 0 && this.loraDrop ? this.loraDrop.apply(x2, this.loraDropout) : x2;
      y = tf.add(y, tf.mul(tf.matMul(tf.matMul(xa as tf.Tensor2D, this.A), this.B), this.scaling));
    }
    return x.rank === 2 ? y : tf.reshape(y, [...lead, this.outDim]);
  }
}

export class Embedding {
  readonly table: tf.Variable;
  constructor(store: ParamStore, name: string, readonly num: number, readonly dim: number, std = 1) {
    this.table = store.add(`${name}.weight`, [num, dim], { kind: 'normal', std });
  }
  apply(ids: tf.Tensor): tf.Tensor {
    return tf.gather(this.table, ids);
  }
}

export class LayerNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  constructor(store: ParamStore, name: string, readonly dim: number, readonly eps = 1e-5) {
    this.gamma = store.add(`${name}.weight`, [dim], { kind: 'ones' });
    this.beta = store.add(`${name}.bias`, [dim], { kind: 'zeros' });
  }
  apply(x: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.gamma as tf.Tensor1D, this.beta as tf.Tensor1D, this.eps);
  }
}

export class RMSNorm {
  readonly weight: tf.Variable;
  constructor(store: ParamStore, name: string, readonly dim: number, readonly eps = 1e-6) {
    this.weight = store.add(`${name}.weight`, [dim], { kind: 'ones' });
  }
  /** x / sqrt(mean(x^2) + eps) * weight over the last axis, one fused kernel each way (src/engine/kernels/rmsnorm.ts). */
  apply(x: tf.Tensor): tf.Tensor {
    return rmsNorm(x, this.weight as tf.Tensor1D, this.eps);
  }
}

/** SiLU(x) = x * sigmoid(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** Rotary tables cos/sin of shape [T, headDim] (HF LLaMA rotate_half layout). */
export function ropeTables(T: number, headDim: number, theta = 10000): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const half = headDim / 2;
  const cos = new Float32Array(T * headDim);
  const sin = new Float32Array(T * headDim);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const ang = t / Math.pow(theta, (2 * i) / headDim);
      cos[t * headDim + i] = cos[t * headDim + i + half] = Math.cos(ang);
      sin[t * headDim + i] = sin[t * headDim + i + half] = Math.sin(ang);
    }
  }
  return { cos: tf.tensor2d(cos, [T, headDim]), sin: tf.tensor2d(sin, [T, headDim]) };
}

/** x * cos + rotate_half(x) * sin for x [..., T, headDim]. */
export function applyRope(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  return rope(x, cos, sin);
}
