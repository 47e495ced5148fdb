/** Left-padded prompt batches and the answer-logit difference of the yes/no recommender (methods/yesno.ts). */
import { tf } from '../../engine/index.js';

/** A prompt's token ids and its slots. */
export interface Encoded {
  ids: number[];
  /** Position of <UserID> / <ItemID> in ids, -1 when absent. */
  userPos: number;
  itemPos: number;
}

export interface Padded {
  ids: Int32Array;
  mask: Int32Array;
  /** Flat positions (row * T + t) of the <UserID> / <ItemID> slots and the rows they are in. */
  user: { slots: number[]; rows: number[] };
  item: { slots: number[]; rows: number[] };
}

/** Tokens from position `from` on of each prompt, left-padded to one length, with their slots. */
export function padLeft(enc: readonly Encoded[], from: number): Padded {
  const B = enc.length;
  const T = Math.max(...enc.map((e) => e.ids.length - from));
  const p: Padded = { ids: new Int32Array(B * T), mask: new Int32Array(B * T), user: { slots: [], rows: [] }, item: { slots: [], rows: [] } };
  enc.forEach((e, b) => {
    const len = e.ids.length - from;
    const off = b * T + T - len;
    for (let t = 0; t < len; t++) { p.ids[off + t] = e.ids[from + t]; p.mask[off + t] = 1; }
    if (e.userPos >= from) { p.user.slots.push(off + e.userPos - from); p.user.rows.push(b); }
    if (e.itemPos >= from) { p.item.slots.push(off + e.itemPos - from); p.item.rows.push(b); }
  });
  return p;
}

/** l(yes) - l(no) per row of answer-position logits [B, V]. */
export function answerDiff(logits: tf.Tensor2D, answers: readonly { yes: number; no: number }[]): tf.Tensor1D {
  const V = logits.shape[1];
  const flat = tf.reshape(logits, [-1]);
  const yes = tf.gather(flat, tf.tensor1d(Int32Array.from(answers, (a, b) => b * V + a.yes), 'int32'));
  const no = tf.gather(flat, tf.tensor1d(Int32Array.from(answers, (a, b) => b * V + a.no), 'int32'));
  return tf.sub(yes, no) as tf.Tensor1D;
}
