/**
 * BPR-MF (Rendle et al. 2009): user and item embeddings, score = <p_u, q_i>,
 * trained with the BPR loss -log sigmoid(<p_u, q_pos> - <p_u, q_neg>) with
 * uniformly sampled negatives (numNegatives per positive, default 1).
 *
 * Training rows: every (user, item) of the training sequences (data.trainSeqs),
 * not just the sliding-window targets, so a user's first item counts too.
 * The sequence history is ignored: userVectors reads the user id.
 */
import { logSigmoid, tf } from '../engine/index.js';
import { Embedding, type Rng } from '../nn/index.js';
import type { SplitDataset, TrainSamples } from '../data/types.js';
import type { UserBatch } from './types.js';
import { NeuralRecommender, checkInt, parseModelConfig, type ModelDims, type TrainBatch } from './neural.js';

export type BPRMFConfig = {
  /** Embedding size. */
  d: number;
  /** Std of the normal initialisation of both tables. */
  initStd: number;
  /** Sampled negatives per positive. */
  numNegatives: number;
  /** Global gradient-norm clipping (null: off). */
  clipNorm: number | null;
};

export const BPRMF_DEFAULTS: BPRMFConfig = { d: 64, initStd: 0.1, numNegatives: 1, clipNorm: null };

export class BPRMF extends NeuralRecommender<BPRMFConfig> {
  readonly name = 'bprmf';
  private userEmb!: Embedding;
  private itemEmb!: Embedding;

  constructor(config: Record<string, unknown> = {}) {
    const c = parseModelConfig('bprmf', config, BPRMF_DEFAULTS);
    checkInt('bprmf', 'd', c.d);
    checkInt('bprmf', 'numNegatives', c.numNegatives);
    super(c);
  }

  protected override get numTrainNegatives(): number {
    return this.config.numNegatives;
  }

  protected override trainSamples(data: SplitDataset): TrainSamples {
    let count = 0;
    for (const s of data.trainSeqs) count += s.length;
    const user = new Int32Array(count);
    const target = new Int32Array(count);
    let r = 0;
    for (let u = 0; u < data.trainSeqs.length; u++) {
      const s = data.trainSeqs[u];
      for (let j = 0; j < s.length; j++, r++) {
        user[r] = u;
        target[r] = s[j];
      }
    }
    return { count, L: 0, user, history: new Int32Array(0), target };
  }

  protected build(dims: ModelDims, _rng: Rng): void {
    this.userEmb = new Embedding(this.store, 'user_emb', Math.max(dims.numUsers, 1), this.config.d, this.config.initStd);
    this.itemEmb = new Embedding(this.store, 'item_emb', dims.numItems + 1, this.config.d, this.config.initStd);
  }

  protected userVectors(batch: UserBatch): tf.Tensor2D {
    const n = this.dims!.numUsers;
    for (let b = 0; b < batch.size; b++) {
      const u = batch.user[b];
      if (!(u >= 0 && u < n)) throw new Error(`bprmf: user ${u} outside the ${n} users the model was trained on`);
    }
    return this.userEmb.apply(tf.tensor1d(batch.user, 'int32')) as tf.Tensor2D;
  }

  protected itemVectors(): tf.Tensor2D {
    return this.itemEmb.table as tf.Tensor2D;
  }

  protected trainLoss(batch: TrainBatch): tf.Scalar {
    const k = batch.numNegatives;
    const B = batch.size;
    const d = this.config.d;
    const u = this.userVectors(batch); // [B, d]
    const pos = this.itemEmb.apply(tf.tensor1d(batch.target, 'int32')) as tf.Tensor2D; // [B, d]
    const neg = tf.reshape(this.itemEmb.apply(tf.tensor1d(batch.negatives, 'int32')), [B, k, d]);
    const sPos = tf.sum(tf.mul(u, pos), -1, true); // [B, 1]
    const sNeg = tf.sum(tf.mul(neg, tf.reshape(u, [B, 1, d])), -1); // [B, k]
    return tf.neg(tf.mean(logSigmoid(tf.sub(sPos, sNeg)))) as tf.Scalar;
  }
}
