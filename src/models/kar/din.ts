/**
 * kar-din: DIN (src/models/din.ts) with KAR knowledge vectors (docs/METHODS.md §8).
 *
 *   item input   E[i] + A_item(k_i)          for every history item and the candidate,
 *                                            so the knowledge enters the activation unit
 *                                            and the prediction MLP
 *   user field   A_user(p_u)                 an extra feature field of the prediction MLP
 *                                            ([v, t, A_user(p_u)]), as KAR's augmented
 *                                            vectors are extra inputs of a CTR model
 *
 * k_i, p_u: knowledge vectors (prepare.ts), stored with the model as
 * non-trainable parameters; A_item, A_user: hybrid-expert adaptors
 * (adaptor.ts). An unknown user (index outside the training users) gets the
 * zero knowledge row.
 */
import { tf } from '../../engine/index.js';
import type { Rng } from '../../nn/index.js';
import type { SplitDataset } from '../../data/types.js';
import type { FitOptions, FitReport } from '../types.js';
import type { ModelDims } from '../neural.js';
import { DIN, DIN_DEFAULTS, type DINConfig } from '../din.js';
import { KnowledgeTables } from './adaptor.js';
import { type KarOptions, KAR_DEFAULTS, checkKarConfig, fitWithKnowledge, type KnowledgeVectors, type KarReport } from './prepare.js';

export type KarDINConfig = DINConfig & KarOptions;

export const KAR_DIN_DEFAULTS: KarDINConfig = { ...DIN_DEFAULTS, ...KAR_DEFAULTS };

export class KarDIN extends DIN {
  override readonly name: string = 'kar-din';
  private readonly kar: KarOptions;
  private tables!: KnowledgeTables;
  private pending: KnowledgeVectors | null = null;
  /** Knowledge facts of the last fit (reports). */
  karReport: KarReport | null = null;

  constructor(config: Record<string, unknown> = {}) {
    super(config, 'kar-din', KAR_DIN_DEFAULTS);
    this.kar = this.config as unknown as KarDINConfig;
    checkKarConfig('kar-din', this.kar);
  }

  protected override build(dims: ModelDims, rng: Rng): void {
    super.build(dims, rng);
    this.tables = new KnowledgeTables(this.store, dims.numUsers, dims.numItems, this.config.d, this.config.initStd, this.kar, this.pending);
  }

  protected override itemInput(ids: tf.Tensor): tf.Tensor {
    const e = super.itemInput(ids);
    const k = this.tables.item(ids, (x) => this.dropout(x, this.kar.knowledgeDropout));
    return k ? tf.add(e, tf.reshape(k, e.shape)) : e;
  }

  protected override extraFeatureDim(): number {
    return this.kar.useUser ? this.config.d : 0;
  }

  protected override extraFeatures(user: Int32Array, B: number): tf.Tensor2D | null {
    return this.tables.user(user, B, (x) => this.dropout(x, this.kar.knowledgeDropout));
  }

  override async fit(data: SplitDataset, opts: FitOptions): Promise<FitReport> {
    return fitWithKnowledge('kar-din', this.kar, data, opts, (v, r) => { this.pending = v; if (r) this.karReport = r; }, () => super.fit(data, opts));
  }
}
