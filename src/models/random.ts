/**
 * Random: the reference a trained model must beat. score(user, item) is a
 * uniform number in [0, 1) hashed from (seed, user, item), so scores are
 * deterministic per seed and independent of batching. The seed is the fit
 * seed (saved with the model).
 */
import { mixSeed } from '../util/random.js';
import type { SplitDataset } from '../data/types.js';
import type { SafeTensor } from '../io/safetensors.js';
import type { FitOptions, FitReport, UserBatch } from './types.js';
import { dimsOf, parseModelConfig, type SavedModel } from './neural.js';
import { SimpleRecommender } from './simple.js';
import { validateOnce } from './trainer.js';

export type RandomConfig = Record<string, never>;
export const RANDOM_DEFAULTS: RandomConfig = {};

/** The fitted state: the seed (uint32). */
export class RandomRecommender extends SimpleRecommender<number> {
  readonly name = 'random';

  constructor(config: Record<string, unknown> = {}) {
    super(parseModelConfig('random', config, RANDOM_DEFAULTS));
  }

  private score(seed: number, user: number, item: number): number {
    return mixSeed(mixSeed(seed, user), item) / 4294967296;
  }

  async fit(data: SplitDataset, opts: FitOptions): Promise<FitReport> {
    this.setFitted(opts.seed >>> 0, dimsOf(data));
    return validateOnce(this, data, opts, 0);
  }

  scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array {
    const { state: seed } = this.ready();
    this.checkCandidates(batch, candidates, C);
    const out = new Float32Array(candidates.length);
    for (let b = 0; b < batch.size; b++) {
      const u = batch.user[b];
      for (let c = 0; c < C; c++) out[b * C + c] = this.score(seed, u, candidates[b * C + c]);
    }
    return out;
  }

  scoreAll(batch: UserBatch): Float32Array {
    const { state: seed, dims } = this.ready();
    const V = dims.numItems + 1;
    const out = new Float32Array(batch.size * V);
    for (let b = 0; b < batch.size; b++) {
      const u = batch.user[b];
      out[b * V] = Number.NEGATIVE_INFINITY;
      for (let i = 1; i < V; i++) out[b * V + i] = this.score(seed, u, i);
    }
    return out;
  }

  protected toTensor(seed: number): [string, SafeTensor] {
    return ['seed', { dtype: 'I32', shape: [1], data: new Int32Array([seed | 0]) }];
  }

  protected fromSaved(saved: SavedModel): number {
    const t = saved.tensors.get('seed');
    if (!t || t.dtype !== 'I32' || t.data.length !== 1) throw new Error("random: saved weights need an I32 'seed' tensor of shape [1]");
    return (t.data as Int32Array)[0] >>> 0;
  }
}
