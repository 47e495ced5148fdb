/**
 * Pop: scores every item by its number of occurrences in the training
 * sequences (data.trainSeqs, so validation and test targets never leak in).
 * The same ranking for every user. Scores are raw counts: equal counts tie
 * (the evaluator breaks ties pessimistically; a top-k list sorted stably by
 * score then item index breaks them by index).
 */
import type { SplitDataset } from '../data/types.js';
import type { SafeTensor } from '../io/safetensors.js';
import type { FitOptions, FitReport, UserBatch } from './types.js';
import { dimsOf, parseModelConfig, type SavedModel } from './neural.js';
import { SimpleRecommender } from './simple.js';
import { validateOnce } from './trainer.js';

export type PopConfig = Record<string, never>;
export const POP_DEFAULTS: PopConfig = {};

/** The fitted state: the count of every item (index 0 = padding, always 0). */
export class Pop extends SimpleRecommender<Float32Array> {
  readonly name = 'pop';

  constructor(config: Record<string, unknown> = {}) {
    super(parseModelConfig('pop', config, POP_DEFAULTS));
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
    this.setFitted(counts, dimsOf(data));
    return validateOnce(this, data, opts, (performance.now() - t0) / 1000);
  }

  /** The popularity count of each item (index 0 = padding, always 0). */
  itemCounts(): Float32Array {
    return this.ready().state.slice();
  }

  scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array {
    const counts = this.ready().state;
    this.checkCandidates(batch, candidates, C);
    const out = new Float32Array(candidates.length);
    for (let i = 0; i < candidates.length; i++) out[i] = counts[candidates[i]];
    return out;
  }

  scoreAll(batch: UserBatch): Float32Array {
    const counts = this.ready().state;
    const V = counts.length;
    const out = new Float32Array(batch.size * V);
    for (let b = 0; b < batch.size; b++) {
      out.set(counts, b * V);
      out[b * V] = Number.NEGATIVE_INFINITY;
    }
    return out;
  }

  protected toTensor(counts: Float32Array): [string, SafeTensor] {
    return ['counts', { dtype: 'F32', shape: [counts.length], data: counts.slice() }];
  }

  protected fromSaved(saved: SavedModel): Float32Array {
    const t = saved.tensors.get('counts');
    const V = saved.dims.numItems + 1;
    if (!t || t.dtype !== 'F32' || t.shape.length !== 1 || t.shape[0] !== V) throw new Error(`pop: saved weights need an F32 'counts' tensor of shape [${V}]`);
    return (t.data as Float32Array).slice();
  }
}
