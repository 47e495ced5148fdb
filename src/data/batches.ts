/**
 * Batching helpers shared by the models and the evaluators:
 * - userBatches: consecutive slices (views, no copies) of an evaluation split;
 * - shuffledTrainBatches: a seeded permutation of the training samples per epoch
 *   (the same seed and epoch always give the same batches);
 * - historyItems: the items to exclude from a user's full ranking.
 */
import { mixSeed, SeededRng } from './protocol.js';
import type { EvalSplit, SplitDataset, TrainSamples, UserBatch } from './types.js';

/** A batch of training samples: a UserBatch plus the target of each row. */
export interface TrainBatch extends UserBatch {
  target: Int32Array;
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
}

/**
 * Consecutive batches of an evaluation split's rows: { size, L, user, history }
 * as subarray views into the split (do not write to them). The last batch may be smaller.
 */
export function* userBatches(split: EvalSplit, batchSize: number): Generator<UserBatch> {
  checkBatchSize(batchSize);
  const L = split.L;
  for (let a = 0; a < split.count; a += batchSize) {
    const b = Math.min(split.count, a + batchSize);
    yield { size: b - a, L, user: split.user.subarray(a, b), history: split.history.subarray(a * L, b * L) };
  }
}

/** The row order of one epoch: a Fisher-Yates permutation of 0..count-1 seeded by (seed, epoch). */
export function epochPermutation(count: number, seed: number, epoch: number): Int32Array {
  const perm = new Int32Array(count);
  for (let i = 0; i < count; i++) perm[i] = i;
  const rng = new SeededRng(mixSeed(seed, 0x10000 + epoch));
  for (let i = count - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}

/**
 * Shuffled training batches (fresh copies) in the order of epochPermutation(train.count, seed, epoch):
 * deterministic per (seed, epoch), different across epochs. The last batch may be smaller.
 */
export function* shuffledTrainBatches(train: TrainSamples, batchSize: number, seed: number, epoch: number): Generator<TrainBatch> {
  checkBatchSize(batchSize);
  const L = train.L;
  const perm = epochPermutation(train.count, seed, epoch);
  for (let a = 0; a < train.count; a += batchSize) {
    const size = Math.min(train.count, a + batchSize) - a;
    const user = new Int32Array(size);
    const target = new Int32Array(size);
    const history = new Int32Array(size * L);
    for (let k = 0; k < size; k++) {
      const r = perm[a + k];
      user[k] = train.user[r];
      target[k] = train.target[r];
      history.set(train.history.subarray(r * L, (r + 1) * L), k * L);
    }
    yield { size, L, user, history, target };
  }
}

/**
 * The items to exclude when ranking all items for `user`, sorted ascending and
 * distinct: for 'valid' the train part, for 'test' the train part plus the validation item.
 */
export function historyItems(split: SplitDataset, user: number, upTo: 'valid' | 'test'): Int32Array {
  const seq = split.sequences[user];
  if (!seq) throw new RangeError(`historyItems: user ${user} outside [0, ${split.numUsers})`);
  const end = upTo === 'valid' ? seq.length - 2 : seq.length - 1;
  const s = seq.slice(0, end).sort();
  let m = 0;
  for (let k = 0; k < s.length; k++) if (k === 0 || s[k] !== s[k - 1]) s[m++] = s[k];
  return s.slice(0, m);
}
