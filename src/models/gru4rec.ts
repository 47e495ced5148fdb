/**
 * GRU4Rec (Hidasi et al. 2016, in its RecBole form): item embedding ->
 * dropout -> one GRU layer (the `gruSequence` op, one kernel each way, PyTorch gate order) ->
 * last hidden state -> (a dense layer to d when hidden != d) = the sequence
 * representation h; score(i) = <h, E[i]>.
 *
 * Left padding: leading all-padding columns of a batch are skipped; in the
 * remaining columns a row's hidden state is carried unchanged through its own
 * padding (h_t = h_{t-1} + m_t (GRU(x_t, h_{t-1}) - h_{t-1})), so padding never
 * changes a sequence's state.
 *
 * Losses: 'ce' (default, softmax over every item id as in RecBole) or 'bce'
 * (numNegatives sampled negatives, log-sigmoid), on the last position of each
 * sliding-window sample (src/models/heads.ts).
 */
import { gruSequence, tf } from '../engine/index.js';
import { Embedding, Linear, type Rng } from '../nn/index.js';
import type { UserBatch } from './types.js';
import { checkInt, checkRate, parseModelConfig, type ModelDims } from './neural.js';
import { TiedEmbeddingRecommender, checkLossConfig } from './heads.js';
import { trimHistory } from './sasrec.js';

export type GRU4RecConfig = {
  /** Item embedding size (and of the sequence representation). */
  d: number;
  /** GRU hidden size (null: d). */
  hidden: number | null;
  /** Dropout on the item embeddings (RecBole dropout_prob). */
  dropout: number;
  /** 'ce' or 'bce'. */
  loss: string;
  /** Negatives per row for loss 'bce'. */
  numNegatives: number;
  /** Std of the normal initialisation of the item embeddings. */
  initStd: number;
  /** Global gradient-norm clipping (null: off). */
  clipNorm: number | null;
};

export const GRU4REC_DEFAULTS: GRU4RecConfig = { d: 64, hidden: null, dropout: 0.2, loss: 'ce', numNegatives: 1, initStd: 0.1, clipNorm: null };

export class GRU4Rec extends TiedEmbeddingRecommender<GRU4RecConfig> {
  readonly name = 'gru4rec';
  private ih!: Linear;
  private hh!: Linear;
  private dense: Linear | null = null;
  private H = 0;

  constructor(config: Record<string, unknown> = {}) {
    const c = parseModelConfig('gru4rec', config, GRU4REC_DEFAULTS);
    checkInt('gru4rec', 'd', c.d);
    if (c.hidden !== null) checkInt('gru4rec', 'hidden', c.hidden);
    checkRate('gru4rec', 'dropout', c.dropout);
    checkLossConfig('gru4rec', c);
    super(c);
  }

  protected build(dims: ModelDims, _rng: Rng): void {
    const d = this.config.d;
    const H = (this.H = this.config.hidden ?? d);
    this.itemEmb = new Embedding(this.store, 'item_emb', dims.numItems + 1, d, this.config.initStd);
    this.ih = new Linear(this.store, 'gru.ih', d, 3 * H);
    this.hh = new Linear(this.store, 'gru.hh', H, 3 * H);
    this.dense = H !== d ? new Linear(this.store, 'dense', H, d) : null;
  }

  protected userVectors(batch: UserBatch): tf.Tensor2D {
    const B = batch.size;
    const H = this.H;
    const { ids, T } = trimHistory(batch.history, B, batch.L, batch.L);
    // Time-major from the start: the ids are laid out [T, B] before the lookup,
    // so the embeddings, the dropout and the input projections of all steps
    // (one GEMM) come out [T, B, .] with no transpose of [B, T, 3H] either way
    // (docs/PERF.md "GRU4Rec without transposes"); the recurrence is one kernel each way.
    const idsT = new Int32Array(T * B);
    let pad = false;
    const m = new Float32Array(T * B);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const id = ids[b * T + t];
        idsT[t * B + b] = id;
        m[t * B + b] = id !== 0 ? 1 : 0;
        if (id === 0) pad = true;
      }
    }
    const x = this.dropout(this.itemEmb.apply(this.ids(idsT, T, B)), this.config.dropout); // [T, B, d]
    const gx = this.ih.apply(x) as tf.Tensor3D; // [T, B, 3H]
    const hs = gruSequence(gx, this.hh.W as unknown as tf.Tensor2D, this.hh.b as unknown as tf.Tensor1D, tf.zeros([B, H]),
      pad ? tf.tensor2d(m, [T, B]) : null);
    const h = tf.reshape(tf.slice(hs, [T - 1, 0, 0], [1, B, H]), [B, H]) as tf.Tensor2D;
    return (this.dense ? this.dense.apply(h) : h) as tf.Tensor2D;
  }
}
