/**
 * Building blocks shared by the language-model families: Hugging Face's
 * activation table, seeded dropout, token-id normalisation, additive key
 * masks, head splitting and embedding lookup with a range check.
 */
import { fastTanh, MASK_NEG, tf } from '../../engine/index.js';
import { type Embedding } from '../../nn/index.js';

/** Hugging Face's ACT2FN by name (the subset T5 and BERT configs use). */
export function hfActivation(name: string): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'relu': return (x) => tf.relu(x);
    // Exact GELU: 0.5 x (1 + erf(x / sqrt 2)).
    case 'gelu': return (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
    // tanh approximation, written 0.5 (1 + tanh(u)) = sigmoid(2u): u = sqrt(2/pi) x (1 + 0.044715 x^2).
    case 'gelu_new': case 'gelu_pytorch_tanh': case 'gelu_fast':
      return (x) => tf.mul(x, tf.sigmoid(tf.mul(tf.mul(x, tf.add(tf.mul(tf.square(x), 0.044715), 1)), 2 * Math.sqrt(2 / Math.PI))));
    case 'silu': case 'swish': return (x) => tf.mul(x, tf.sigmoid(x));
    case 'tanh': return (x) => fastTanh(x);
    default: throw new Error(`unsupported activation '${name}'`);
  }
}

export { SeededDropout } from '../../nn/index.js';

/** Token ids [B, T]: flat row-major (with `batch`), rows, or an int tensor. */
export type TokenIds = Int32Array | readonly (readonly number[])[] | tf.Tensor;

/** Normalises ids (or a 0/1 mask) to a flat Int32Array plus [B, T]. */
export function flattenIds(x: TokenIds | ArrayLike<number>, batch: number | undefined, what: string): { ids: Int32Array; B: number; T: number } {
  if (x instanceof tf.Tensor) {
    if (x.rank !== 2) throw new Error(`${what}: expected a [B, T] tensor, got shape [${x.shape}]`);
    const vals = x.dataSync();
    return { ids: vals instanceof Int32Array ? vals.slice() : Int32Array.from(vals as ArrayLike<number>), B: x.shape[0]!, T: x.shape[1]! };
  }
  if (Array.isArray(x) && (x.length === 0 || Array.isArray(x[0]))) {
    const rows = x as readonly (readonly number[])[];
    const B = rows.length;
    const T = B > 0 ? rows[0].length : 0;
    const out = new Int32Array(B * T);
    rows.forEach((row, b) => {
      if (row.length !== T) throw new Error(`${what}: row ${b} has ${row.length} entries, row 0 has ${T} (pad them)`);
      for (let t = 0; t < T; t++) out[b * T + t] = row[t];
    });
    return { ids: out, B, T };
  }
  const flat = x as ArrayLike<number>;
  const B = batch ?? 1;
  if (B <= 0 || flat.length % B !== 0) throw new Error(`${what}: ${flat.length} entries do not split into batch ${B}`);
  return { ids: flat instanceof Int32Array ? flat : Int32Array.from(flat), B, T: flat.length / B };
}

/** Additive key mask [B, 1, 1, T]: MASK_NEG where mask is 0. */
export function additiveKeyMask(mask: Int32Array, B: number, T: number): tf.Tensor4D {
  const m = new Float32Array(B * T);
  for (let i = 0; i < m.length; i++) if (mask[i] === 0) m[i] = MASK_NEG;
  return tf.tensor4d(m, [B, 1, 1, T]);
}

/** [B*T, H*D] or [B, T, H*D] → [B, H, T, D]. */
export function splitHeads(x: tf.Tensor, B: number, T: number, H: number, D: number): tf.Tensor4D {
  return tf.transpose(tf.reshape(x, [B, T, H, D]), [0, 2, 1, 3]);
}

/** [B, H, T, D] → [B, T, H*D]. */
export function mergeHeads(x: tf.Tensor, B: number, T: number, H: number, D: number): tf.Tensor3D {
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [B, T, H * D]);
}

/** Embedding rows of ids [B*T] as [B, T, d]; an out-of-range id is an error naming it. */
export function lookupEmbeddings(table: Embedding, ids: Int32Array, B: number, T: number): tf.Tensor3D {
  const V = table.num;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= V) throw new Error(`token id ${ids[i]} at index ${i} is outside [0, ${V})`);
  }
  return tf.reshape(table.apply(tf.tensor1d(ids, 'int32')), [B, T, table.dim]) as tf.Tensor3D;
}
