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
import { Embedding, LayerNorm, type ParamStore, type Rng } from '../nn/index.js';
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

/** Validates a SASRec config (also kar-sasrec's), naming the model in errors. */
export function checkSASRecConfig(model: string, c: SASRecConfig): void {
  checkInt(model, 'd', c.d);
  checkInt(model, 'blocks', c.blocks);
  checkInt(model, 'heads', c.heads);
  if (c.d % c.heads !== 0) throw new Error(`${model}: d (${c.d}) must be divisible by heads (${c.heads})`);
  if (c.inner !== null) checkInt(model, 'inner', c.inner);
  if (c.maxLen !== null) checkInt(model, 'maxLen', c.maxLen);
  checkRate(model, 'dropout', c.dropout);
  if (c.attnDropout !== null) checkRate(model, 'attnDropout', c.attnDropout);
  checkLossConfig(model, c);
}

/** SASRec's encoder besides the item embedding (which the tied head holds): positions, blocks, final LayerNorm. */
export interface SASRecEncoder { posEmb: tf.Variable; layers: Block[]; lnF: LayerNorm; maxLen: number }

/** SASRec's parameters in `store` (also kar-sasrec's): item and position embeddings, the blocks, the final LayerNorm. */
export function buildSASRecParams(model: string, store: ParamStore, c: SASRecConfig, dims: ModelDims): SASRecEncoder & { itemEmb: Embedding } {
  const { d, blocks, initStd, layerNormEps: eps } = c;
  const maxLen = c.maxLen ?? dims.maxHistory;
  checkInt(model, 'maxLen (data.config.maxHistory)', maxLen);
  return {
    itemEmb: new Embedding(store, 'item_emb', dims.numItems + 1, d, initStd),
    posEmb: store.add('pos_emb.weight', [maxLen, d], { kind: 'normal', std: initStd }),
    layers: buildBlocks(store, blocks, d, c.inner ?? d, eps),
    lnF: new LayerNorm(store, 'final_ln', d, eps),
    maxLen,
  };
}

/**
 * The sequence representation h [B, d] of SASRec (also kar-sasrec's): the
 * history trimmed to maxLen, x_0 = dropout(input + P[position]) * mask, h =
 * LN_final(blocks(x_0) at the last position). `input(ids, T)` gives [B, T, d]
 * for the trimmed ids (SASRec: E[item] * sqrt(d)); `drop` is the model's
 * seeded dropout, for the embeddings and the blocks.
 */
export function encodeSASRec(enc: SASRecEncoder, c: SASRecConfig, batch: UserBatch, input: (ids: Int32Array, T: number) => tf.Tensor,
  drop: (x: tf.Tensor, rate: number) => tf.Tensor): tf.Tensor2D {
  const { d, heads, dropout } = c;
  const B = batch.size;
  const { ids, T } = trimHistory(batch.history, B, batch.L, enc.maxLen);
  const e = input(ids, T);
  const pos = tf.slice(enc.posEmb, [enc.maxLen - T, 0], [T, d]);
  const tmask = timestepMask(ids, B, T);
  const x = tf.mul(drop(tf.add(e, pos), dropout), tmask);
  const blockOptions: BlockOptions = { d, heads, dropout, attnDropout: c.attnDropout ?? dropout, drop };
  return enc.lnF.apply(encodeLast(blockOptions, enc.layers, x, ids, tmask, B, T, true)) as tf.Tensor2D;
}

export class SASRec extends TiedEmbeddingRecommender<SASRecConfig> {
  readonly name = 'sasrec';
  private enc!: SASRecEncoder;

  constructor(config: Record<string, unknown> = {}) {
    const c = parseModelConfig('sasrec', config, SASREC_DEFAULTS);
    checkSASRecConfig('sasrec', c);
    super(c);
  }

  protected build(dims: ModelDims, _rng: Rng): void {
    ({ itemEmb: this.itemEmb, ...this.enc } = buildSASRecParams('sasrec', this.store, this.config, dims));
  }

  /** The sequence representation h [B, d]. */
  protected userVectors(batch: UserBatch): tf.Tensor2D {
    return encodeSASRec(this.enc, this.config, batch, (ids, T) => tf.mul(this.itemEmb.apply(this.ids(ids, batch.size, T)), Math.sqrt(this.config.d)),
      (x, rate) => this.dropout(x, rate));
  }
}
