/**
 * The evaluation protocol (docs/METHODS.md §1, the "GANPrompt protocol"):
 * RawDataset + ProtocolConfig -> SplitDataset.
 *
 * Steps, in this order, each exported and tested on its own:
 *
 *   1. filterByRating        keep rows with rating > threshold (explicit data only)
 *   2. kCoreFilter           iterative k-core on users and items until stable
 *   3. groupChronologically  per user, stable sort by time (ties: input order, never item id)
 *   4. dedupeConsecutive     optional: drop consecutive repeats of the same item
 *   5. dropShortUsers        users with < 3 interactions cannot be split (val + test + >= 1 train
 *                            item) and are dropped. This runs *before* re-indexing so that the
 *                            indices stay dense; with kCore >= 3 and no dedupe it never drops anyone.
 *   6. reindex               items 1..numItems (0 = padding), users 0..numUsers-1, both in order
 *                            of first appearance in the filtered input rows (deterministic).
 *                            Caveat (anchors A.3, P5 PR #3): when the input is grouped by user,
 *                            these indices grow along users' sequences, so a *text* model must
 *                            never see them as tokens (the test item is often "max id so far + 1");
 *                            LLM prompts use titles or their own randomly permuted ids. For
 *                            id-embedding models the indices are opaque and harmless.
 *   7. leaveOneOut           last item = test, second to last = validation, rest = train part
 *   8. slidingWindowSamples  every position j >= 1 of the train part, history = up to L items before
 *   9. buildEvalSplit        valid: last L of train part; test: last L of train part + valid item
 *  10. sampleNegatives       numNegatives distinct items per row, uniformly among the items the
 *                            user never interacted with, seeded; valid and test drawn from
 *                            independent streams
 *  11. carryReviews          only when the raw dataset has review text: the text of every kept
 *                            row, keyed by reviewKey(user, item) in split indices; a pair seen
 *                            twice keeps its chronologically last text (rows without text never
 *                            overwrite one). Touches nothing else.
 *  12. carryUserFeatures     only when the raw dataset has user features: the features of every
 *                            kept user, keyed by split user index. Touches nothing else.
 *
 * Rows are handled as Int32Array selections of raw row indices, so no per-row
 * objects are allocated; 200k interactions take a few tens of milliseconds.
 */
import type { EvalSplit, ItemMeta, ProtocolConfig, RawDataset, ReviewText, SplitDataset, TrainSamples } from './types.js';
import { reviewKey } from './reviews.js';
import { Mulberry32, mixSeed } from '../util/random.js';

// ---------------------------------------------------------------------------
// Seeded PRNG (no Math.random anywhere in the protocol)

/** The negatives' seed hash (defined in src/util/random.ts), re-exported as part of the protocol's API. */
export { mixSeed };

/** The protocol's PRNG: mulberry32 (src/util/random.ts, seed used as given) with an unbiased integer sampler. */
export class SeededRng extends Mulberry32 {
  /** Uniform integer in [0, n), exactly uniform (rejection of the biased tail); 1 <= n <= 2^32. */
  below(n: number): number {
    if (!(n >= 1 && n <= 4294967296)) throw new RangeError(`SeededRng.below: n must be in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.uint32();
      if (x < limit) return x % n;
    }
  }
}

// ---------------------------------------------------------------------------
// Intermediate representation

/**
 * A selection of raw rows grouped per user (CSR layout): the rows of group g are
 * rows[offsets[g] .. offsets[g + 1]) in chronological order, users[g] is the raw
 * user index of group g. Groups are in order of the user's first appearance.
 */
export interface UserGroups {
  users: Int32Array;
  offsets: Int32Array;
  rows: Int32Array;
}

/** Output of the re-indexing step: the index fields of the SplitDataset (see types.ts). */
export type Reindexed = Pick<SplitDataset, 'numUsers' | 'numItems' | 'itemIds' | 'userIds' | 'itemMeta' | 'sequences'>;

/** Output of leave-one-out: per user, train part, validation target and test target. */
export interface LeaveOneOut {
  trainSeqs: Int32Array[];
  validTarget: Int32Array;
  testTarget: Int32Array;
}

/** Stream ids of the negative sampler (valid and test are drawn independently). */
export const NEGATIVE_STREAM = { valid: 1, test: 2 } as const;

/** Minimum sequence length that leave-one-out can split (1 train + valid + test). */
export const MIN_SPLIT_LENGTH = 3;

// ---------------------------------------------------------------------------
// Steps

/** Checks array lengths and index ranges of a RawDataset; throws a clear error on the first problem. */
export function validateRaw(raw: RawDataset): void {
  const n = raw.user.length;
  if (raw.item.length !== n) throw new Error(`RawDataset '${raw.name}': user (${n}) and item (${raw.item.length}) row arrays differ in length`);
  if (raw.time && raw.time.length !== n) throw new Error(`RawDataset '${raw.name}': time has ${raw.time.length} rows, expected ${n}`);
  if (raw.rating && raw.rating.length !== n) throw new Error(`RawDataset '${raw.name}': rating has ${raw.rating.length} rows, expected ${n}`);
  if (raw.reviews && raw.reviews.length !== n) throw new Error(`RawDataset '${raw.name}': reviews has ${raw.reviews.length} rows, expected ${n}`);
  const nu = raw.userIds.length;
  const ni = raw.itemIds.length;
  for (let r = 0; r < n; r++) {
    const u = raw.user[r];
    const i = raw.item[r];
    if (u < 0 || u >= nu) throw new Error(`RawDataset '${raw.name}': row ${r} has user index ${u} outside [0, ${nu})`);
    if (i < 0 || i >= ni) throw new Error(`RawDataset '${raw.name}': row ${r} has item index ${i} outside [0, ${ni})`);
  }
  if (raw.time) {
    for (let r = 0; r < n; r++) if (Number.isNaN(raw.time[r])) throw new Error(`RawDataset '${raw.name}': row ${r} has a NaN time`);
  }
  if (raw.userFeatures) {
    for (const u of raw.userFeatures.keys()) {
      if (!Number.isInteger(u) || u < 0 || u >= nu) throw new Error(`RawDataset '${raw.name}': userFeatures has user index ${u} outside [0, ${nu})`);
    }
  }
}

/** Checks the numeric options of a ProtocolConfig. */
export function validateConfig(config: ProtocolConfig): void {
  const intAtLeast = (v: number, min: number, name: string): void => {
    if (!Number.isInteger(v) || v < min) throw new Error(`ProtocolConfig.${name} must be an integer >= ${min}, got ${v}`);
  };
  intAtLeast(config.kCore, 0, 'kCore');
  intAtLeast(config.maxHistory, 1, 'maxHistory');
  intAtLeast(config.numNegatives, 0, 'numNegatives');
  if (!Number.isFinite(config.seed)) throw new Error(`ProtocolConfig.seed must be a finite number, got ${config.seed}`);
  if (config.ratingThreshold !== null && !Number.isFinite(config.ratingThreshold)) {
    throw new Error(`ProtocolConfig.ratingThreshold must be a number or null, got ${config.ratingThreshold}`);
  }
}

/**
 * Step 1. Row indices (input order) kept by the rating threshold: rating > threshold.
 * Keeps every row when threshold is null or the data is implicit (rating null).
 */
export function filterByRating(raw: RawDataset, threshold: number | null): Int32Array {
  const n = raw.user.length;
  const rating = raw.rating;
  if (threshold === null || rating === null) {
    const all = new Int32Array(n);
    for (let r = 0; r < n; r++) all[r] = r;
    return all;
  }
  let m = 0;
  for (let r = 0; r < n; r++) if (rating[r] > threshold) m++;
  const out = new Int32Array(m);
  m = 0;
  for (let r = 0; r < n; r++) if (rating[r] > threshold) out[m++] = r;
  return out;
}

/**
 * Step 2. Iterative k-core: repeatedly drops rows whose user or item has fewer
 * than k rows (interactions, repeats counted) until stable. The result, the
 * maximal subset where every user and item has >= k rows, does not depend on
 * the removal order. k <= 1 returns the rows unchanged. Output keeps input order.
 */
export function kCoreFilter(raw: RawDataset, rows: Int32Array, k: number): Int32Array {
  if (k <= 1) return rows;
  const ucnt = new Int32Array(raw.userIds.length);
  const icnt = new Int32Array(raw.itemIds.length);
  for (let p = 0; p < rows.length; p++) {
    ucnt[raw.user[rows[p]]]++;
    icnt[raw.item[rows[p]]]++;
  }
  const alive = new Uint8Array(rows.length).fill(1);
  let left = rows.length;
  for (let changed = true; changed; ) {
    changed = false;
    for (let p = 0; p < rows.length; p++) {
      if (!alive[p]) continue;
      const u = raw.user[rows[p]];
      const i = raw.item[rows[p]];
      if (ucnt[u] < k || icnt[i] < k) {
        alive[p] = 0;
        ucnt[u]--;
        icnt[i]--;
        left--;
        changed = true;
      }
    }
  }
  const out = new Int32Array(left);
  let m = 0;
  for (let p = 0; p < rows.length; p++) if (alive[p]) out[m++] = rows[p];
  return out;
}

/**
 * Step 3. Groups rows per user (users in order of first appearance in `rows`)
 * and sorts each user's rows by time, ties (and null time) keeping the order of
 * `rows`. Never sorts by item id.
 */
export function groupChronologically(raw: RawDataset, rows: Int32Array): UserGroups {
  const nu = raw.userIds.length;
  const group = new Int32Array(nu).fill(-1);
  const countsTmp: number[] = [];
  const usersTmp: number[] = [];
  for (let p = 0; p < rows.length; p++) {
    const u = raw.user[rows[p]];
    let g = group[u];
    if (g < 0) {
      g = group[u] = usersTmp.length;
      usersTmp.push(u);
      countsTmp.push(0);
    }
    countsTmp[g]++;
  }
  const G = usersTmp.length;
  const users = Int32Array.from(usersTmp);
  const offsets = new Int32Array(G + 1);
  for (let g = 0; g < G; g++) offsets[g + 1] = offsets[g] + countsTmp[g];
  // Stable counting sort by group: within a group, rows keep the order of `rows`.
  const fill = offsets.slice(0, G);
  const sorted = new Int32Array(rows.length);
  // Position of each row in `rows`, used as the tie-breaker (input order).
  const pos = new Int32Array(rows.length);
  for (let p = 0; p < rows.length; p++) {
    const q = fill[group[raw.user[rows[p]]]]++;
    sorted[q] = rows[p];
    pos[q] = p;
  }
  const time = raw.time;
  if (time) {
    for (let g = 0; g < G; g++) {
      const a = offsets[g];
      const b = offsets[g + 1];
      let inOrder = true;
      for (let q = a + 1; q < b; q++) {
        if (time[sorted[q]] < time[sorted[q - 1]]) {
          inOrder = false;
          break;
        }
      }
      if (inOrder) continue;
      // Sort slot indices by (time, position in `rows`): explicit tie-break, so
      // the result does not rely on the stability of the engine's sort.
      const idx = new Int32Array(b - a);
      for (let q = 0; q < idx.length; q++) idx[q] = a + q;
      idx.sort((x, y) => time[sorted[x]] - time[sorted[y]] || pos[x] - pos[y]);
      const seg = new Int32Array(idx.length);
      for (let q = 0; q < idx.length; q++) seg[q] = sorted[idx[q]];
      sorted.set(seg, a);
    }
  }
  return { users, offsets, rows: sorted };
}

/** Step 4 (optional). Drops consecutive repeats of the same item inside each user's chronological rows. */
export function dedupeConsecutive(raw: RawDataset, groups: UserGroups): UserGroups {
  const G = groups.users.length;
  const offsets = new Int32Array(G + 1);
  const rows = new Int32Array(groups.rows.length);
  let m = 0;
  for (let g = 0; g < G; g++) {
    let prev = -1;
    for (let q = groups.offsets[g]; q < groups.offsets[g + 1]; q++) {
      const r = groups.rows[q];
      const it = raw.item[r];
      if (it !== prev) rows[m++] = r;
      prev = it;
    }
    offsets[g + 1] = m;
  }
  return { users: groups.users.slice(), offsets, rows: rows.slice(0, m) };
}

/** Step 5. Drops users with fewer than `minLength` rows (default 3, the minimum leave-one-out can split). */
export function dropShortUsers(groups: UserGroups, minLength: number = MIN_SPLIT_LENGTH): UserGroups {
  const G = groups.users.length;
  const usersTmp: number[] = [];
  const offTmp: number[] = [0];
  let total = 0;
  for (let g = 0; g < G; g++) {
    const len = groups.offsets[g + 1] - groups.offsets[g];
    if (len >= minLength) total += len;
  }
  const rows = new Int32Array(total);
  let m = 0;
  for (let g = 0; g < G; g++) {
    const a = groups.offsets[g];
    const b = groups.offsets[g + 1];
    if (b - a < minLength) continue;
    rows.set(groups.rows.subarray(a, b), m);
    m += b - a;
    usersTmp.push(groups.users[g]);
    offTmp.push(m);
  }
  return { users: Int32Array.from(usersTmp), offsets: Int32Array.from(offTmp), rows };
}

/**
 * Step 6. Re-indexes the surviving rows: items 1..numItems and users
 * 0..numUsers-1, each in order of first appearance when the kept rows are read
 * in input (row) order - deterministic and independent of ids and of time.
 * itemIds[0] = '[PAD]'; itemMeta is remapped to the new item indices.
 */
export function reindex(raw: RawDataset, groups: UserGroups): Reindexed {
  return reindexWithMaps(raw, groups).re;
}

/** Raw index -> split index of users and items (-1: dropped), as assigned by `reindex`. */
export interface IndexMaps {
  userMap: Int32Array;
  itemMap: Int32Array;
}

/** `reindex` plus the raw -> split index maps it used. */
function reindexWithMaps(raw: RawDataset, groups: UserGroups): { re: Reindexed } & IndexMaps {
  const n = raw.user.length;
  const kept = new Uint8Array(n);
  for (let q = 0; q < groups.rows.length; q++) kept[groups.rows[q]] = 1;
  const userMap = new Int32Array(raw.userIds.length).fill(-1);
  const itemMap = new Int32Array(raw.itemIds.length).fill(-1);
  const userIds: string[] = [];
  const itemIds: string[] = ['[PAD]'];
  const itemMeta = new Map<number, ItemMeta>();
  for (let r = 0; r < n; r++) {
    if (!kept[r]) continue;
    const u = raw.user[r];
    const i = raw.item[r];
    if (userMap[u] < 0) {
      userMap[u] = userIds.length;
      userIds.push(raw.userIds[u]);
    }
    if (itemMap[i] < 0) {
      itemMap[i] = itemIds.length;
      itemIds.push(raw.itemIds[i]);
      const meta = raw.itemMeta.get(i);
      if (meta) itemMeta.set(itemMap[i], meta);
    }
  }
  const numUsers = userIds.length;
  const sequences: Int32Array[] = new Array<Int32Array>(numUsers);
  for (let g = 0; g < groups.users.length; g++) {
    const a = groups.offsets[g];
    const b = groups.offsets[g + 1];
    const seq = new Int32Array(b - a);
    for (let q = a; q < b; q++) seq[q - a] = itemMap[raw.item[groups.rows[q]]];
    sequences[userMap[groups.users[g]]] = seq;
  }
  return { re: { numUsers, numItems: itemIds.length - 1, itemIds, userIds, itemMeta, sequences }, userMap, itemMap };
}

/**
 * Step 11 (only for raw data with review text). The review of every kept row,
 * keyed by reviewKey(user, item) in split indices. Rows are read per user in
 * chronological order, so a pair with several texts keeps the last one; a row
 * without text (null) never replaces an earlier text of the same pair.
 * Returns undefined when the raw dataset has no `reviews`.
 */
export function carryReviews(raw: RawDataset, groups: UserGroups, maps: IndexMaps): Map<string, ReviewText> | undefined {
  const reviews = raw.reviews;
  if (reviews === undefined) return undefined;
  const out = new Map<string, ReviewText>();
  for (let g = 0; g < groups.users.length; g++) {
    const u = maps.userMap[groups.users[g]];
    for (let q = groups.offsets[g]; q < groups.offsets[g + 1]; q++) {
      const r = groups.rows[q];
      const review = reviews[r];
      if (review === null || review === undefined) continue;
      out.set(reviewKey(u, maps.itemMap[raw.item[r]]), review);
    }
  }
  return out;
}

/**
 * Step 12 (only for raw data with user features). The features of every kept
 * user, keyed by split user index (users dropped by the filters are left
 * out; a kept user without features stays without). The records are shared
 * with the raw dataset, not copied. Returns undefined when the raw dataset
 * has no `userFeatures`.
 */
export function carryUserFeatures(raw: RawDataset, maps: Pick<IndexMaps, 'userMap'>): Map<number, Record<string, string>> | undefined {
  const features = raw.userFeatures;
  if (features === undefined) return undefined;
  const out = new Map<number, Record<string, string>>();
  // Ascending split index, so the map iterates in user order.
  const byRaw: number[] = [];
  for (let u = 0; u < maps.userMap.length; u++) if (maps.userMap[u] >= 0) byRaw[maps.userMap[u]] = u;
  for (let s = 0; s < byRaw.length; s++) {
    const f = features.get(byRaw[s]);
    if (f !== undefined) out.set(s, f);
  }
  return out;
}

/** Step 7. Leave-one-out: last item = test target, second to last = validation target, the rest = train part. */
export function leaveOneOut(sequences: readonly Int32Array[]): LeaveOneOut {
  const U = sequences.length;
  const trainSeqs: Int32Array[] = new Array<Int32Array>(U);
  const validTarget = new Int32Array(U);
  const testTarget = new Int32Array(U);
  for (let u = 0; u < U; u++) {
    const s = sequences[u];
    const n = s.length;
    if (n < MIN_SPLIT_LENGTH) throw new Error(`leaveOneOut: user ${u} has ${n} interactions, at least ${MIN_SPLIT_LENGTH} are needed`);
    trainSeqs[u] = s.slice(0, n - 2);
    validTarget[u] = s[n - 2];
    testTarget[u] = s[n - 1];
  }
  return { trainSeqs, validTarget, testTarget };
}

/** Copies seq[max(0, end - L) .. end) right-aligned into out[offset .. offset + L) (left padding stays 0). */
function writeLeftPadded(seq: Int32Array, end: number, L: number, out: Int32Array, offset: number): void {
  const start = Math.max(0, end - L);
  out.set(seq.subarray(start, end), offset + L - (end - start));
}

/**
 * Step 8. Sliding-window training samples: for every position j >= 1 of each
 * user's train part, history = the up to L items before j (left-padded with 0),
 * target = item j. Rows are ordered by user, then by position.
 */
export function slidingWindowSamples(trainSeqs: readonly Int32Array[], L: number): TrainSamples {
  let count = 0;
  for (const s of trainSeqs) count += Math.max(0, s.length - 1);
  const user = new Int32Array(count);
  const history = new Int32Array(count * L);
  const target = new Int32Array(count);
  let r = 0;
  for (let u = 0; u < trainSeqs.length; u++) {
    const s = trainSeqs[u];
    for (let j = 1; j < s.length; j++, r++) {
      user[r] = u;
      target[r] = s[j];
      writeLeftPadded(s, j, L, history, r * L);
    }
  }
  return { count, L, user, history, target };
}

/**
 * The dataset a collaborative model is fitted on when the last `k` items of
 * each training sequence are withheld from it (cross-fitting; docs/METHODS.md
 * §5, "Cross-fitting"): every user with more than k training items
 * keeps all but its last k, the others keep theirs, and the sliding-window
 * samples are made again from the shortened sequences, so no withheld item is
 * a training target or a training history entry. The full sequences, the
 * validation and the test split are data's own (their histories still hold
 * the withheld items as inputs), so the model is validated and tested as
 * usual and its scores on the withheld positions are out of sample.
 */
export function withholdTrainTail(data: SplitDataset, k: number): SplitDataset {
  if (!Number.isInteger(k) || k < 1) throw new Error(`withholdTrainTail: k must be an integer >= 1, got ${k}`);
  const trainSeqs = data.trainSeqs.map((s) => (s.length > k ? s.subarray(0, s.length - k) : s));
  return { ...data, trainSeqs, train: slidingWindowSamples(trainSeqs, data.train.L) };
}

/**
 * Step 9. One evaluation split without negatives (numNegatives 0): one row per
 * user. 'valid': history = last L items of the train part, target = the
 * validation item. 'test': history = last L items of train part + validation
 * item, target = the test item.
 */
export function buildEvalSplit(sequences: readonly Int32Array[], L: number, which: 'valid' | 'test'): EvalSplit {
  const U = sequences.length;
  const user = new Int32Array(U);
  const history = new Int32Array(U * L);
  const target = new Int32Array(U);
  for (let u = 0; u < U; u++) {
    const s = sequences[u];
    const n = s.length;
    if (n < MIN_SPLIT_LENGTH) throw new Error(`buildEvalSplit: user ${u} has ${n} interactions, at least ${MIN_SPLIT_LENGTH} are needed`);
    const t = which === 'valid' ? n - 2 : n - 1;
    user[u] = u;
    target[u] = s[t];
    writeLeftPadded(s, t, L, history, u * L);
  }
  return { count: U, L, user, history, target, negatives: new Int32Array(0), numNegatives: 0 };
}

/**
 * Step 10. For each user (row u of an evaluation split), numNegatives distinct
 * items drawn uniformly from the items in 1..numItems that the user never
 * interacted with anywhere in sequences[u]. Returns [numUsers * numNegatives].
 * Deterministic in (seed, stream). Throws when a user has fewer than
 * numNegatives non-interacted items.
 */
export function sampleNegatives(
  sequences: readonly Int32Array[],
  numItems: number,
  numNegatives: number,
  seed: number,
  stream: number,
): Int32Array {
  const U = sequences.length;
  const out = new Int32Array(U * numNegatives);
  if (numNegatives === 0) return out;
  const rng = new SeededRng(mixSeed(seed, stream));
  // stamp[i] === mark: item i is excluded for the current user (interacted or already drawn).
  const stamp = new Int32Array(numItems + 1);
  const pool = new Int32Array(numItems);
  let mark = 0;
  for (let u = 0; u < U; u++) {
    mark++;
    const s = sequences[u];
    let distinct = 0;
    for (let q = 0; q < s.length; q++) {
      const it = s[q];
      if (stamp[it] !== mark) {
        stamp[it] = mark;
        distinct++;
      }
    }
    const available = numItems - distinct;
    if (available < numNegatives) {
      throw new Error(
        `sampleNegatives: user ${u} interacted with ${distinct} of ${numItems} items, leaving ${available} ` +
          `candidates for ${numNegatives} negatives; lower numNegatives or filter the data`,
      );
    }
    const o = u * numNegatives;
    if (available <= 4 * numNegatives) {
      // Dense case: enumerate the candidates and take a partial Fisher-Yates shuffle.
      let m = 0;
      for (let it = 1; it <= numItems; it++) if (stamp[it] !== mark) pool[m++] = it;
      for (let k = 0; k < numNegatives; k++) {
        const j = k + rng.below(m - k);
        const tmp = pool[k];
        pool[k] = pool[j];
        pool[j] = tmp;
        out[o + k] = pool[k];
      }
    } else {
      // Sparse case: rejection sampling (expected < 4/3 draws per negative).
      for (let k = 0; k < numNegatives; ) {
        const it = 1 + rng.below(numItems);
        if (stamp[it] === mark) continue;
        stamp[it] = mark;
        out[o + k++] = it;
      }
    }
  }
  return out;
}

/**
 * The whole protocol: RawDataset -> SplitDataset (steps 1-12 above). Every
 * model and evaluator consumes the result; the stored negatives make sampled
 * evaluation identical across models.
 */
export function applyProtocol(raw: RawDataset, config: ProtocolConfig): SplitDataset {
  validateConfig(config);
  validateRaw(raw);
  const L = config.maxHistory;
  let rows = filterByRating(raw, config.ratingThreshold);
  rows = kCoreFilter(raw, rows, config.kCore);
  let groups = groupChronologically(raw, rows);
  if (config.dedupeConsecutive) groups = dedupeConsecutive(raw, groups);
  groups = dropShortUsers(groups, MIN_SPLIT_LENGTH);
  if (groups.users.length === 0) {
    throw new Error(`applyProtocol: no user of '${raw.name}' has ${MIN_SPLIT_LENGTH} or more interactions after filtering (threshold ${config.ratingThreshold}, k-core ${config.kCore})`);
  }
  const { re, userMap, itemMap } = reindexWithMaps(raw, groups);
  const reviews = carryReviews(raw, groups, { userMap, itemMap });
  const userFeatures = carryUserFeatures(raw, { userMap });
  const { trainSeqs } = leaveOneOut(re.sequences);
  const train = slidingWindowSamples(trainSeqs, L);
  const valid = buildEvalSplit(re.sequences, L, 'valid');
  const test = buildEvalSplit(re.sequences, L, 'test');
  if (config.numNegatives > 0) {
    valid.negatives = sampleNegatives(re.sequences, re.numItems, config.numNegatives, config.seed, NEGATIVE_STREAM.valid);
    valid.numNegatives = config.numNegatives;
    test.negatives = sampleNegatives(re.sequences, re.numItems, config.numNegatives, config.seed, NEGATIVE_STREAM.test);
    test.numNegatives = config.numNegatives;
  }
  return {
    name: raw.name,
    config: { ...config },
    numUsers: re.numUsers,
    numItems: re.numItems,
    itemIds: re.itemIds,
    userIds: re.userIds,
    itemMeta: re.itemMeta,
    sequences: re.sequences,
    trainSeqs,
    train,
    valid,
    test,
    ...(reviews !== undefined ? { reviews } : {}),
    ...(userFeatures !== undefined ? { userFeatures } : {}),
  };
}
