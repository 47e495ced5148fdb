/**
 * Caser (Tang & Wang, "Personalized Top-N Sequential Recommendation via
 * Convolutional Sequence Embedding", WSDM 2018).
 *
 * The embeddings of the last L items form an L x d "image" E (padding rows are zero):
 *
 *   horizontal filters, heights h = 1..L, nh filters each:
 *       c_i = relu(<E[i .. i+h-1], F> + b)  for i = 0..L-h,   o_h = max_i c_i          -> o  [L * nh]
 *   vertical filters (nv, each a weighted sum of the L rows, no activation):
 *       o~_k = sum_l F~_k[l] E[l] + b~_k                                                 -> o~ [nv * d]
 *   z = relu(W [o; o~] + b)   (dropout on [o; o~])                                        -> z  [d]
 *   score(u, i) = <W'_i, [z; P_u]> + b'_i        (the paper's output layer: item-specific weights W' and bias b')
 *
 * The output layer is the paper's: separate output item vectors W' (dim 2d, or d
 * without the user embedding) plus an item bias b', not shared with the input
 * embeddings (RecBole shares them and adds an extra FC). It is still a dot
 * product: userVectors returns [z; P_u; 1] and itemVectors [W'_i; b'_i].
 *
 * Losses (config.loss):
 *  - 'ce' (default, RecBole's loss_type CE): softmax cross-entropy over every
 *    item id (the padding row is a class that is never a label, as in SASRec);
 *  - 'bce' (the paper): -log sigma(y_pos) - sum_j log sigma(-y_neg_j) with
 *    numNegatives uniform negatives per target (paper: 3).
 *
 * Defaults: d 64, nh 16, nv 4 (paper; RecBole uses nv 8), dropout 0.5 (paper;
 * RecBole 0.4), L = maxLen = data.config.maxHistory (paper: L = 5),
 * user embedding on, embeddings ~ N(0, (1/dim)^2) and b' = 0 (as the authors'
 * code), ReLU for both the convolutions and the FC layer (the paper's choice
 * for phi_c and phi_a), lr 1e-3 (the registry's default).
 *
 * Deviations from the paper: T = 1 (one target per sample: the trainer's
 * sliding-window rows predict the next item only; the paper trains on T = 3
 * future items); the paper's L2 penalty is left to the trainer's weightDecay
 * option (AdamW, decoupled) rather than an explicit reg term; a history shorter
 * than L is left-padded with zero rows (as RecBole).
 *
 * Convolution on this engine: the wasm backend has no Conv2DBackpropFilter, so
 * tf.conv2d cannot be trained; tf.conv3d (depth 1) trains but costs ~820 ms per
 * fwd+bwd at B = 256, L = 10, d = 64, nh = 16. Instead every window
 * E[i .. i+L-1] (zero beyond the end) is gathered at once as a [B*L, L*d]
 * matrix and multiplied by all horizontal filters, each zero-padded to height
 * L, in ONE matmul [B*L, L*d] x [L*d, L*nh]; windows that would run past the end
 * for a height are excluded from its max-pool. The max over time is a custom op
 * (argmax gradient in JS), because tf.max's gradient (Equal + broadcasting)
 * costs ~64 ms here and tf.maxPool's ~17 ms. Measured on the horizontal part,
 * fwd+bwd, B = 256, L = 10, d = 64, nh = 16 (2 shared cores): single matmul +
 * custom max 31 ms; with tf.maxPool 37 ms; with tf.max 65 ms; one matmul per
 * height over its unfolded windows 59 ms; conv3d 820 ms; conv2d forward-only
 * 21 ms (no gradient). A whole Caser training step (CE, B = 256, L = 10,
 * 1,000 items) takes ~49 ms (SASRec's: ~35 ms). The cost grows as L^3 (keep L
 * around 10 or below).
 */
import { logSigmoid, softmaxCrossEntropyWithLabels, tf } from '../engine/index.js';
import { Embedding, Linear, type Rng } from '../nn/index.js';
import type { UserBatch } from './types.js';
import { NeuralRecommender, checkInt, checkRate, parseModelConfig, type ModelDims, type TrainBatch } from './neural.js';
import { checkLossConfig, lossNegatives } from './heads.js';

export type CaserConfig = {
  /** Embedding size d. */
  d: number;
  /** Horizontal filters per height (heights 1..L). */
  nh: number;
  /** Vertical filters. */
  nv: number;
  /** Dropout on the concatenated convolution outputs. */
  dropout: number;
  /** L: the number of most recent items forming the image (null: data.config.maxHistory). */
  maxLen: number | null;
  /** 'ce' (softmax over all items) or 'bce' (sampled negatives). */
  loss: string;
  /** Negatives per target for loss 'bce'. */
  numNegatives: number;
  /** Concatenate the user embedding P_u to z before the output layer. */
  userEmb: boolean;
  /** Std of the normal initialisation of the embedding tables (null: 1 / their dimension). */
  initStd: number | null;
  /** Global gradient-norm clipping (null: off). */
  clipNorm: number | null;
};

export const CASER_DEFAULTS: CaserConfig = {
  d: 64, nh: 16, nv: 4, dropout: 0.5, maxLen: null, loss: 'ce', numNegatives: 3, userEmb: true, initStd: null, clipNorm: null,
};

/**
 * max over axis 1 of x [B, T, C], where column c only considers t < limits[c]
 * (1 <= limits[c] <= T). The gradient routes dy to the (first) argmax. Computed
 * in JS: tf.max's gradient costs an Equal with broadcasting that is far slower.
 */
export function maxOverTime(x: tf.Tensor3D, limits: Int32Array): tf.Tensor2D {
  const [B, T, C] = x.shape;
  if (limits.length !== C) throw new Error(`maxOverTime: ${limits.length} limits for ${C} columns`);
  for (let c = 0; c < C; c++) if (!(limits[c] >= 1 && limits[c] <= T)) throw new Error(`maxOverTime: limit ${limits[c]} of column ${c} outside [1, ${T}]`);
  const body = (xi: tf.Tensor, save: tf.GradSaveFunc) => {
    const v = xi.dataSync() as Float32Array;
    const out = new Float32Array(B * C);
    const arg = new Int32Array(B * C);
    for (let b = 0; b < B; b++) {
      const base = b * T * C;
      for (let c = 0; c < C; c++) {
        let best = v[base + c];
        let at = 0;
        const lim = limits[c];
        for (let t = 1; t < lim; t++) {
          const y = v[base + t * C + c];
          if (y > best) { best = y; at = t; }
        }
        out[b * C + c] = best;
        arg[b * C + c] = at;
      }
    }
    save([tf.tensor2d(arg, [B, C], 'int32')]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const g = dy.dataSync() as Float32Array;
      const a = saved[0].dataSync() as Int32Array;
      const dx = new Float32Array(B * T * C);
      for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) dx[(b * T + a[b * C + c]) * C + c] = g[b * C + c];
      return tf.tensor3d(dx, [B, T, C]);
    };
    return { value: tf.tensor2d(out, [B, C]), gradFunc };
  };
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x) as tf.Tensor2D;
}

/**
 * The L most recent ids of each row (left-padded when the history is shorter)
 * unfolded into windows: win[(b*L + i)*L + j] = seq[b][i + j] (0 past the end),
 * and keep = 1 where that id is not padding.
 */
export function caserWindows(history: Int32Array, B: number, HL: number, L: number): { win: Int32Array; keep: Float32Array } {
  const seq = new Int32Array(B * L);
  for (let b = 0; b < B; b++) {
    if (HL >= L) seq.set(history.subarray(b * HL + HL - L, (b + 1) * HL), b * L);
    else seq.set(history.subarray(b * HL, (b + 1) * HL), b * L + L - HL);
  }
  const win = new Int32Array(B * L * L);
  const keep = new Float32Array(B * L * L);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < L; i++) {
      const o = (b * L + i) * L;
      for (let j = 0; i + j < L; j++) {
        const id = seq[b * L + i + j];
        win[o + j] = id;
        keep[o + j] = id === 0 ? 0 : 1;
      }
    }
  }
  return { win, keep };
}

export class Caser extends NeuralRecommender<CaserConfig> {
  readonly name = 'caser';
  private itemEmb!: Embedding;
  private userEmb: Embedding | null = null;
  private convH: { W: tf.Variable; b: tf.Variable }[] = [];
  private convV!: Linear;
  private fc!: Linear;
  private outEmb!: Embedding;
  private outBias!: tf.Variable;
  private L = 0;
  private limits = new Int32Array(0);

  constructor(config: Record<string, unknown> = {}) {
    const c = parseModelConfig('caser', config, CASER_DEFAULTS);
    checkInt('caser', 'd', c.d);
    checkInt('caser', 'nh', c.nh);
    checkInt('caser', 'nv', c.nv);
    checkRate('caser', 'dropout', c.dropout);
    if (c.maxLen !== null) checkInt('caser', 'maxLen', c.maxLen);
    checkLossConfig('caser', c);
    if (c.initStd !== null && !(c.initStd > 0)) throw new Error(`caser: config 'initStd' must be > 0 or null, got ${c.initStd}`);
    super(c);
  }

  protected override get numTrainNegatives(): number {
    return lossNegatives(this.config);
  }

  protected build(dims: ModelDims, _rng: Rng): void {
    const { d, nh, nv, initStd } = this.config;
    const L = this.config.maxLen ?? dims.maxHistory;
    checkInt('caser', 'maxLen (data.config.maxHistory)', L);
    this.L = L;
    const dOut = this.config.userEmb ? 2 * d : d;
    this.itemEmb = new Embedding(this.store, 'item_emb', dims.numItems + 1, d, initStd ?? 1 / d);
    this.userEmb = this.config.userEmb ? new Embedding(this.store, 'user_emb', dims.numUsers, d, initStd ?? 1 / d) : null;
    this.convH = [];
    for (let h = 1; h <= L; h++) {
      // torch Conv2d default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = h * d.
      const limit = 1 / Math.sqrt(h * d);
      this.convH.push({
        W: this.store.add(`conv_h.${h - 1}.weight`, [h * d, nh], { kind: 'uniform', limit }),
        b: this.store.add(`conv_h.${h - 1}.bias`, [nh], { kind: 'uniform', limit }),
      });
    }
    this.convV = new Linear(this.store, 'conv_v', L, nv);
    this.fc = new Linear(this.store, 'fc1', nh * L + nv * d, d);
    this.outEmb = new Embedding(this.store, 'out_item_emb', dims.numItems + 1, dOut, initStd ?? 1 / dOut);
    this.outBias = this.store.add('out_item_bias.weight', [dims.numItems + 1, 1], { kind: 'zeros' });
    this.limits = new Int32Array(L * nh);
    for (let h = 1; h <= L; h++) this.limits.fill(L - h + 1, (h - 1) * nh, h * nh);
  }

  /** [B, 2d + 1] (or [B, d + 1]): [z; P_u; 1]. */
  protected userVectors(batch: UserBatch): tf.Tensor2D {
    const { d, nh, nv } = this.config;
    const L = this.L;
    const B = batch.size;
    const { win, keep } = caserWindows(batch.history, B, batch.L, L);
    // Every window of length L (zero rows past the end): [B*L, L*d].
    const rows = tf.mul(this.itemEmb.apply(tf.tensor1d(win, 'int32')), tf.tensor2d(keep, [B * L * L, 1]));
    const U = tf.reshape(rows, [B * L, L * d]) as tf.Tensor2D;
    // Horizontal: all heights in one matmul, each filter zero-padded to height L.
    const Wall = tf.concat(this.convH.map((c, k) => (k === L - 1 ? c.W : tf.pad(c.W, [[0, (L - 1 - k) * d], [0, 0]]))), 1) as tf.Tensor2D;
    const bAll = tf.concat(this.convH.map((c) => c.b), 0);
    const conv = tf.reshape(tf.matMul(U, Wall), [B, L, L * nh]) as tf.Tensor3D;
    // relu and the bias commute with the max over time.
    const oh = tf.relu(tf.add(maxOverTime(conv, this.limits), bAll));
    // Vertical: the first d columns of the window starting at row i are E[i].
    const E = tf.slice(tf.reshape(U, [B, L, L * d]), [0, 0, 0], [B, L, d]);
    const ov = tf.reshape(this.convV.apply(tf.reshape(tf.transpose(E, [0, 2, 1]), [B * d, L])), [B, d * nv]);
    const o = this.dropout(tf.concat([oh, ov], 1), this.config.dropout);
    const z = tf.relu(this.fc.apply(o));
    const parts: tf.Tensor[] = [z];
    if (this.userEmb) parts.push(this.userEmb.apply(tf.tensor1d(batch.user, 'int32')));
    parts.push(tf.ones([B, 1]));
    return tf.concat(parts, 1) as tf.Tensor2D;
  }

  /** [numItems + 1, dOut + 1]: [W'_i; b'_i]. */
  protected itemVectors(): tf.Tensor2D {
    return tf.concat([this.outEmb.table, this.outBias], 1) as tf.Tensor2D;
  }

  private outputRows(ids: Int32Array): tf.Tensor2D {
    const t = tf.tensor1d(ids, 'int32');
    return tf.concat([this.outEmb.apply(t), tf.gather(this.outBias, t)], 1) as tf.Tensor2D;
  }

  protected trainLoss(batch: TrainBatch): tf.Scalar {
    const u = this.userVectors(batch);
    if (this.config.loss === 'ce') {
      const logits = tf.matMul(u, this.itemVectors(), false, true);
      return softmaxCrossEntropyWithLabels(logits as tf.Tensor2D, tf.tensor1d(batch.target, 'int32'));
    }
    const B = batch.size;
    const k = batch.numNegatives;
    const D = u.shape[1];
    const sPos = tf.sum(tf.mul(u, this.outputRows(batch.target)), -1);
    const neg = tf.reshape(this.outputRows(batch.negatives), [B, k, D]);
    const sNeg = tf.sum(tf.mul(neg, tf.reshape(u, [B, 1, D])), -1);
    return tf.neg(tf.mean(tf.add(logSigmoid(sPos), tf.sum(logSigmoid(tf.neg(sNeg)), -1)))) as tf.Scalar;
  }
}
