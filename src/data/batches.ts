/**
 * Batching helpers shared by the models and the evaluators:
 * - userBatches: consecutive slices (views, no copies) of an evaluation split;
 * - shuffledTrainBatches: a seeded permutation of the training samples per epoch
 *   (the same seed and epoch always give the same batches), optionally grouped
 *   by history length (`groupByLength`, below);
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

/** History length (non-padding slots; histories are right-aligned) of every training row, cached per sample set. */
const LENGTHS = new WeakMap<TrainSamples, Int32Array>();
export function historyLengths(train: TrainSamples): Int32Array {
  let out = LENGTHS.get(train);
  if (out) return out;
  const L = train.L;
  out = new Int32Array(train.count);
  for (let r = 0; r < train.count; r++) {
    const row = train.history.subarray(r * L, (r + 1) * L);
    let k = 0;
    while (k < L && row[k] === 0) k++;
    out[r] = L - k;
  }
  LENGTHS.set(train, out);
  return out;
}

/**
 * The row order of one epoch grouped by length (as `group_by_length` in Hugging
 * Face transformers' Trainer): epochPermutation(count, seed, epoch) is cut into
 * mega-batches of `group` batches, each mega-batch is sorted by history length
 * (stable, longest first) and cut into batches, and the batches are then put in
 * a seeded random order (the last, smaller batch included). Every row is seen
 * once per epoch as before; what changes is only which rows share a batch, so a
 * batch of short histories is short: the models skip leading all-padding columns
 * (SASRec, BERT4Rec, TextSeq, GRU4Rec), and a batch costs about its longest row.
 * Deterministic per (seed, epoch); group <= 1 is the plain permutation.
 */
export function groupedPermutation(train: TrainSamples, batchSize: number, seed: number, epoch: number, group: number): Int32Array {
  checkBatchSize(batchSize);
  const perm = epochPermutation(train.count, seed, epoch);
  if (!(group > 1)) return perm;
  if (!Number.isInteger(group)) throw new RangeError(`groupByLength must be an integer, got ${group}`);
  const len = historyLengths(train);
  const mega = batchSize * group;
  for (let a = 0; a < perm.length; a += mega) {
    const part = Array.from(perm.subarray(a, Math.min(perm.length, a + mega)));
    part.sort((x, y) => len[y] - len[x]);
    perm.set(part, a);
  }
  const numBatches = Math.ceil(perm.length / batchSize);
  const order = epochPermutation(numBatches, seed, 0x40000 + epoch);
  const out = new Int32Array(perm.length);
  let o = 0;
  for (let i = 0; i < numBatches; i++) {
    const b = order[i];
    const rows = perm.subarray(b * batchSize, Math.min(perm.length, (b + 1) * batchSize));
    out.set(rows, o);
    o += rows.length;
  }
  return out;
}

/**
 * Shuffled training batches (fresh copies) in the order of epochPermutation(train.count, seed, epoch),
 * or of groupedPermutation when `groupByLength` > 1: deterministic per (seed, epoch), different across
 * epochs. Every batch has batchSize rows except one (the last of the permutation), which may be smaller.
 */
export function* shuffledTrainBatches(train: TrainSamples, batchSize: number, seed: number, epoch: number, groupByLength = 0): Generator<TrainBatch> {
  checkBatchSize(batchSize);
  const L = train.L;
  const perm = groupedPermutation(train, batchSize, seed, epoch, groupByLength);
  // The rows of each batch as they lie in the permutation: with grouping, the one smaller batch sits wherever the batch order put it.
  const bounds: number[] = [];
  if (groupByLength > 1) {
    const numBatches = Math.ceil(train.count / batchSize);
    const order = epochPermutation(numBatches, seed, 0x40000 + epoch);
    let a = 0;
    for (let i = 0; i < numBatches; i++) {
      const b = order[i];
      a += Math.min(train.count, (b + 1) * batchSize) - b * batchSize;
      bounds.push(a);
    }
  } else {
    for (let a = batchSize; a < train.count + batchSize; a += batchSize) bounds.push(Math.min(train.count, a));
  }
  let a = 0;
  for (const end of bounds) {
    const size = end - a;
    const user = new Int32Array(size);
    const target = new Int32Array(size);
    const history = new Int32Array(size * L);
    for (let k = 0; k < size; k++) {
      const r = perm[a + k];
      user[k] = train.user[r];
      target[k] = train.target[r];
      history.set(train.history.subarray(r * L, (r + 1) * L), k * L);
    }
    a = end;
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
