/**
 * The one interface every collaborative model implements (docs/METHODS.md §3):
 * fit with validation-based early stopping, score candidates, full-ranking
 * scores, user/sequence and item embeddings, save/load.
 */
import type { SplitDataset, UserBatch } from '../data/types.js';

/** A batch of users with their histories (defined in data/types.ts; re-exported for the models). */
export type { UserBatch };

export interface FitOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  /** Stop after this many epochs without improvement of the validation metric. */
  patience: number;
  /** Validation metric that drives early stopping, e.g. 'ndcg@10' (full ranking) or 'auc' (sampled). */
  validMetric: string;
  /** Validation protocol for early stopping. */
  validProtocol: 'full' | 'sampled';
  seed: number;
  /** Weight decay (L2) for the optimizer. */
  weightDecay?: number;
  /**
   * Batches of similar history length (src/data/batches.ts groupedPermutation): the
   * rows of `groupByLength` batches are sorted by length before being cut into
   * batches. 0 or 1 (default): plain shuffling.
   */
  groupByLength?: number;
  /**
   * Learning-rate decay on a plateau (docs/DESIGN.md "Training"): after `lrDecayPatience`
   * (default 1) epochs in a row without a strict improvement of the validation metric, lr is
   * multiplied by `lrDecay` (in (0, 1)); the count restarts after each decay and at every
   * improvement. Absent: a constant lr.
   */
  lrDecay?: number;
  lrDecayPatience?: number;
  /** Called after every epoch (progress bars, logs). */
  onEpoch?: (e: EpochReport) => void;
  /** Called every few batches within an epoch. */
  onBatch?: (done: number, total: number, loss: number) => void;
  /** Aborting (Ctrl-C) stops after the current batch; the trainer checkpoints and returns. */
  signal?: AbortSignal;
  /** Directory for checkpoints; with `resume` the fit continues from the last one. */
  checkpointDir?: string;
  resume?: boolean;
}

export interface EpochReport {
  epoch: number;
  loss: number;
  valid: Record<string, number>;
  seconds: number;
  best: boolean;
  /** The learning rate this epoch trained with (reported when `lrDecay` is set). */
  lr?: number;
}

export interface FitReport {
  epochs: EpochReport[];
  bestEpoch: number;
  bestValid: Record<string, number>;
  stoppedEarly: boolean;
  interrupted: boolean;
  secondsPerEpoch: number;
  /** A value fitted after training on the validation split, with what was tried (e.g. TextSeq's cold bias). */
  calibration?: Record<string, unknown>;
}

/** A collaborative model; structurally also an eval Scorer (src/eval/types.ts). */
export interface Recommender {
  /** Registered model name ('pop', 'bprmf', 'sasrec', ...). */
  readonly name: string;
  /** JSON-serialisable hyper-parameters (round-trip through save/load). */
  readonly config: Record<string, unknown>;
  fit(data: SplitDataset, opts: FitOptions): Promise<FitReport>;
  /** Scores of candidates [size * C] for each user of the batch: [size * C]. Higher is better. */
  scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array;
  /** Scores of every item for each user: [size * (numItems + 1)]; index 0 (padding) is -Infinity. */
  scoreAll(batch: UserBatch): Float32Array;
  /** User / sequence representation: [size * dim] (null for models without one, e.g. Pop). */
  userEmbedding(batch: UserBatch): Float32Array | null;
  /** Item representations [(numItems + 1) * dim] (null for models without one). */
  itemEmbeddings(): { dim: number; data: Float32Array } | null;
  /** Writes config.json + weights.safetensors into dir (atomically). */
  save(dir: string): Promise<void>;
  dispose(): void;
}
