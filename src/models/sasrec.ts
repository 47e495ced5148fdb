/**
 * SASRec (Kang & McAuley, ICDM 2018): self-attentive sequential recommendation.
 *
 *   x_0 = dropout(E[item] * sqrt(d) + P[position]) * mask        (learned positions, right-aligned:
 *                                                                  the last history slot is always P[maxLen - 1])
 *   per block (pre-LN, as the original code):  x = x + dropout(Attn(LN(x)))     causal + key-padding mask,
 *                                              x = x + dropout(FFN(LN(x)))      FFN = W2 dropout(relu(W1 .))
 *                                              x = x * mask
 *   h = LN_final(x at the last position)  ->  score(i) = <h, E[i]>  (input and output item embeddings shared)
 *
 * Differences from the original code, by design: standard pre-LN residuals
 * (the original adds the attention output to LN(x) instead of x) and the
 * attention has an output projection (as torch.nn.MultiheadAttention in
 * pmixer/SASRec.pytorch). The last block computes its query, attention and
 * FFN only at the last position (the only one the loss and the scores read),
 * and leading all-padding columns of a batch are skipped; both give the same
 * result as the full computation.
 *
 * Losses (config.loss):
 *  - 'ce' (RecBole's default loss_type CE): softmax cross-entropy over every
 *    item id (logits = h E^T over the whole table; the padding row is a class
 *    that is never a label, as in RecBole);
 *  - 'bce' (the original paper): -log sigma(<h, E[pos]>) - sum_j log sigma(-<h, E[neg_j]>)
 *    with numNegatives uniform negatives.
 * Training uses the last position of each sliding-window sample (both losses:
 * src/models/heads.ts).
 *
 * Defaults: d 64, 2 blocks, 1 head, inner = d, dropout 0.2 (the paper uses
 * 0.2 on MovieLens-1M and 0.5 on the sparse Amazon data; RecBole defaults to
 * 0.5 with CE), maxLen = data.config.maxHistory.
 */
import { tf, timestepMask } from '../engine/index.js';
import { Embedding, LayerNorm, type Rng } from '../nn/index.js';
import type { UserBatch } from './types.js';
import { checkInt, checkRate, parseModelConfig, type ModelDims } from './neural.js';
import { TiedEmbeddingRecommender, checkLossConfig } from './heads.js';
import { type Block, type BlockOptions, buildBlocks, encodeLast } from './blocks.js';

export type SASRecConfig = {
  /** Hidden size (item and position embeddings). */
  d: number;
  /** Self-attention blocks. */
  blocks: number;
  /** Attention heads (d must be divisible by heads). */
  heads: number;
  /** FFN inner size (null: d, as the original). */
  inner: number | null;
  /** Dropout on embeddings, attention output and FFN. */
  dropout: number;
  /** Dropout on attention probabilities (null: same as dropout). */
  attnDropout: number | null;
  /** Longest history used (null: data.config.maxHistory). */
  maxLen: number | null;
  /** 'ce' (softmax over all items) or 'bce' (sampled negatives). */
  loss: string;
  /** Negatives per row for loss 'bce'. */
  numNegatives: number;
  /** Std of the normal initialisation of the embeddings (RecBole initializer_range). */
  initStd: number;
  layerNormEps: number;
  /** Global gradient-norm clipping (null: off). */
  clipNorm: number | null;
};

export const SASREC_DEFAULTS: SASRecConfig = {
  d: 64, blocks: 2, heads: 1, inner: null, dropout: 0.2, attnDropout: null, maxLen: null,
  loss: 'ce', numNegatives: 1, initStd: 0.02, layerNormEps: 1e-8, clipNorm: null,
};

/** The last T columns of a [B, L] left-padded id matrix, with leading all-padding columns dropped (at least 1 column kept). */
export function trimHistory(history: Int32Array, B: number, L: number, maxLen: number): { ids: Int32Array; T: number } {
  let T = Math.min(L, maxLen);
  let lead = T;
  for (let b = 0; b < B && lead > 0; b++) {
    const row = b * L + (L - T);
    let p = 0;
    while (p < lead && history[row + p] === 0) p++;
    lead = p;
  }
  T = Math.max(1, T - lead);
  if (T === L) return { ids: history, T };
  const ids = new Int32Array(B * T);
  for (let b = 0; b < B; b++) ids.set(history.subarray(b * L + L - T, (b + 1) * L), b * T);
  return { ids, T };
}

export class SASRec extends TiedEmbeddingRecommender<SASRecConfig> {
  readonly name = 'sasrec';
  private posEmb!: tf.Variable;
  private layers: Block[] = [];
  private lnF!: LayerNorm;
  private maxLen = 0;

  constructor(config: Record<string, unknown> = {}) {
    const c = parseModelConfig('sasrec', config, SASREC_DEFAULTS);
    checkInt('sasrec', 'd', c.d);
    checkInt('sasrec', 'blocks', c.blocks);
    checkInt('sasrec', 'heads', c.heads);
    if (c.d % c.heads !== 0) throw new Error(`sasrec: d (${c.d}) must be divisible by heads (${c.heads})`);
    if (c.inner !== null) checkInt('sasrec', 'inner', c.inner);
    if (c.maxLen !== null) checkInt('sasrec', 'maxLen', c.maxLen);
    checkRate('sasrec', 'dropout', c.dropout);
    if (c.attnDropout !== null) checkRate('sasrec', 'attnDropout', c.attnDropout);
    checkLossConfig('sasrec', c);
    super(c);
  }

  protected build(dims: ModelDims, _rng: Rng): void {
    const { d, blocks, initStd, layerNormEps: eps } = this.config;
    const inner = this.config.inner ?? d;
    this.maxLen = this.config.maxLen ?? dims.maxHistory;
    checkInt('sasrec', 'maxLen (data.config.maxHistory)', this.maxLen);
    this.itemEmb = new Embedding(this.store, 'item_emb', dims.numItems + 1, d, initStd);
    this.posEmb = this.store.add('pos_emb.weight', [this.maxLen, d], { kind: 'normal', std: initStd });
    this.layers = buildBlocks(this.store, blocks, d, inner, eps);
    this.lnF = new LayerNorm(this.store, 'final_ln', d, eps);
  }

  /** Sizes, rates and the seeded dropout for the shared blocks (src/models/blocks.ts). */
  private blockOptions(): BlockOptions {
    const { d, heads, dropout } = this.config;
    return { d, heads, dropout, attnDropout: this.config.attnDropout ?? dropout, drop: (x, rate) => this.dropout(x, rate) };
  }

  /** The sequence representation h [B, d]. */
  protected userVectors(batch: UserBatch): tf.Tensor2D {
    const { d, dropout: rate } = this.config;
    const B = batch.size;
    const { ids, T } = trimHistory(batch.history, B, batch.L, this.maxLen);
    const idT = this.ids(ids, B, T);
    const pos = tf.slice(this.posEmb, [this.maxLen - T, 0], [T, d]);
    const tmask = timestepMask(ids, B, T);
    const x = tf.mul(this.dropout(tf.add(tf.mul(this.itemEmb.apply(idT), Math.sqrt(d)), pos), rate), tmask);
    return this.lnF.apply(encodeLast(this.blockOptions(), this.layers, x, ids, tmask, B, T, true)) as tf.Tensor2D;
  }
}

