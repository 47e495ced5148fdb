/**
 * kar-sasrec: SASRec (src/models/sasrec.ts) with KAR knowledge vectors
 * (docs/METHODS.md §8; Xi et al. 2023).
 *
 *   k_i = knowledge vector of item i, p_u = knowledge vector of user u
 *         (src/models/kar/knowledge.ts texts, encoded by an ItemTextEncoder:
 *         TF-IDF/BM25 projection or an LM encoder), stored with the model as
 *         non-trainable parameters (`kar.item_knowledge`, `kar.user_knowledge`)
 *   x_0 = dropout(E[h_t] * sqrt(d) + A_item(k_{h_t}) + P[t]) * mask
 *   h   = LN_final(blocks(x_0) at the last position) + A_user(p_u)
 *   score(i) = <h, E[i]>                       (tied embeddings, 'ce' or 'bce' loss as SASRec)
 *
 * A_item, A_user: hybrid-expert adaptors (adaptor.ts). A user the model has
 * no knowledge of (a user index outside the training users, e.g. an
 * anonymous history when serving) gets the zero row: p = 0.
 */
import { tf, timestepMask } from '../../engine/index.js';
import { type LayerNorm, type Rng } from '../../nn/index.js';
import type { SplitDataset } from '../../data/types.js';
import type { FitOptions, FitReport, UserBatch } from '../types.js';
import { parseModelConfig, type ModelDims } from '../neural.js';
import { TiedEmbeddingRecommender } from '../heads.js';
import { type Block, type BlockOptions, encodeLast } from '../blocks.js';
import { buildSASRecParams, checkSASRecConfig, trimHistory, SASREC_DEFAULTS, type SASRecConfig } from '../sasrec.js';
import { KnowledgeTables } from './adaptor.js';
import { type KarOptions, KAR_DEFAULTS, checkKarConfig, fitWithKnowledge, type KnowledgeVectors, type KarReport } from './prepare.js';

export type KarSASRecConfig = SASRecConfig & KarOptions;

export const KAR_SASREC_DEFAULTS: KarSASRecConfig = { ...SASREC_DEFAULTS, ...KAR_DEFAULTS };

export class KarSASRec extends TiedEmbeddingRecommender<KarSASRecConfig> {
  readonly name = 'kar-sasrec';
  private posEmb!: tf.Variable;
  private layers: Block[] = [];
  private lnF!: LayerNorm;
  private maxLen = 0;
  private tables!: KnowledgeTables;
  private pending: KnowledgeVectors | null = null;
  /** Knowledge facts of the last fit (reports). */
  karReport: KarReport | null = null;

  constructor(config: Record<string, unknown> = {}) {
    const c = parseModelConfig('kar-sasrec', config, KAR_SASREC_DEFAULTS);
    checkSASRecConfig('kar-sasrec', c);
    checkKarConfig('kar-sasrec', c);
    super(c);
  }

  protected build(dims: ModelDims, _rng: Rng): void {
    ({ itemEmb: this.itemEmb, posEmb: this.posEmb, layers: this.layers, lnF: this.lnF, maxLen: this.maxLen } =
      buildSASRecParams('kar-sasrec', this.store, this.config, dims));
    this.tables = new KnowledgeTables(this.store, dims.numUsers, dims.numItems, this.config.d, this.config.initStd, this.config, this.pending);
  }

  private blockOptions(): BlockOptions {
    const { d, heads, dropout } = this.config;
    return { d, heads, dropout, attnDropout: this.config.attnDropout ?? dropout, drop: (x, rate) => this.dropout(x, rate) };
  }

  protected userVectors(batch: UserBatch): tf.Tensor2D {
    const { d, dropout: rate } = this.config;
    const B = batch.size;
    const { ids, T } = trimHistory(batch.history, B, batch.L, this.maxLen);
    const idT = this.ids(ids, B, T);
    const pos = tf.slice(this.posEmb, [this.maxLen - T, 0], [T, d]);
    const tmask = timestepMask(ids, B, T);
    let e = tf.mul(this.itemEmb.apply(idT), Math.sqrt(d));
    const drop = (x: tf.Tensor) => this.dropout(x, this.config.knowledgeDropout);
    const k = this.tables.item(idT, drop);
    if (k) e = tf.add(e, tf.reshape(k, [B, T, d]));
    const x = tf.mul(this.dropout(tf.add(e, pos), rate), tmask);
    const h = this.lnF.apply(encodeLast(this.blockOptions(), this.layers, x, ids, tmask, B, T, true)) as tf.Tensor2D;
    const p = this.tables.user(batch.user, B, drop);
    return p ? tf.add(h, p) as tf.Tensor2D : h;
  }

  override async fit(data: SplitDataset, opts: FitOptions): Promise<FitReport> {
    return fitWithKnowledge('kar-sasrec', this.config, data, opts, (v, r) => { this.pending = v; if (r) this.karReport = r; }, () => super.fit(data, opts));
  }
}
