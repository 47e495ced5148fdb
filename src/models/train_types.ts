/**
 * The contract between a collaborative model (neural.ts) and the trainer
 * (trainer.ts): the batch, the shapes and the hooks the trainer calls. In a
 * module of their own so neither file imports the other's types in a cycle.
 */
import type { tf } from '../engine/index.js';
import type { ParamStore } from '../nn/index.js';
import type { TrainBatch as DataTrainBatch } from '../data/batches.js';
import type { TrainSamples } from '../data/types.js';
import type { Recommender } from './types.js';

/** A training batch: sliding-window rows plus sampled negatives. */
export interface TrainBatch extends DataTrainBatch {
  /** [size * numNegatives]: uniform over 1..numItems, never the row's target. Empty when numNegatives = 0. */
  negatives: Int32Array;
  numNegatives: number;
}

/** The dataset facts a model's shapes depend on (saved with the model). */
export interface ModelDims {
  numUsers: number;
  numItems: number;
  /** data.config.maxHistory: the L of training and evaluation histories. */
  maxHistory: number;
}

/** The hooks the trainer drives (built by NeuralRecommender.fit; see trainer.ts). */
export interface TrainerHooks {
  model: Recommender;
  dims: ModelDims;
  store: ParamStore;
  samples: TrainSamples;
  numNegatives: number;
  clipNorm: number | undefined;
  /** Loss of one batch in training mode, dropout seeded with `seed`. */
  loss(batch: TrainBatch, seed: number): tf.Scalar;
  /** Switches dropout on/off outside `loss` (validation runs with it off). */
  setTraining(on: boolean): void;
  /** Called after every optimizer step (frees tensors kept for the backward pass). */
  endStep(): void;
}
