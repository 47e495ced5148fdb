/**
 * The training losses ("heads") shared by the sequence models, selected by
 * config.loss:
 *  - 'ce': softmax cross-entropy over every item id (RecBole's default; the
 *    padding row is a class that is never a label);
 *  - 'bce': -log sigma(<h, E[pos]>) - sum_j log sigma(-<h, E[neg_j]>) with
 *    config.numNegatives uniform negatives per row (SASRec, Caser papers).
 *
 * `TiedEmbeddingRecommender` is the base of the models whose score is
 * <h, E[i]> with the input item embedding table E reused as the output
 * (SASRec, GRU4Rec): it owns E (`itemEmb`, created by the subclass's build),
 * the item vectors and the training loss on the sequence vectors h.
 */
import { logSigmoid, tf } from '../engine/index.js';
import type { Embedding } from '../nn/index.js';
import { NeuralRecommender, checkInt, type TrainBatch } from './neural.js';

/** The config keys of a model with a selectable 'ce' / 'bce' loss. */
export type LossConfig = { loss: string; numNegatives: number };

/** Throws unless config.loss is 'ce' or 'bce' and config.numNegatives an integer >= 1. */
export function checkLossConfig(model: string, c: LossConfig): void {
  if (c.loss !== 'ce' && c.loss !== 'bce') throw new Error(`${model}: config 'loss' must be 'ce' or 'bce', got '${c.loss}'`);
  checkInt(model, 'numNegatives', c.numNegatives);
}

/** Negatives the trainer samples per row: numNegatives for 'bce', none for 'ce'. */
export function lossNegatives(c: LossConfig): number {
  return c.loss === 'bce' ? c.numNegatives : 0;
}

/**
 * Mean over rows of -log sigma(<h, E[target]>) - sum_j log sigma(-<h, E[neg_j]>)
 * (the BCE of SASRec/GRU4Rec with sampled negatives).
 */
export function bceLoss(h: tf.Tensor2D, emb: Embedding, batch: TrainBatch): tf.Scalar {
  const B = batch.size;
  const k = batch.numNegatives;
  const d = h.shape[1];
  if (k < 1) throw new Error('bce loss needs at least one negative per row');
  const pos = emb.apply(tf.tensor1d(batch.target, 'int32')) as tf.Tensor2D;
  const neg = tf.reshape(emb.apply(tf.tensor1d(batch.negatives, 'int32')), [B, k, d]);
  const sPos = tf.sum(tf.mul(h, pos), -1); // [B]
  const sNeg = tf.sum(tf.mul(neg, tf.reshape(h, [B, 1, d])), -1); // [B, k]
  const perRow = tf.add(logSigmoid(sPos), tf.sum(logSigmoid(tf.neg(sNeg)), -1));
  return tf.neg(tf.mean(perRow)) as tf.Scalar;
}

/**
 * A sequence model scored by <h, E[i]> with tied input/output item
 * embeddings: the subclass creates `itemEmb` in build() and writes
 * userVectors(); training uses the last position of each sample.
 */
export abstract class TiedEmbeddingRecommender<C extends Record<string, unknown> & LossConfig> extends NeuralRecommender<C> {
  /** The item embedding table E [numItems + 1, d] (row 0 = padding), input and output. */
  protected itemEmb!: Embedding;

  protected override get numTrainNegatives(): number {
    return lossNegatives(this.config);
  }

  protected itemVectors(): tf.Tensor2D {
    return this.itemEmb.table as tf.Tensor2D;
  }

  protected trainLoss(batch: TrainBatch): tf.Scalar {
    const h = this.userVectors(batch);
    if (this.config.loss === 'ce') {
      const logits = tf.matMul(h, this.itemEmb.table as tf.Tensor2D, false, true) as tf.Tensor2D;
      return this.crossEntropy(logits, batch.target);
    }
    return bceLoss(h, this.itemEmb, batch);
  }
}
