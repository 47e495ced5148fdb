/**
 * DIN (Zhou et al., "Deep Interest Network for Click-Through Rate
 * Prediction", KDD 2018), on item-id sequences.
 *
 * For a user with history embeddings h_1..h_T (padding excluded) and a
 * candidate (target) item embedding t:
 *
 *   activation unit:  a_j = MLP_att([h_j, t, h_j - t, h_j * t])   (hidden attnHidden, ReLU, linear output)
 *   user interest:    v = sum_j a_j h_j                            (sum pooling, NO softmax, as the paper;
 *                                                                   padding slots get weight 0)
 *   logit:            y = MLP([v, t (, e_u)])                      (hidden mlpHidden, ReLU, one linear output)
 *
 * The first attention layer is applied to the concatenation without building it:
 * [h, t, h - t, h * t] W = h (W1 + W3) + t (W2 - W3) + (h * t) W4 (the same
 * function, with the parameter stored as one [4d, attnHidden[0]] matrix), so only
 * the h * t term is computed per (user, candidate, slot).
 *
 * Training: pointwise BCE, the target as positive and the TrainBatch's
 * numNegatives uniform negatives as negatives, averaged over all pairs.
 * Scoring is not a dot product: scoreCandidates and scoreAll run the network
 * for every (user, candidate) pair, in blocks of at most scoreChunk
 * (user x candidate x history-slot) rows so memory stays bounded. scoreAll
 * scores every item for every user (for full ranking; slow by nature: ~26
 * GMAC for 256 users x 1,000 items with the defaults and L = 10, measured
 * 1.9-2.1 s on 2 shared cores, ~75% of it in matmuls; training steps are
 * cheap, ~13 ms at B = 256 with 1 negative). The registry therefore validates
 * DIN with sampled AUC by default. userVectors is the target-independent masked mean of the history
 * embeddings and itemVectors the item embedding table (for the LLM models that
 * consume embeddings).
 *
 * Defaults: d 64, attnHidden [80, 40] and mlpHidden [200, 80] (the paper's /
 * official code's sizes), ReLU everywhere, no user embedding in the MLP (as the
 * official code; userEmb adds it), numNegatives 1, dropout 0 on the MLP hidden
 * layers (RecBole), embeddings ~ N(0, 0.05^2), dense layers torch-default init,
 * maxLen = data.config.maxHistory, lr 1e-3 (the registry default).
 *
 * Deviations from the paper: ReLU instead of Dice / PReLU (in both MLPs; the
 * official code uses sigmoid in the activation unit), no batch normalisation
 * and no mini-batch aware regularisation (use the trainer's weightDecay), item
 * ids only (no category / shop features), sampled negatives instead of logged
 * impressions.
 */
import { logSigmoid, tf } from '../engine/index.js';
import { Embedding, Linear, type Rng } from '../nn/index.js';
import type { UserBatch } from './types.js';
import { NeuralRecommender, checkInt, checkRate, parseModelConfig, type ModelDims, type TrainBatch } from './neural.js';

export type DINConfig = {
  /** Embedding size d. */
  d: number;
  /** Hidden sizes of the activation unit (attention MLP). */
  attnHidden: number[];
  /** Hidden sizes of the prediction MLP. */
  mlpHidden: number[];
  /** Add the user embedding to the prediction MLP's input. */
  userEmb: boolean;
  /** Sampled negatives per positive (pointwise BCE). */
  numNegatives: number;
  /** Dropout on the prediction MLP's hidden layers. */
  dropout: number;
  /** Longest history used (null: data.config.maxHistory). */
  maxLen: number | null;
  /** Std of the normal initialisation of the embeddings. */
  initStd: number;
  /** Max (user x candidate x history slot) rows per scoring block (memory bound). */
  scoreChunk: number;
  /** Global gradient-norm clipping (null: off). */
  clipNorm: number | null;
};

export const DIN_DEFAULTS: DINConfig = {
  d: 64, attnHidden: [80, 40], mlpHidden: [200, 80], userEmb: false, numNegatives: 1, dropout: 0,
  maxLen: null, initStd: 0.05, scoreChunk: 131072, clipNorm: null,
};

function checkSizes(key: string, v: unknown): void {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isInteger(x) && (x as number) >= 1)) {
    throw new Error(`din: config '${key}' must be a non-empty array of positive integers, got ${JSON.stringify(v)}`);
  }
}

/** The last L ids of each row of a [B, HL] left-padded history (left-padded when HL < L). */
function lastColumns(history: Int32Array, B: number, HL: number, L: number): Int32Array {
  if (HL === L) return history;
  const out = new Int32Array(B * L);
  for (let b = 0; b < B; b++) {
    if (HL > L) out.set(history.subarray(b * HL + HL - L, (b + 1) * HL), b * L);
    else out.set(history.subarray(b * HL, (b + 1) * HL), b * L + L - HL);
  }
  return out;
}

export class DIN extends NeuralRecommender<DINConfig> {
  readonly name: string = 'din';
  private itemEmb!: Embedding;
  private userEmb: Embedding | null = null;
  private attn: Linear[] = [];
  private mlp: Linear[] = [];
  private maxLen = 0;

  /** `model` and `defaults`: a subclass with more config keys (kar-din, src/models/kar/din.ts). */
  constructor(config: Record<string, unknown> = {}, model = 'din', defaults: DINConfig = DIN_DEFAULTS) {
    const c = parseModelConfig(model, config, defaults);
    checkInt('din', 'd', c.d);
    checkSizes('attnHidden', c.attnHidden);
    checkSizes('mlpHidden', c.mlpHidden);
    checkInt('din', 'numNegatives', c.numNegatives);
    checkRate('din', 'dropout', c.dropout);
    if (c.maxLen !== null) checkInt('din', 'maxLen', c.maxLen);
    if (!(c.initStd > 0)) throw new Error(`din: config 'initStd' must be > 0, got ${c.initStd}`);
    checkInt('din', 'scoreChunk', c.scoreChunk);
    super({ ...c, attnHidden: [...c.attnHidden], mlpHidden: [...c.mlpHidden] });
  }

  protected override get numTrainNegatives(): number {
    return this.config.numNegatives;
  }

  protected build(dims: ModelDims, _rng: Rng): void {
    const { d, attnHidden, mlpHidden, initStd } = this.config;
    this.maxLen = this.config.maxLen ?? dims.maxHistory;
    checkInt('din', 'maxLen (data.config.maxHistory)', this.maxLen);
    this.itemEmb = new Embedding(this.store, 'item_emb', dims.numItems + 1, d, initStd);
    this.userEmb = this.config.userEmb ? new Embedding(this.store, 'user_emb', dims.numUsers, d, initStd) : null;
    const stack = (prefix: string, sizes: number[], inDim: number): Linear[] => {
      const out: Linear[] = [];
      let i = inDim;
      sizes.forEach((o, k) => {
        out.push(new Linear(this.store, `${prefix}.${k}`, i, o));
        i = o;
      });
      out.push(new Linear(this.store, `${prefix}.out`, i, 1));
      return out;
    };
    this.attn = stack('attn', attnHidden, 4 * d);
    this.mlp = stack('mlp', mlpHidden, (this.userEmb ? 3 : 2) * d + this.extraFeatureDim());
  }

  /** Item input vectors of item ids (any shape S -> [...S, d]); subclasses add to the id embedding. */
  protected itemInput(ids: tf.Tensor): tf.Tensor {
    return this.itemEmb.apply(ids);
  }

  /** Size of the extra per-user features of the prediction MLP (none here). */
  protected extraFeatureDim(): number {
    return 0;
  }

  /** Extra per-user features [B, extraFeatureDim()] of the prediction MLP, or null. */
  protected extraFeatures(_user: Int32Array, _B: number): tf.Tensor2D | null {
    return null;
  }

  /**
   * Logits [B, C] of C candidates per user (cand [B * C]) given right-aligned
   * history ids hist [B, T] and user ids [B].
   */
  private logits(hist: Int32Array, user: Int32Array, B: number, T: number, cand: Int32Array, C: number): tf.Tensor2D {
    const { d } = this.config;
    const a1 = this.attn[0].outDim;
    const H = this.itemInput(this.ids(hist, B, T)); // [B, T, d]
    const tgt = this.itemInput(tf.tensor1d(cand, 'int32')) as tf.Tensor2D; // [B*C, d]
    // First attention layer on [h, t, h - t, h * t] without materialising the concatenation.
    const W = this.attn[0].W;
    const [W1, W2, W3, W4] = tf.split(W, 4, 0);
    const hPart = tf.reshape(tf.matMul(tf.reshape(H, [B * T, d]) as tf.Tensor2D, tf.add(W1, W3) as tf.Tensor2D), [B, 1, T, a1]);
    let tLin = tf.matMul(tgt, tf.sub(W2, W3) as tf.Tensor2D);
    if (this.attn[0].b) tLin = tf.add(tLin, this.attn[0].b);
    const tPart = tf.reshape(tLin, [B, C, 1, a1]);
    const prod = tf.mul(tf.reshape(H, [B, 1, T, d]), tf.reshape(tgt, [B, C, 1, d])); // [B, C, T, d]
    const cross = tf.reshape(tf.matMul(tf.reshape(prod, [B * C * T, d]) as tf.Tensor2D, W4 as tf.Tensor2D), [B, C, T, a1]);
    let a: tf.Tensor = tf.reshape(tf.relu(tf.add(tf.add(cross, hPart), tPart)), [B * C * T, a1]);
    for (let k = 1; k < this.attn.length; k++) {
      a = this.attn[k].apply(a);
      if (k < this.attn.length - 1) a = tf.relu(a);
    }
    // No softmax: raw activation weights, padding slots zeroed.
    const keep = new Float32Array(B * T);
    for (let i = 0; i < keep.length; i++) keep[i] = hist[i] === 0 ? 0 : 1;
    const w = tf.mul(tf.reshape(a, [B, C, T]), tf.tensor3d(keep, [B, 1, T]));
    const interest = tf.reshape(tf.matMul(w as tf.Tensor3D, H as tf.Tensor3D), [B * C, d]);
    const parts: tf.Tensor[] = [interest, tgt];
    if (this.userEmb) {
      const u = new Int32Array(B * C);
      for (let b = 0; b < B; b++) u.fill(user[b], b * C, (b + 1) * C);
      parts.push(this.userEmb.apply(tf.tensor1d(u, 'int32')));
    }
    const extra = this.extraFeatures(user, B);
    if (extra) parts.push(tf.reshape(tf.tile(tf.reshape(extra, [B, 1, -1]), [1, C, 1]), [B * C, extra.shape[1]]));
    let x: tf.Tensor = tf.concat(parts, 1);
    for (let k = 0; k < this.mlp.length; k++) {
      x = this.mlp[k].apply(x);
      if (k < this.mlp.length - 1) x = this.dropout(tf.relu(x), this.config.dropout);
    }
    return tf.reshape(x, [B, C]) as tf.Tensor2D;
  }

  protected trainLoss(batch: TrainBatch): tf.Scalar {
    const B = batch.size;
    const k = batch.numNegatives;
    const C = 1 + k;
    const hist = lastColumns(batch.history, B, batch.L, this.maxLen);
    const cand = new Int32Array(B * C);
    const sign = new Float32Array(B * C);
    for (let b = 0; b < B; b++) {
      cand[b * C] = batch.target[b];
      sign[b * C] = 1;
      for (let j = 0; j < k; j++) {
        cand[b * C + 1 + j] = batch.negatives[b * k + j];
        sign[b * C + 1 + j] = -1;
      }
    }
    const s = this.logits(hist, batch.user, B, this.maxLen, cand, C);
    return tf.neg(tf.mean(logSigmoid(tf.mul(s, tf.tensor2d(sign, [B, C]))))) as tf.Scalar;
  }

  /**
   * Runs the network on every (user b, candidate c) pair of a [B, C] grid,
   * candAt(b, c) giving the item, in blocks of at most scoreChunk rows;
   * writes the score of (b, c) to out[b * stride + offset + c].
   */
  private scoreGrid(batch: UserBatch, C: number, candAt: (b: number, c: number) => number, out: Float32Array, stride: number, offset: number): void {
    const T = this.maxLen;
    const hist = lastColumns(batch.history, batch.size, batch.L, T);
    const chunk = this.config.scoreChunk;
    const cc = Math.min(C, Math.max(1, Math.floor(chunk / T)));
    const ub = Math.max(1, Math.floor(chunk / (cc * T)));
    for (let u0 = 0; u0 < batch.size; u0 += ub) {
      const nb = Math.min(ub, batch.size - u0);
      const h = hist.subarray(u0 * T, (u0 + nb) * T);
      const users = batch.user.subarray(u0, u0 + nb);
      for (let c0 = 0; c0 < C; c0 += cc) {
        const nc = Math.min(cc, C - c0);
        const cand = new Int32Array(nb * nc);
        for (let b = 0; b < nb; b++) for (let c = 0; c < nc; c++) cand[b * nc + c] = candAt(u0 + b, c0 + c);
        const t = tf.tidy(() => this.logits(h, users, nb, T, cand, nc));
        const v = t.dataSync() as Float32Array;
        t.dispose();
        for (let b = 0; b < nb; b++) out.set(v.subarray(b * nc, (b + 1) * nc), (u0 + b) * stride + offset + c0);
      }
    }
  }

  override scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array {
    this.assertReady();
    if (candidates.length !== batch.size * C) throw new Error(`din.scoreCandidates: ${candidates.length} candidates, expected size * C = ${batch.size * C}`);
    const out = new Float32Array(batch.size * C);
    this.scoreGrid(batch, C, (b, c) => candidates[b * C + c], out, C, 0);
    return out;
  }

  override scoreAll(batch: UserBatch): Float32Array {
    const dims = this.assertReady();
    const V = dims.numItems + 1;
    const out = new Float32Array(batch.size * V);
    this.scoreGrid(batch, dims.numItems, (_b, c) => c + 1, out, V, 1);
    for (let b = 0; b < batch.size; b++) out[b * V] = Number.NEGATIVE_INFINITY;
    return out;
  }

  /** [B, d]: the target-independent masked mean of the history embeddings. */
  protected userVectors(batch: UserBatch): tf.Tensor2D {
    const B = batch.size;
    const T = this.maxLen;
    const hist = lastColumns(batch.history, B, batch.L, T);
    const keep = new Float32Array(B * T);
    const inv = new Float32Array(B);
    for (let b = 0; b < B; b++) {
      let n = 0;
      for (let t = 0; t < T; t++) if (hist[b * T + t] !== 0) { keep[b * T + t] = 1; n++; }
      inv[b] = 1 / Math.max(n, 1);
    }
    const H = this.itemInput(this.ids(hist, B, T));
    const sum = tf.sum(tf.mul(H, tf.tensor3d(keep, [B, T, 1])), 1);
    return tf.mul(sum, tf.tensor2d(inv, [B, 1])) as tf.Tensor2D;
  }

  protected itemVectors(): tf.Tensor2D {
    return this.itemEmb.table as tf.Tensor2D;
  }
}
