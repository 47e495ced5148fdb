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
import { causalPaddingMask, fusedAttention, keyPaddingMask, tf, timestepMask } from '../engine/index.js';
import { Embedding, LayerNorm, Linear, type Rng } from '../nn/index.js';
import type { UserBatch } from './types.js';
import { checkInt, checkRate, parseModelConfig, type ModelDims } from './neural.js';
import { TiedEmbeddingRecommender, checkLossConfig } from './heads.js';

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

interface Block {
  ln1: LayerNorm;
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  ln2: LayerNorm;
  f1: Linear;
  f2: Linear;
}

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
    this.layers = Array.from({ length: blocks }, (_, i) => ({
      ln1: new LayerNorm(this.store, `blocks.${i}.attn_ln`, d, eps),
      q: new Linear(this.store, `blocks.${i}.attn.q`, d, d),
      k: new Linear(this.store, `blocks.${i}.attn.k`, d, d),
      v: new Linear(this.store, `blocks.${i}.attn.v`, d, d),
      o: new Linear(this.store, `blocks.${i}.attn.o`, d, d),
      ln2: new LayerNorm(this.store, `blocks.${i}.ffn_ln`, d, eps),
      f1: new Linear(this.store, `blocks.${i}.ffn.1`, d, inner),
      f2: new Linear(this.store, `blocks.${i}.ffn.2`, inner, d),
    }));
    this.lnF = new LayerNorm(this.store, 'final_ln', d, eps);
  }

  /**
   * Multi-head attention of queries hq [B, Tq, d] over h [B, T, d] with an
   * additive mask [B, 1, Tq, T], as one fused kernel each way (engine
   * `fusedAttention`; attention dropout is its `keep` multiplier, drawn from
   * the same seeded stream as this.dropout).
   */
  private attend(l: Block, hq: tf.Tensor, h: tf.Tensor, mask: tf.Tensor, B: number, Tq: number, T: number): tf.Tensor {
    const { d, heads: H } = this.config;
    const rate = this.config.attnDropout ?? this.config.dropout;
    const hd = d / H;
    const q = l.q.apply(hq);
    const k = l.k.apply(h);
    const v = l.v.apply(h);
    const keepFor = (shape: number[]): tf.Tensor | null => {
      const ones = tf.ones(shape);
      const keep = this.dropout(ones, rate);
      return keep === ones ? null : keep;
    };
    let out: tf.Tensor;
    if (H === 1) {
      out = fusedAttention(q, k, v, { mask: tf.reshape(mask, [B, Tq, T]), scale: 1 / Math.sqrt(hd), keep: keepFor([B, Tq, T]) });
    } else {
      const split = (x: tf.Tensor, n: number) => tf.transpose(tf.reshape(x, [B, n, H, hd]), [0, 2, 1, 3]);
      const att = fusedAttention(split(q, Tq), split(k, T), split(v, T), { mask, scale: 1 / Math.sqrt(hd), keep: keepFor([B, H, Tq, T]) });
      out = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [B, Tq, d]);
    }
    return l.o.apply(out);
  }

  private ffn(l: Block, x: tf.Tensor): tf.Tensor {
    const rate = this.config.dropout;
    return this.dropout(l.f2.apply(this.dropout(tf.relu(l.f1.apply(l.ln2.apply(x))), rate)), rate);
  }

  /** The sequence representation h [B, d]. */
  protected userVectors(batch: UserBatch): tf.Tensor2D {
    const { d, dropout: rate } = this.config;
    const B = batch.size;
    const { ids, T } = trimHistory(batch.history, B, batch.L, this.maxLen);
    const idT = this.ids(ids, B, T);
    const pos = tf.slice(this.posEmb, [this.maxLen - T, 0], [T, d]);
    const tmask = timestepMask(ids, B, T);
    let x = tf.mul(this.dropout(tf.add(tf.mul(this.itemEmb.apply(idT), Math.sqrt(d)), pos), rate), tmask);
    const nBlocks = this.layers.length;
    const lastMask = tf.slice(tmask, [0, T - 1, 0], [B, 1, 1]);
    for (let i = 0; i < nBlocks; i++) {
      const l = this.layers[i];
      const h = l.ln1.apply(x);
      if (i < nBlocks - 1) {
        x = tf.add(x, this.dropout(this.attend(l, h, h, causalPaddingMask(ids, B, T), B, T, T), rate));
        x = tf.mul(tf.add(x, this.ffn(l, x)), tmask);
      } else {
        // Only the last position feeds the output: query it alone (same result, T times less FFN work).
        const xq = tf.slice(x, [0, T - 1, 0], [B, 1, d]);
        const hq = tf.slice(h, [0, T - 1, 0], [B, 1, d]);
        let y = tf.add(xq, this.dropout(this.attend(l, hq, h, keyPaddingMask(ids, B, T), B, 1, T), rate));
        y = tf.mul(tf.add(y, this.ffn(l, y)), lastMask);
        x = y;
      }
    }
    return this.lnF.apply(tf.reshape(x, [B, d])) as tf.Tensor2D;
  }
}

