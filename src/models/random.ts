/**
 * Random: the reference a trained model must beat. score(user, item) is a
 * uniform number in [0, 1) hashed from (seed, user, item), so scores are
 * deterministic per seed and independent of batching. The seed is the fit
 * seed (saved with the model).
 */
import { mixSeed } from '../data/protocol.js';
import type { SplitDataset } from '../data/types.js';
import type { FitOptions, FitReport, Recommender, UserBatch } from './types.js';
import { dimsOf, parseConfig, writeModelDir, type ModelDims, type Restorable, type SavedModel } from './neural.js';
import { validateOnce } from './trainer.js';

export type RandomConfig = Record<string, never>;
export const RANDOM_DEFAULTS: RandomConfig = {};

export class RandomRecommender implements Recommender, Restorable {
  readonly name = 'random';
  readonly config: RandomConfig;
  private seed: number | null = null;
  private dims: ModelDims | null = null;

  constructor(config: Record<string, unknown> = {}) {
    this.config = parseConfig('random', config, RANDOM_DEFAULTS);
  }

  private ready(): { seed: number; dims: ModelDims } {
    if (this.seed === null || !this.dims) throw new Error('random: model not fitted (call fit() or loadRecommender() before scoring)');
    return { seed: this.seed, dims: this.dims };
  }

  private score(seed: number, user: number, item: number): number {
    return mixSeed(mixSeed(seed, user), item) / 4294967296;
  }

  async fit(data: SplitDataset, opts: FitOptions): Promise<FitReport> {
    this.seed = opts.seed >>> 0;
    this.dims = dimsOf(data);
    return validateOnce(this, data, opts, 0);
  }

  scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array {
    const { seed } = this.ready();
    if (candidates.length !== batch.size * C) throw new Error(`random.scoreCandidates: ${candidates.length} candidates, expected size * C = ${batch.size * C}`);
    const out = new Float32Array(candidates.length);
    for (let b = 0; b < batch.size; b++) {
      const u = batch.user[b];
      for (let c = 0; c < C; c++) out[b * C + c] = this.score(seed, u, candidates[b * C + c]);
    }
    return out;
  }

  scoreAll(batch: UserBatch): Float32Array {
    const { seed, dims } = this.ready();
    const V = dims.numItems + 1;
    const out = new Float32Array(batch.size * V);
    for (let b = 0; b < batch.size; b++) {
      const u = batch.user[b];
      out[b * V] = Number.NEGATIVE_INFINITY;
      for (let i = 1; i < V; i++) out[b * V + i] = this.score(seed, u, i);
    }
    return out;
  }

  userEmbedding(): Float32Array | null {
    this.ready();
    return null;
  }

  itemEmbeddings(): { dim: number; data: Float32Array } | null {
    this.ready();
    return null;
  }

  async save(dir: string): Promise<void> {
    const { seed, dims } = this.ready();
    writeModelDir(dir, {
      name: this.name, config: this.config, dims,
      tensors: new Map([['seed', { dtype: 'I32', shape: [1], data: new Int32Array([seed | 0]) }]]),
    });
  }

  restore(saved: SavedModel): void {
    const t = saved.tensors.get('seed');
    if (!t || t.dtype !== 'I32' || t.data.length !== 1) throw new Error("random: saved weights need an I32 'seed' tensor of shape [1]");
    this.seed = (t.data as Int32Array)[0] >>> 0;
    this.dims = { ...saved.dims };
  }

  dispose(): void {
    this.seed = null;
    this.dims = null;
  }
}
