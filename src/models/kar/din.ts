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
import { HybridExperts } from './adaptor.js';
import { type KarOptions, KAR_DEFAULTS, checkKarConfig, prepareKnowledge, runDirs, type KnowledgeVectors, type KarReport } from './prepare.js';

export type KarDINConfig = DINConfig & KarOptions;

export const KAR_DIN_DEFAULTS: KarDINConfig = { ...DIN_DEFAULTS, ...KAR_DEFAULTS };

export class KarDIN extends DIN {
  override readonly name: string = 'kar-din';
  private readonly kar: KarOptions;
  private itemK!: tf.Variable;
  private userK!: tf.Variable;
  private itemAd: HybridExperts | null = null;
  private userAd: HybridExperts | null = null;
  private numUsers = 0;
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
    const { textDim, experts, expertHidden } = this.kar;
    const { d, initStd } = this.config;
    this.numUsers = dims.numUsers;
    this.itemK = this.store.add('kar.item_knowledge', [dims.numItems + 1, textDim], { kind: 'zeros' }, false);
    this.userK = this.store.add('kar.user_knowledge', [dims.numUsers + 1, textDim], { kind: 'zeros' }, false);
    this.itemAd = this.kar.useItem ? new HybridExperts(this.store, 'kar.item_adaptor', textDim, d, experts, expertHidden, initStd) : null;
    this.userAd = this.kar.useUser ? new HybridExperts(this.store, 'kar.user_adaptor', textDim, d, experts, expertHidden, initStd) : null;
    const p = this.pending;
    if (p) {
      const assign = (v: tf.Variable, data: Float32Array) => { const t = tf.tensor(data, v.shape, 'float32'); v.assign(t); t.dispose(); };
      assign(this.itemK, p.items);
      const u = new Float32Array((dims.numUsers + 1) * textDim);
      u.set(p.users.subarray(0, dims.numUsers * textDim));
      assign(this.userK, u);
    }
  }

  protected override itemInput(ids: tf.Tensor): tf.Tensor {
    const e = super.itemInput(ids);
    if (!this.itemAd) return e;
    const k = this.dropout(tf.gather(this.itemK, tf.reshape(ids, [-1])), this.kar.knowledgeDropout) as tf.Tensor2D;
    return tf.add(e, tf.reshape(this.itemAd.apply(k), e.shape));
  }

  protected override extraFeatureDim(): number {
    return this.kar.useUser ? this.config.d : 0;
  }

  protected override extraFeatures(user: Int32Array, B: number): tf.Tensor2D | null {
    if (!this.userAd) return null;
    const rows = new Int32Array(B);
    for (let b = 0; b < B; b++) rows[b] = user[b] >= 0 && user[b] < this.numUsers ? user[b] : this.numUsers;
    const p = this.dropout(tf.gather(this.userK, tf.tensor1d(rows, 'int32')), this.kar.knowledgeDropout) as tf.Tensor2D;
    return this.userAd.apply(p);
  }

  override async fit(data: SplitDataset, opts: FitOptions): Promise<FitReport> {
    const { vectors, report } = await prepareKnowledge('kar-din', this.kar, data, runDirs('kar-din', opts.checkpointDir));
    this.pending = vectors;
    this.karReport = report;
    try {
      return await super.fit(data, opts);
    } finally {
      this.pending = null;
    }
  }
}
