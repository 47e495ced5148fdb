/**
 * The cold-start protocol (docs/METHODS.md §1.4): a seeded share of items is
 * withheld from training entirely, and the test users are split by whether
 * their target is one of them.
 *
 *   1. the standard protocol (protocol.ts, steps 1-12) gives the filtered,
 *      re-indexed chronological sequences; item and user indices are kept;
 *   2. cold items: round(share * eligible) items drawn without replacement
 *      (partial Fisher-Yates, SeededRng(mixSeed(seed, COLD_STREAM))) from the
 *      eligible items: with `requireText` (default) only items that have text
 *      (a non-empty item sentence); items without text are never cold and are
 *      counted (`itemsWithoutText`);
 *   3. per user with sequence s (n items): the test target stays s[n-1], warm
 *      or cold; every cold item is removed from s[0 .. n-1) (the prefix);
 *      the filtered prefix is split as leave-one-out does: its last item is
 *      the validation target (warm by construction), the rest the train part;
 *   4. users whose filtered prefix has fewer than 2 items keep their warm
 *      items as training data but get no validation or test row (counted in
 *      `usersWithoutEvalRow`); user and item indices never change;
 *   5. training samples, validation and test histories come from the filtered
 *      prefixes (cold items appear nowhere but as test targets);
 *   6. sampled negatives (1 + numNegatives) are drawn over ALL items, warm and
 *      cold, excluding every item the user interacted with, cold ones
 *      included (the unfiltered sequence), valid and test from the streams of
 *      protocol.ts;
 *   7. reviews of cold items are dropped (no cold-item text written by users
 *      reaches a model); item metadata (titles, attributes) of every item stays:
 *      it is what a text-based model scores cold items with.
 *
 * Cold-aware validation (`validShare` > 0, default off): the validation
 * targets above are warm by construction, so validation cannot see how a
 * model ranks items it never trained. A second seeded set of items, the
 * validation-cold items, is drawn after step 2 (round(validShare *
 * eligible) of the eligible items that are not cold, stream
 * COLD_VALID_STREAM). Step 3 then removes them from the training part only
 * (not from the validation target): a user whose filtered prefix ends with a
 * validation-cold item gets a cold validation target. A validation-cold item
 * is thus never trained; it appears only as a validation target, in the test
 * history right after it (the test history is the validation history plus
 * the validation target, as in leave-one-out) and as a test target. A test
 * row whose target is validation-cold is in neither test group (warm: a
 * trained item; cold: an item no choice has seen), only in the test rows
 * as a whole, and counted (`validColdTestRows`). Negatives and reviews
 * treat a validation-cold item as a cold one.
 *
 * `testCold[r]` is 1 when the target of test row r is cold (2 when it is
 * validation-cold), `validCold[r]` is 1 when the target of validation row r
 * is validation-cold: the evaluator reports the warm and cold rows
 * separately (src/eval/cold_start.ts).
 */
import { itemSentence } from './item_text.js';
import { applyProtocol, mixSeed, NEGATIVE_STREAM, sampleNegatives, SeededRng, slidingWindowSamples } from './protocol.js';
import type { ColdStartConfig, ColdStartInfo, EvalSplit, ProtocolConfig, RawDataset, ReviewText, SplitDataset } from './types.js';

export type { ColdStartConfig, ColdStartInfo };

/** Stream id of the cold-item draw (independent of the negatives' streams 1 and 2). */
export const COLD_STREAM = 3;
/** Stream id of the validation-cold draw. */
export const COLD_VALID_STREAM = 4;

export const DEFAULT_COLD_START: Required<ColdStartConfig> = { share: 0.1, seed: 2024, requireText: true, validShare: 0 };

/** Checks a cold-start configuration; the error names the field. */
export function validateColdStart(c: ColdStartConfig): void {
  if (!(typeof c.share === 'number' && c.share > 0 && c.share < 1)) throw new Error(`protocol.coldStart.share must be in (0, 1), got ${String(c.share)}`);
  if (!Number.isInteger(c.seed)) throw new Error(`protocol.coldStart.seed must be an integer, got ${String(c.seed)}`);
  if (c.requireText !== undefined && typeof c.requireText !== 'boolean') throw new Error(`protocol.coldStart.requireText must be a boolean, got ${String(c.requireText)}`);
  if (c.validShare !== undefined && !(typeof c.validShare === 'number' && c.validShare >= 0 && c.validShare < 1)) {
    throw new Error(`protocol.coldStart.validShare must be in [0, 1), got ${String(c.validShare)}`);
  }
  if ((c.validShare ?? 0) + c.share >= 1) throw new Error(`protocol.coldStart: share ${c.share} + validShare ${String(c.validShare)} must stay below 1`);
}

/** The first k entries of `pool` after a seeded partial Fisher-Yates shuffle (in place), ascending. */
function drawFrom(pool: number[], k: number, rng: SeededRng): Int32Array {
  for (let j = 0; j < k; j++) {
    const r = j + rng.below(pool.length - j);
    const tmp = pool[j];
    pool[j] = pool[r];
    pool[r] = tmp;
  }
  return Int32Array.from(pool.slice(0, k)).sort();
}

/** Whether item i of a split has text (a non-empty item sentence). */
export function hasText(data: Pick<SplitDataset, 'itemMeta'>, i: number): boolean {
  const m = data.itemMeta.get(i);
  return m !== undefined && itemSentence(m) !== '';
}

/**
 * Step 2: the cold items (ascending), the validation-cold items (ascending,
 * disjoint from them; empty unless validShare > 0) and the number of items
 * without text.
 */
export function drawColdItems(data: Pick<SplitDataset, 'numItems' | 'itemMeta'>, c: ColdStartConfig): { cold: Int32Array; validCold: Int32Array; itemsWithoutText: number } {
  validateColdStart(c);
  const requireText = c.requireText ?? true;
  const eligible: number[] = [];
  let itemsWithoutText = 0;
  for (let i = 1; i <= data.numItems; i++) {
    const t = hasText(data, i);
    if (!t) itemsWithoutText++;
    if (t || !requireText) eligible.push(i);
  }
  const k = Math.round(c.share * eligible.length);
  if (k < 1) throw new Error(`protocol.coldStart: share ${c.share} of ${eligible.length} eligible items is no item`);
  const n = eligible.length;
  const cold = drawFrom(eligible, k, new SeededRng(mixSeed(c.seed, COLD_STREAM)));
  const kv = Math.round((c.validShare ?? 0) * n);
  if ((c.validShare ?? 0) > 0 && kv < 1) throw new Error(`protocol.coldStart: validShare ${String(c.validShare)} of ${n} eligible items is no item`);
  // The rest of the pool (the non-cold eligible items, in ascending order so the draw depends on the set only).
  const rest = eligible.slice(k).sort((a, b) => a - b);
  const validCold = kv > 0 ? drawFrom(rest, kv, new SeededRng(mixSeed(c.seed, COLD_VALID_STREAM))) : new Int32Array(0);
  return { cold, validCold, itemsWithoutText };
}

function evalRows(users: number[], L: number, hist: (u: number) => Int32Array, target: (u: number) => number): EvalSplit {
  const n = users.length;
  const user = Int32Array.from(users);
  const history = new Int32Array(n * L);
  const tgt = new Int32Array(n);
  users.forEach((u, r) => {
    const h = hist(u);
    const start = Math.max(0, h.length - L);
    history.set(h.subarray(start), r * L + L - (h.length - start));
    tgt[r] = target(u);
  });
  return { count: n, L, user, history, target: tgt, negatives: new Int32Array(0), numNegatives: 0 };
}

/** Negatives of the rows of an evaluation split (the users' complete interaction sets excluded). */
function rowNegatives(split: EvalSplit, full: readonly Int32Array[], numItems: number, k: number, seed: number, stream: number): void {
  if (k === 0) return;
  const all = sampleNegatives(full, numItems, k, seed, stream);
  const out = new Int32Array(split.count * k);
  for (let r = 0; r < split.count; r++) out.set(all.subarray(split.user[r] * k, (split.user[r] + 1) * k), r * k);
  split.negatives = out;
  split.numNegatives = k;
}

/** Steps 2-7 on a split of the standard protocol (its sequences are the unfiltered ones). */
export function coldStartSplit(base: SplitDataset, c: ColdStartConfig): SplitDataset {
  const { cold, validCold: validColdItems, itemsWithoutText } = drawColdItems(base, c);
  // 1: cold (test-cold), 2: validation-cold.
  const isCold = new Uint8Array(base.numItems + 1);
  for (const i of cold) isCold[i] = 1;
  for (const i of validColdItems) isCold[i] = 2;
  const L = base.config.maxHistory;
  const U = base.numUsers;
  const prefixes: Int32Array[] = new Array<Int32Array>(U);
  const trainSeqs: Int32Array[] = new Array<Int32Array>(U);
  const sequences: Int32Array[] = new Array<Int32Array>(U);
  const rowsUsers: number[] = [];
  let removedInteractions = 0;
  for (let u = 0; u < U; u++) {
    const s = base.sequences[u];
    const n = s.length;
    const kept: number[] = [];
    for (let q = 0; q < n - 1; q++) {
      if (isCold[s[q]] === 1) removedInteractions++;
      else kept.push(s[q]);
    }
    // The training part: the filtered prefix without its last item (the validation target) and without validation-cold items.
    const part: number[] = [];
    for (let q = 0; q < kept.length - 1; q++) {
      if (isCold[kept[q]] === 2) removedInteractions++;
      else part.push(kept[q]);
    }
    if (part.length >= 1) {
      rowsUsers.push(u);
      trainSeqs[u] = Int32Array.from(part);
      const prefix = Int32Array.from([...part, kept[kept.length - 1]]);
      prefixes[u] = prefix;
      const seq = new Int32Array(prefix.length + 1);
      seq.set(prefix);
      seq[prefix.length] = s[n - 1];
      sequences[u] = seq;
    } else {
      // No evaluation row: the warm items stay training data (a 1-item part makes no sample).
      const warm = kept.filter((i) => isCold[i] !== 2);
      removedInteractions += kept.length - warm.length;
      trainSeqs[u] = Int32Array.from(warm);
      sequences[u] = trainSeqs[u];
    }
  }
  const train = slidingWindowSamples(trainSeqs, L);
  const valid = evalRows(rowsUsers, L, (u) => trainSeqs[u], (u) => prefixes[u][prefixes[u].length - 1]);
  const test = evalRows(rowsUsers, L, (u) => prefixes[u], (u) => base.sequences[u][base.sequences[u].length - 1]);
  const k = base.config.numNegatives;
  rowNegatives(valid, base.sequences, base.numItems, k, base.config.seed, NEGATIVE_STREAM.valid);
  rowNegatives(test, base.sequences, base.numItems, k, base.config.seed, NEGATIVE_STREAM.test);
  const testCold = new Uint8Array(test.count);
  let coldRows = 0;
  let validColdTestRows = 0;
  for (let r = 0; r < test.count; r++) {
    const m = isCold[test.target[r]];
    if (m === 1) { testCold[r] = 1; coldRows++; } else if (m === 2) { testCold[r] = 2; validColdTestRows++; }
  }
  const validCold = new Uint8Array(valid.count);
  let coldValidRows = 0;
  for (let r = 0; r < valid.count; r++) if (isCold[valid.target[r]] === 2) { validCold[r] = 1; coldValidRows++; }
  let reviews: Map<string, ReviewText> | undefined;
  if (base.reviews) {
    reviews = new Map();
    for (const [key, v] of base.reviews) if (!isCold[Number(key.slice(key.indexOf(':') + 1))]) reviews.set(key, v);
  }
  const info: ColdStartInfo = {
    share: c.share, seed: c.seed, requireText: c.requireText ?? true, coldItems: cold, itemsWithoutText,
    testCold, coldTestRows: coldRows, warmTestRows: test.count - coldRows - validColdTestRows, validColdTestRows,
    validColdItems, validCold, coldValidRows, warmValidRows: valid.count - coldValidRows,
    usersWithoutEvalRow: U - rowsUsers.length, removedInteractions,
  };
  const config: ProtocolConfig = {
    ...base.config,
    coldStart: { share: c.share, seed: c.seed, requireText: c.requireText ?? true, ...(c.validShare !== undefined ? { validShare: c.validShare } : {}) },
  };
  const { reviews: _r, ...rest } = base;
  return { ...rest, config, sequences, trainSeqs, train, valid, test, coldStart: info, ...(reviews ? { reviews } : {}) };
}

/** The whole cold-start protocol: applyProtocol (without negatives) then steps 2-7 with config.coldStart. */
export function applyColdStartProtocol(raw: RawDataset, config: ProtocolConfig): SplitDataset {
  const c = config.coldStart;
  if (!c) throw new Error('applyColdStartProtocol: config.coldStart is not set');
  validateColdStart(c);
  const { coldStart: _c, ...plain } = config;
  const base = applyProtocol(raw, { ...plain, numNegatives: 0 });
  return coldStartSplit({ ...base, config: { ...base.config, numNegatives: config.numNegatives } }, c);
}

/** applyProtocol, or the cold-start protocol when config.coldStart is set. */
export function applyAnyProtocol(raw: RawDataset, config: ProtocolConfig): SplitDataset {
  return config.coldStart ? applyColdStartProtocol(raw, config) : applyProtocol(raw, config);
}
