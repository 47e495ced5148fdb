/**
 * The pre-LN self-attention blocks of SASRec (docs/METHODS.md §3), one
 * implementation for every model built on them (SASRec, TextSeq):
 *
 *   per block:  x = x + dropout(Attn(LN(x)))   causal + key-padding mask
 *               x = (x + dropout(FFN(LN(x)))) * timestep mask
 *
 * The last block computes its query, attention and FFN for the last
 * position only (the only one the output reads: T times less work, same
 * result). Attention is the engine's `fusedAttention` (one kernel each way);
 * its dropout is a `keep` multiplier drawn from the model's seeded stream.
 * Parameter names (`blocks.<i>.attn.q`, ..., `final_ln`) are the saved
 * models' names: changing them breaks loading.
 */
import { causalPaddingMask, fusedAttention, keyPaddingMask, tf } from '../engine/index.js';
import { LayerNorm, Linear, type ParamStore } from '../nn/index.js';

export interface Block {
  ln1: LayerNorm;
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  ln2: LayerNorm;
  f1: Linear;
  f2: Linear;
}

/** `n` blocks of width d (FFN inner size `inner`), registered in `store` in a fixed order. */
export function buildBlocks(store: ParamStore, n: number, d: number, inner: number, eps: number): Block[] {
  return Array.from({ length: n }, (_, i) => ({
    ln1: new LayerNorm(store, `blocks.${i}.attn_ln`, d, eps),
    q: new Linear(store, `blocks.${i}.attn.q`, d, d),
    k: new Linear(store, `blocks.${i}.attn.k`, d, d),
    v: new Linear(store, `blocks.${i}.attn.v`, d, d),
    o: new Linear(store, `blocks.${i}.attn.o`, d, d),
    ln2: new LayerNorm(store, `blocks.${i}.ffn_ln`, d, eps),
    f1: new Linear(store, `blocks.${i}.ffn.1`, d, inner),
    f2: new Linear(store, `blocks.${i}.ffn.2`, inner, d),
  }));
}

/** What the blocks need from their model: sizes, rates and its seeded dropout. */
export interface BlockOptions {
  d: number;
  heads: number;
  dropout: number;
  /** Dropout on attention probabilities. */
  attnDropout: number;
  drop: (x: tf.Tensor, rate: number) => tf.Tensor;
}

/** Multi-head attention of queries hq [B, Tq, d] over h [B, T, d] with an additive mask [B, 1, Tq, T]. */
export function attend(o: BlockOptions, l: Block, hq: tf.Tensor, h: tf.Tensor, mask: tf.Tensor, B: number, Tq: number, T: number): tf.Tensor {
  const { d, heads: H } = o;
  const hd = d / H;
  const q = l.q.apply(hq);
  const k = l.k.apply(h);
  const v = l.v.apply(h);
  const keepFor = (shape: number[]): tf.Tensor | null => {
    const ones = tf.ones(shape);
    const keep = o.drop(ones, o.attnDropout);
    return keep === ones ? null : keep;
  };
  let out: tf.Tensor;
  if (H === 1) {
    out = fusedAttention(q, k, v, { mask: tf.reshape(mask, [B, Tq, T]), scale: 1 / Math.sqrt(hd), keep: keepFor([B, Tq, T]) });
  } else {
    const split = (x: tf.Tensor, n: number) => tf.transpose(tf.reshape(x, [B, n, H, hd]), [0, 2, 1, 3]);
    const att = fusedAttention(split(q, Tq), split(k, T), split(v, T), { mask, scale: 1 / Math.sqrt(hd), keep: keepFor([B, H, Tq, T]) });
    out = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [B, Tq, d]);
  }
  return l.o.apply(out);
}

function ffn(o: BlockOptions, l: Block, x: tf.Tensor): tf.Tensor {
  return o.drop(l.f2.apply(o.drop(tf.relu(l.f1.apply(l.ln2.apply(x))), o.dropout)), o.dropout);
}

/**
 * The blocks over the embedded sequence x [B, T, d] (already masked) of the
 * left-padded ids [B * T]: the last position's state [B, d], before the final
 * LayerNorm; zero for an all-padding row when `maskLast`.
 */
export function encodeLast(o: BlockOptions, layers: readonly Block[], x0: tf.Tensor, ids: Int32Array, tmask: tf.Tensor, B: number, T: number, maskLast: boolean): tf.Tensor2D {
  const { d } = o;
  let x = x0;
  const n = layers.length;
  for (let i = 0; i < n; i++) {
    const l = layers[i];
    const h = l.ln1.apply(x);
    if (i < n - 1) {
      x = tf.add(x, o.drop(attend(o, l, h, h, causalPaddingMask(ids, B, T), B, T, T), o.dropout));
      x = tf.mul(tf.add(x, ffn(o, l, x)), tmask);
    } else {
      // Only the last position feeds the output: query it alone (same result, T times less FFN work).
      const xq = tf.slice(x, [0, T - 1, 0], [B, 1, d]);
      const hq = tf.slice(h, [0, T - 1, 0], [B, 1, d]);
      let y = tf.add(xq, o.drop(attend(o, l, hq, h, keyPaddingMask(ids, B, T), B, 1, T), o.dropout));
      y = tf.add(y, ffn(o, l, y));
      x = maskLast ? tf.mul(y, tf.slice(tmask, [0, T - 1, 0], [B, 1, 1])) : y;
    }
  }
  return tf.reshape(x, [B, d]) as tf.Tensor2D;
}
