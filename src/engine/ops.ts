/**
 * Ops the engine provides on top of tfjs-core, for model code:
 *  - a numerically stable log-sigmoid whose gradient works (tf.logSigmoid's
 *    gradient crashes in tfjs 4.22: its customGrad reuses a disposed tensor);
 *  - additive attention masks (0 where attention is allowed, a large negative
 *    number elsewhere), added to the scores instead of `tf.where`, whose
 *    broadcasting gradient emits Tile and costs hundreds of ms per step.
 */
import { tf } from './backend.js';
import { XENT, XENT_GRAD } from './kernels/xent.js';
import { LAYER_NORM, LAYER_NORM_GRAD } from './kernels/layernorm.js';
import { ADAMW, type AdamWAttrs } from './kernels/adamw.js';
import { DROPOUT_MASK, type DropoutDraw } from './kernels/dropout.js';
import { RMS_NORM, RMS_NORM_GRAD } from './kernels/rmsnorm.js';
import { ROPE } from './kernels/rope.js';
import { SWIGLU, SWIGLU_GRAD } from './kernels/swiglu.js';
import { GRU_CELL, GRU_CELL_GRAD } from './kernels/gru.js';
import { GRU_SEQ, GRU_SEQ_GRAD } from './kernels/gru_seq.js';
import { ATTENTION, ATTENTION_GRAD, attentionGeometry } from './kernels/attention.js';
import { activeAddon, attentionState, type AttentionImpl } from './state.js';

/** Large negative score for masked positions: finite so a fully masked row gives a uniform softmax, not NaN. */
export const MASK_NEG = -1e9;

/** log(sigmoid(x)) = -softplus(-x), stable for large |x|, with a working gradient. */
export function logSigmoid(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.neg(tf.softplus(tf.neg(x))));
}

/** [T, T] additive causal mask: 0 on and below the diagonal, MASK_NEG above. */
export function causalMask(T: number): tf.Tensor2D {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = MASK_NEG;
  return tf.tensor2d(m, [T, T]);
}

/**
 * [B, 1, 1, T] additive key-padding mask from ids [B, T]: MASK_NEG where the
 * key is padding (id == padId), 0 elsewhere. Broadcasts over heads and queries.
 */
export function keyPaddingMask(ids: Int32Array, B: number, T: number, padId = 0): tf.Tensor4D {
  if (ids.length !== B * T) throw new Error(`keyPaddingMask: ids has ${ids.length} entries, expected B*T = ${B * T}`);
  const m = new Float32Array(B * T);
  for (let i = 0; i < ids.length; i++) if (ids[i] === padId) m[i] = MASK_NEG;
  return tf.tensor4d(m, [B, 1, 1, T]);
}

/** [B, 1, T, T] combined causal + key-padding additive mask. */
export function causalPaddingMask(ids: Int32Array, B: number, T: number, padId = 0): tf.Tensor4D {
  if (ids.length !== B * T) throw new Error(`causalPaddingMask: ids has ${ids.length} entries, expected B*T = ${B * T}`);
  const m = new Float32Array(B * T * T);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      const row = (b * T + i) * T;
      for (let j = 0; j < T; j++) {
        if (j > i || ids[b * T + j] === padId) m[row + j] = MASK_NEG;
      }
    }
  }
  return tf.tensor4d(m, [B, 1, T, T]);
}

/** [B, T, 1] multiplicative 0/1 mask of non-padding positions. */
export function timestepMask(ids: Int32Array, B: number, T: number, padId = 0): tf.Tensor3D {
  if (ids.length !== B * T) throw new Error(`timestepMask: ids has ${ids.length} entries, expected B*T = ${B * T}`);
  const m = new Float32Array(B * T);
  for (let i = 0; i < ids.length; i++) m[i] = ids[i] === padId ? 0 : 1;
  return tf.tensor3d(m, [B, T, 1]);
}

/**
 * Mean softmax cross-entropy of logits [N, V] against integer labels [N]
 * (labels outside [0, V) are ignored: zero loss and gradient, but still
 * counted in the mean's denominator N). One fused kernel each way.
 */
export function softmaxCrossEntropyWithLabels(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const body = (x: tf.Tensor, y: tf.Tensor, save: tf.GradSaveFunc) => {
    const [rowLoss, probs] = tf.engine().runKernel(XENT, { logits: x, labels: y }, {}) as tf.Tensor[];
    // Labels are saved too: inside variableGrads the forward's tensors (labels
    // made in the loss function included) are disposed before the backward runs.
    save([probs, y]);
    const value = tf.mean(rowLoss) as tf.Scalar;
    const N = x.shape[0];
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const dRow = tf.fill([N], 1 / Math.max(N, 1)).mul(dy);
      // No gradient flows to integer labels.
      return [tf.engine().runKernel(XENT_GRAD, { probs: saved[0], labels: saved[1], dy: dRow }, {}) as tf.Tensor, tf.zerosLike(saved[1])];
    };
    return { value, gradFunc };
  };
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(logits, labels) as tf.Scalar;
}

/** tanh(x) = 2 sigmoid(2x) - 1: the wasm Tanh kernel is ~10x slower than Sigmoid. */
export function fastTanh(x: tf.Tensor): tf.Tensor {
  return tf.sub(tf.mul(tf.sigmoid(tf.mul(x, 2)), 2), 1);
}

/**
 * LayerNorm over the last axis, (x - mean) / sqrt(var + eps) * gamma + beta
 * (biased variance, as torch.nn.LayerNorm), as one fused kernel each way.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): tf.Tensor {
  const body = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM, { x: xi, gamma: g, beta: b }, { eps }) as tf.Tensor[];
    save([xi, mean, rstd, g]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, m, r, gs] = saved;
      return tf.engine().runKernel(LAYER_NORM_GRAD, { dy, x: xs, mean: m, rstd: r, gamma: gs }, {}) as tf.Tensor[];
    };
    return { value: y, gradFunc };
  };
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, gamma, beta);
}

/**
 * RMSNorm over the last axis, y = x / sqrt(mean(x^2) + eps) * gamma, one
 * fused kernel each way (kernels/rmsnorm.ts).
 */
export function rmsNorm(x: tf.Tensor, gamma: tf.Tensor1D, eps = 1e-6): tf.Tensor {
  const body = (xi: tf.Tensor, g: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, rstd] = tf.engine().runKernel(RMS_NORM, { x: xi, gamma: g }, { eps }) as tf.Tensor[];
    save([xi, rstd, g]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, r, gs] = saved;
      return tf.engine().runKernel(RMS_NORM_GRAD, { dy, x: xs, rstd: r, gamma: gs }, {}) as tf.Tensor[];
    };
    return { value: y, gradFunc };
  };
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, gamma);
}

/**
 * SwiGLU gate silu(g) * u = g * sigmoid(g) * u (LLaMA, Qwen2, Mistral MLP).
 * With the native addon active: one kernel each way (kernels/swiglu.ts);
 * otherwise the composition tf.mul(tf.mul(g, tf.sigmoid(g)), u), which is
 * faster than a fused loop on the pure-wasm path (docs/PERF.md).
 */
export function swiglu(g: tf.Tensor, u: tf.Tensor): tf.Tensor {
  if (!activeAddon()) return tf.mul(tf.mul(g, tf.sigmoid(g)), u);
  const body = (gi: tf.Tensor, ui: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.engine().runKernel(SWIGLU, { g: gi, u: ui }, {}) as tf.Tensor;
    save([gi, ui]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [gs, us] = saved;
      return tf.engine().runKernel(SWIGLU_GRAD, { dy, g: gs, u: us }, {}) as tf.Tensor[];
    };
    return { value: y, gradFunc };
  };
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(g, u);
}

/**
 * Rotary position embedding x * cos + rotate_half(x) * sin (Hugging Face
 * LLaMA layout) for x [..., T, D] and tables [T, D] or [B, 1, ..., T, D], one
 * kernel each way (kernels/rope.ts). The tables get no gradient.
 */
export function rope(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  const body = (xi: tf.Tensor, c: tf.Tensor, s: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.engine().runKernel(ROPE, { x: xi, cos: c, sin: s }, { backward: false }) as tf.Tensor;
    save([c, s]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [cs, ss] = saved;
      return [tf.engine().runKernel(ROPE, { x: dy, cos: cs, sin: ss }, { backward: true }) as tf.Tensor, tf.zerosLike(cs), tf.zerosLike(ss)];
    };
    return { value: y, gradFunc };
  };
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, cos, sin);
}

/** One fused AdamW step for one parameter: returns new [p, m, v] (see kernels/adamw.ts). */
export function adamwStep(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: AdamWAttrs): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(ADAMW, { p, g, m, v }, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor, tf.Tensor];
}

/**
 * One GRU step (PyTorch gate order r, z, n) from the input and hidden
 * projections gx = x W_ih + b_ih and gh = h W_hh + b_hh ([B, 3d] each) and the
 * previous state h [B, d]; returns h' [B, d]. One fused kernel each way.
 */
export function gruCell(gx: tf.Tensor2D, gh: tf.Tensor2D, h: tf.Tensor2D): tf.Tensor2D {
  const body = (x: tf.Tensor, hp: tf.Tensor, hPrev: tf.Tensor, save: tf.GradSaveFunc) => {
    const [hNew, gates] = tf.engine().runKernel(GRU_CELL, { gx: x, gh: hp, h: hPrev }, {}) as tf.Tensor[];
    save([gates, hp, hPrev]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [g, ghs, hs] = saved;
      return tf.engine().runKernel(GRU_CELL_GRAD, { dh: dy, gates: g, gh: ghs, h: hs }, {}) as tf.Tensor[];
    };
    return { value: hNew, gradFunc };
  };
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(gx, gh, h) as tf.Tensor2D;
}

/**
 * A GRU layer over a whole sequence (src/engine/kernels/gru_seq.ts): gx = the
 * input projections of every step, time-major [T, B, 3H] (PyTorch gate order
 * r, z, n), W = W_hh [H, 3H], b = b_hh [3H], h0 [B, H], mask [T, B] of 0/1
 * (0: padding, the state is carried unchanged; null: every step is real).
 * Returns every state [T, B, H]; gradients for gx, W, b and h0. One kernel each way.
 */
export function gruSequence(gx: tf.Tensor3D, w: tf.Tensor2D, b: tf.Tensor1D, h0: tf.Tensor2D, mask: tf.Tensor2D | null = null): tf.Tensor3D {
  const [T, B] = gx.shape;
  // The mask is a constant read by closure, not a customGrad input (no zero gradient to allocate); saved, it lives until the backward pass.
  const body = (x: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor, h: tf.Tensor, save: tf.GradSaveFunc) => {
    const m = mask ?? tf.ones([T, B]);
    const [hs, gates, gh] = tf.engine().runKernel(GRU_SEQ, { gx: x, w: wt, b: bt, h0: h, mask: m }, {}) as tf.Tensor[];
    save([gates, gh, hs, h, wt, m]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [g, ghs, hss, hh, ww, mm] = saved;
      const outs = tf.engine().runKernel(GRU_SEQ_GRAD, { dhs: dy, gates: g, gh: ghs, hs: hss, h0: hh, w: ww, mask: mm }, {}) as tf.Tensor[];
      tf.dispose(outs.slice(4)); // dgh, the carry and the scratch
      return outs.slice(0, 4);
    };
    return { value: hs, gradFunc };
  };
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(gx, w, b, h0) as tf.Tensor3D;
}

export interface AttentionOptions {
  /** Additive mask broadcastable to the scores [..., Lq, Lk] (0 / MASK_NEG). A constant: no gradient. */
  mask?: tf.Tensor | null;
  /** Scores scale; default 1 / sqrt(d). */
  scale?: number;
  /**
   * Attention dropout's multiplier of the probabilities, the scores' shape,
   * 0 or 1 / (1 - rate) (see attentionDropoutKeep). A constant: no gradient.
   */
  keep?: tf.Tensor | null;
  /**
   * The mask is a learned additive bias (T5's relative position bias): it gets
   * the gradient of the softmax input, summed over its broadcast dims. Default
   * false: the mask is a constant and its gradient is zero (cheaper).
   */
  maskGrad?: boolean;
}

/**
 * Chooses what `fusedAttention` runs: the fused kernels ('fused', the default)
 * or the unfused composition ('reference'), e.g. to compare a model's values
 * and gradients both ways. Returns the previous setting.
 */
export function setAttentionImpl(impl: AttentionImpl): AttentionImpl {
  if (impl !== 'fused' && impl !== 'reference') throw new Error(`attention implementation must be 'fused' or 'reference', got '${String(impl)}'`);
  const prev = attentionState.impl;
  attentionState.impl = impl;
  return prev;
}

/** The current `fusedAttention` implementation (see setAttentionImpl). */
export function attentionImpl(): AttentionImpl {
  return attentionState.impl;
}

/** Sums a gradient of the scores' shape `full` down to a broadcast operand's shape. */
function reduceToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  const full = g.shape;
  const padded = [...new Array<number>(full.length - shape.length).fill(1), ...shape];
  const axes: number[] = [];
  for (let i = 0; i < full.length; i++) if (padded[i] === 1 && full[i] !== 1) axes.push(i);
  const summed = axes.length > 0 ? tf.sum(g, axes, true) : g;
  return tf.reshape(summed, shape);
}

/**
 * Inverted-dropout multipliers of `shape`: 0 with probability `rate` (rounded
 * to 1/65536), else 65536 / (65536 - round(rate * 65536)), the values of
 * `dropoutMultipliers(size, rate, seed)` (src/util/random.ts) made in place
 * by the LlmrecDropoutMask kernel (kernels/dropout.ts). Multiply by it for
 * dropout; a constant (no gradient). `draw` 'single32' makes the LM
 * families' masks instead (one 32-bit draw per element from generator state
 * `seed`, `fillDropoutMultipliers32`).
 */
export function dropoutMask(shape: number[], rate: number, seed: number, draw: DropoutDraw = 'pair16'): tf.Tensor {
  return tf.engine().runKernel(DROPOUT_MASK, {}, { shape, rate, seed, draw } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/**
 * A dropout multiplier for `keep`: `dropoutMask(shape, rate, seed)`, with a
 * fresh random seed when none is given.
 */
export function attentionDropoutKeep(shape: number[], rate: number, seed?: number): tf.Tensor {
  if (!(rate >= 0 && rate < 1)) throw new Error(`attention dropout rate must be in [0, 1), got ${rate}`);
  return dropoutMask(shape, rate, seed ?? Math.floor(Math.random() * 0x100000000));
}

/**
 * Scaled dot-product attention, unfused: (softmax(scale * q kᵀ + mask) ⊙ keep) v
 * with tfjs ops. The reference for `fusedAttention` and its path on backends
 * other than wasm.
 */
export function attentionReference(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, opts: AttentionOptions = {}): tf.Tensor {
  const s = opts.scale ?? 1 / Math.sqrt(Math.max(q.shape[q.rank - 1], 1));
  return tf.tidy(() => {
    let scores = tf.mul(tf.matMul(q, k, false, true), s);
    if (opts.mask) scores = tf.add(scores, opts.mask);
    let p = tf.softmax(scores);
    if (opts.keep) p = tf.mul(p, opts.keep);
    return tf.matMul(p, v);
  });
}

/**
 * Scaled dot-product attention as one kernel each way (kernels/attention.ts):
 * (softmax(scale * q kᵀ + mask) ⊙ keep) v for q [..., Lq, d], k [..., Lk, d],
 * v [..., Lk, dv] with the same leading dims; see AttentionOptions. `keep`
 * and, unless `maskGrad`, the mask are constants: no gradient flows to them
 * (tf.grads by them is an error). On backends other than wasm, or after
 * setAttentionImpl('reference'), it runs attentionReference.
 */
export function fusedAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, opts: AttentionOptions = {}): tf.Tensor {
  const { mask = null, keep = null } = opts;
  attentionGeometry(q.shape, k.shape, v.shape, mask ? mask.shape : null);
  const s = opts.scale ?? 1 / Math.sqrt(Math.max(q.shape[q.rank - 1], 1));
  if (!Number.isFinite(s)) throw new Error(`fusedAttention: scale must be finite, got ${s}`);
  if (keep && keep.shape.join() !== [...q.shape.slice(0, -1), k.shape[k.rank - 2]].join()) {
    throw new Error(`fusedAttention: keep must have the scores' shape [${[...q.shape.slice(0, -1), k.shape[k.rank - 2]]}], got [${keep.shape}]`);
  }
  const maskGrad = Boolean(mask && opts.maskGrad);
  if (tf.getBackend() !== 'wasm' || attentionState.impl === 'reference') {
    // The composition differentiates the mask like any input (it matters only when the mask is learned).
    return attentionReference(q, k, v, { mask, keep, scale: s });
  }
  const attrs = { scale: s } as unknown as tf.NamedAttrMap;
  const gradAttrs = { scale: s, scoresGrad: maskGrad ? 1 : 0 } as unknown as tf.NamedAttrMap;
  // Only differentiable operands are customGrad inputs (a constant mask and
  // `keep` are read by closure: no zero gradients to allocate); `keep` is
  // saved, which keeps it alive until the backward pass.
  const inputsOf = maskGrad ? [q, k, v, mask!] : [q, k, v];
  const body = (...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [qi, ki, vi, mi] = args.slice(0, -1) as tf.Tensor[];
    const m = maskGrad ? mi : mask;
    const inputs: tf.NamedTensorMap = { q: qi, k: ki, v: vi };
    if (m) inputs.mask = m;
    if (keep) inputs.keep = keep;
    const [out, probs] = tf.engine().runKernel(ATTENTION, inputs, attrs) as tf.Tensor[];
    save(keep ? [qi, ki, vi, probs, keep] : [qi, ki, vi, probs]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [qs, ks, vs, ps, keepS] = saved;
      const gin: tf.NamedTensorMap = { dy, q: qs, k: ks, v: vs, probs: ps };
      if (keepS) gin.keep = keepS;
      const grads = tf.engine().runKernel(ATTENTION_GRAD, gin, gradAttrs) as tf.Tensor[];
      if (!maskGrad) return grads;
      // dS = s * dL/dZ for the softmax input Z = s * q kᵀ + mask: the mask's gradient is dS / s, reduced.
      const [dq, dk, dv, ds] = grads;
      const dz = s === 1 ? ds : tf.mul(ds, 1 / s);
      return [dq, dk, dv, reduceToShape(dz, mi.shape)];
    };
    return { value: out, gradFunc };
  };
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return (f as unknown as (...t: tf.Tensor[]) => tf.Tensor)(...inputsOf);
}
