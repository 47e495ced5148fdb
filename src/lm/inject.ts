/**
 * Embedding injection: input vectors in which chosen token positions (the
 * `<UserID>` / `<ItemID>` / `<Guide>` slots of CoLLM and GANPrompt) carry
 * given vectors instead of their token embeddings. Differentiable in both
 * the token embeddings and the injected vectors (one gather over
 * [token rows; vectors], whose gradient is a segment sum).
 */
import { tf } from '../engine/index.js';

/**
 * base [B, T, d] with rows `slots[i]` (flat index b * T + t) replaced by
 * vectors[i] ([N, d]). Slots must be distinct and in range.
 */
export function injectEmbeddings(base: tf.Tensor3D, slots: ArrayLike<number>, vectors: tf.Tensor2D): tf.Tensor3D {
  const [B, T, d] = base.shape;
  const N = slots.length;
  if (vectors.shape[0] !== N || vectors.shape[1] !== d) {
    throw new Error(`injectEmbeddings: ${N} slots need vectors [${N}, ${d}], got [${vectors.shape}]`);
  }
  const index = new Int32Array(B * T);
  for (let i = 0; i < B * T; i++) index[i] = i;
  const seen = new Set<number>();
  for (let i = 0; i < N; i++) {
    const s = slots[i];
    if (!Number.isInteger(s) || s < 0 || s >= B * T) throw new Error(`injectEmbeddings: slot ${s} is outside [0, ${B * T})`);
    if (seen.has(s)) throw new Error(`injectEmbeddings: slot ${s} is given twice`);
    seen.add(s);
    index[s] = B * T + i;
  }
  return tf.tidy(() => {
    const rows = tf.concat([tf.reshape(base, [B * T, d]), vectors], 0);
    return tf.reshape(tf.gather(rows, tf.tensor1d(index, 'int32')), [B, T, d]) as tf.Tensor3D;
  });
}

/** Flat positions (b * T + t) of every occurrence of `tokenId` in ids [B*T], in order. */
export function findSlots(ids: ArrayLike<number>, tokenId: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) if (ids[i] === tokenId) out.push(i);
  return out;
}
