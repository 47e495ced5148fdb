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
import { tf } from '../../engine/index.js';
import type { Rng } from '../../nn/index.js';
import type { SplitDataset } from '../../data/types.js';
import type { FitOptions, FitReport, UserBatch } from '../types.js';
import { parseModelConfig, type ModelDims } from '../neural.js';
import { TiedEmbeddingRecommender } from '../heads.js';
import { buildSASRecParams, checkSASRecConfig, encodeSASRec, SASREC_DEFAULTS, type SASRecConfig, type SASRecEncoder } from '../sasrec.js';
import { KnowledgeTables } from './adaptor.js';
import { type KarOptions, KAR_DEFAULTS, checkKarConfig, fitWithKnowledge, type KnowledgeVectors, type KarReport } from './prepare.js';

export type KarSASRecConfig = SASRecConfig & KarOptions;

export const KAR_SASREC_DEFAULTS: KarSASRecConfig = { ...SASREC_DEFAULTS, ...KAR_DEFAULTS };

export class KarSASRec extends TiedEmbeddingRecommender<KarSASRecConfig> {
  readonly name = 'kar-sasrec';
  private enc!: SASRecEncoder;
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
    ({ itemEmb: this.itemEmb, ...this.enc } = buildSASRecParams('kar-sasrec', this.store, this.config, dims));
    this.tables = new KnowledgeTables(this.store, dims.numUsers, dims.numItems, this.config.d, this.config.initStd, this.config, this.pending);
  }

  /** SASRec's h with A_item(k) added to the history's item embeddings and A_user(p_u) to h (the module comment). */
  protected userVectors(batch: UserBatch): tf.Tensor2D {
    const { d } = this.config;
    const B = batch.size;
    const drop = (x: tf.Tensor) => this.dropout(x, this.config.knowledgeDropout);
    const h = encodeSASRec(this.enc, this.config, batch, (ids, T) => {
      const idT = this.ids(ids, B, T);
      const e = tf.mul(this.itemEmb.apply(idT), Math.sqrt(d));
      const k = this.tables.item(idT, drop);
      return k ? tf.add(e, tf.reshape(k, [B, T, d])) : e;
    }, (x, rate) => this.dropout(x, rate));
    const p = this.tables.user(batch.user, B, drop);
    return p ? tf.add(h, p) as tf.Tensor2D : h;
  }

  override async fit(data: SplitDataset, opts: FitOptions): Promise<FitReport> {
    return fitWithKnowledge('kar-sasrec', this.config, data, opts, (v, r) => { this.pending = v; if (r) this.karReport = r; }, () => super.fit(data, opts));
  }
}
