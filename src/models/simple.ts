/**
 * The plumbing shared by the non-neural models (Pop, Random): a fitted state
 * that is saved as one tensor, the "model not fitted" check, no embeddings,
 * save / restore / dispose. A subclass writes fit() (ending in `setFitted`),
 * the scoring, and the conversion of its state to and from the saved tensor.
 */
import type { SafeTensor } from '../io/safetensors.js';
import type { SplitDataset } from '../data/types.js';
import type { FitOptions, FitReport, Recommender, UserBatch } from './types.js';
import { writeModelDir, type ModelDims, type Restorable, type SavedModel } from './neural.js';

export abstract class SimpleRecommender<S> implements Recommender, Restorable {
  abstract readonly name: string;
  readonly config: Record<string, never>;
  private fitted: { state: S; dims: ModelDims } | null = null;

  constructor(config: Record<string, never>) {
    this.config = config;
  }

  /** The state as the one tensor of weights.safetensors: [name, tensor]. */
  protected abstract toTensor(state: S): [string, SafeTensor];
  /** The state from a saved model (throws when its tensor is missing or malformed). */
  protected abstract fromSaved(saved: SavedModel): S;

  abstract fit(data: SplitDataset, opts: FitOptions): Promise<FitReport>;
  abstract scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array;
  abstract scoreAll(batch: UserBatch): Float32Array;

  protected setFitted(state: S, dims: ModelDims): void {
    this.fitted = { state, dims };
  }

  /** The fitted state and dims; throws "model not fitted" before fit()/load. */
  protected ready(): { state: S; dims: ModelDims } {
    if (!this.fitted) throw new Error(`${this.name}: model not fitted (call fit() or loadRecommender() before scoring)`);
    return this.fitted;
  }

  /** Throws unless there are size * C candidates. */
  protected checkCandidates(batch: UserBatch, candidates: Int32Array, C: number): void {
    if (candidates.length !== batch.size * C) throw new Error(`${this.name}.scoreCandidates: ${candidates.length} candidates, expected size * C = ${batch.size * C}`);
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
    const { state, dims } = this.ready();
    writeModelDir(dir, { name: this.name, config: this.config, dims, tensors: new Map([this.toTensor(state)]) });
  }

  restore(saved: SavedModel): void {
    const state = this.fromSaved(saved);
    this.fitted = { state, dims: { ...saved.dims } };
  }

  dispose(): void {
    this.fitted = null;
  }
}
