/**
 * Language-model losses with PyTorch's conventions: labels equal to
 * IGNORE_INDEX (-100) contribute nothing and the mean is over the labels that
 * remain (torch.nn.CrossEntropyLoss(ignore_index=-100)).
 */
import { softmaxCrossEntropyWithLabels, tf } from '../engine/index.js';

export const IGNORE_INDEX = -100;

/**
 * Mean cross-entropy of logits [N, V] (or [B, T, V], flattened) against labels
 * (N values; IGNORE_INDEX skipped). Other out-of-range labels are an error.
 * With no label left the loss is 0 (torch gives NaN; a silent NaN poisons
 * training, so we do not).
 */
export function maskedCrossEntropy(logits: tf.Tensor, labels: ArrayLike<number>): tf.Scalar {
  const V = logits.shape[logits.rank - 1];
  const flat = logits.rank === 2 ? logits as tf.Tensor2D : tf.reshape(logits, [-1, V]) as tf.Tensor2D;
  const N = flat.shape[0];
  if (labels.length !== N) throw new Error(`maskedCrossEntropy: ${labels.length} labels for ${N} logit rows`);
  const rows: number[] = [];
  const kept: number[] = [];
  for (let i = 0; i < N; i++) {
    const y = labels[i];
    if (y === IGNORE_INDEX) continue;
    if (!Number.isInteger(y) || y < 0 || y >= V) throw new Error(`maskedCrossEntropy: label ${y} at row ${i} is outside [0, ${V}) and is not ${IGNORE_INDEX}`);
    rows.push(i);
    kept.push(y);
  }
  if (rows.length === 0) return tf.mul(tf.sum(flat), 0) as tf.Scalar;
  const sel = rows.length === N ? flat : tf.gather(flat, tf.tensor1d(rows, 'int32')) as tf.Tensor2D;
  return softmaxCrossEntropyWithLabels(sel, tf.tensor1d(kept, 'int32'));
}

/**
 * Causal-LM loss as Hugging Face computes it: position t predicts label t+1
 * (logits [B, T, V], labels [B*T] row-major, shifted here).
 */
export function causalLmLoss(logits: tf.Tensor3D, labels: ArrayLike<number>): tf.Scalar {
  const [B, T, V] = logits.shape;
  if (labels.length !== B * T) throw new Error(`causalLmLoss: ${labels.length} labels for logits [${B}, ${T}, ${V}]`);
  const shifted = new Int32Array(B * T).fill(IGNORE_INDEX);
  for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) shifted[b * T + t] = labels[b * T + t + 1];
  return maskedCrossEntropy(logits, shifted);
}
