/**
 * Pop: scores every item by its number of occurrences in the training
 * sequences (data.trainSeqs, so validation and test targets never leak in).
 * The same ranking for every user. Scores are raw counts: equal counts tie
 * (the evaluator breaks ties pessimistically; a top-k list sorted stably by
 * score then item index breaks them by index).
 */
import type { SplitDataset } from '../data/types.js';
import type { FitOptions, FitReport, Recommender, UserBatch } from './types.js';
import { dimsOf, parseConfig, writeModelDir, type ModelDims, type Restorable, type SavedModel } from './neural.js';
import { validateOnce } from './trainer.js';

export type PopConfig = Record<string, never>;
export const POP_DEFAULTS: PopConfig = {};

export class Pop implements Recommender, Restorable {
  readonly name = 'pop';
  readonly config: PopConfig;
  private counts: Float32Array | null = null;
  private dims: ModelDims | null = null;

  constructor(config: Record<string, unknown> = {}) {
    this.config = parseConfig('pop', config, POP_DEFAULTS);
  }

  private ready(): Float32Array {
    if (!this.counts) throw new Error('pop: model not fitted (call fit() or loadRecommender() before scoring)');
    return this.counts;
  }

  async fit(data: SplitDataset, opts: FitOptions): Promise<FitReport> {
    const t0 = performance.now();
    const counts = new Float32Array(data.numItems + 1);
    for (const seq of data.trainSeqs) {
      for (let i = 0; i < seq.length; i++) {
        const it = seq[i];
        if (it < 1 || it > data.numItems) throw new Error(`pop: train item ${it} outside 1..${data.numItems}`);
        counts[it]++;
      }
    }
    this.counts = counts;
    this.dims = dimsOf(data);
    return validateOnce(this, data, opts, (performance.now() - t0) / 1000);
  }

  /** The popularity count of each item (index 0 = padding, always 0). */
  itemCounts(): Float32Array {
    return this.ready().slice();
  }

  scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array {
    const counts = this.ready();
    if (candidates.length !== batch.size * C) throw new Error(`pop.scoreCandidates: ${candidates.length} candidates, expected size * C = ${batch.size * C}`);
    const out = new Float32Array(candidates.length);
    for (let i = 0; i < candidates.length; i++) out[i] = counts[candidates[i]];
    return out;
  }

  scoreAll(batch: UserBatch): Float32Array {
    const counts = this.ready();
    const V = counts.length;
    const out = new Float32Array(batch.size * V);
    for (let b = 0; b < batch.size; b++) {
      out.set(counts, b * V);
      out[b * V] = Number.NEGATIVE_INFINITY;
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
    const counts = this.ready();
    writeModelDir(dir, {
      name: this.name, config: this.config, dims: this.dims!,
      tensors: new Map([['counts', { dtype: 'F32', shape: [counts.length], data: counts.slice() }]]),
    });
  }

  restore(saved: SavedModel): void {
    const t = saved.tensors.get('counts');
    const V = saved.dims.numItems + 1;
    if (!t || t.dtype !== 'F32' || t.shape.length !== 1 || t.shape[0] !== V) throw new Error(`pop: saved weights need an F32 'counts' tensor of shape [${V}]`);
    this.counts = (t.data as Float32Array).slice();
    this.dims = { ...saved.dims };
  }

  dispose(): void {
    this.counts = null;
    this.dims = null;
  }
}
