/**
 * A benchmark run directory loaded for serving (docs/SERVING.md, "What is
 * served"): the dataset re-loaded and split from the run's config.json (so
 * item indices match the saved models), every saved model of models/<label>/,
 * and everything a request needs precomputed at load time: item matrices,
 * known users' vectors, a title index.
 *
 * A known user is served with their history before the held-out test item
 * (the split's test history), so the demo can show that item as the truth.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { applyAnyProtocol } from '../data/cold_start.js';
import { loadDataSection } from '../data/loaders/section.js';
import { DataSectionSchema } from '../config/run.js';
import type { RawDataset, SplitDataset } from '../data/types.js';
import { sliceSplit } from '../eval/evaluate.js';
import { formatSettings, loadRecommender, type ModelSettings } from '../models/registry.js';
import type { Recommender, UserBatch } from '../models/types.js';
import { itemTitle } from '../methods/text_lm/corpus.js';
import { DotScorer } from './scoring.js';
import { inSorted, type Scored, sortedUnique, TopK, topKRow, topKRowOf } from './topk.js';

/** The part of a run's config.json the server needs (the rest is ignored here). */
const RunDataConfig = z.object({
  // The run configuration's own data section (every loader option; paths relative to the run directory).
  data: DataSectionSchema,
  protocol: z.object({
    ratingThreshold: z.number().nullable(),
    kCore: z.number().int(),
    maxHistory: z.number().int().min(1),
    numNegatives: z.number().int().min(0),
    seed: z.number().int(),
    dedupeConsecutive: z.boolean().optional(),
  }),
  models: z.array(z.union([z.string(), z.object({ name: z.string(), label: z.string().optional() })])).optional(),
});
export type RunDataConfig = z.infer<typeof RunDataConfig>;

/** Models whose user vector comes from the user id alone: they cannot score an ad-hoc history. */
const USER_ID_MODELS = new Set(['bprmf']);

export interface ServedModel {
  label: string;
  name: string;
  model: Recommender;
  /** History length the model was built for. */
  L: number;
  /** [(numItems + 1) * dim] item vectors (null: the score is not a dot product). */
  items: { dim: number; data: Float32Array } | null;
  /** [numUsers * dim] known users' vectors at their test history (null with items). */
  users: Float32Array | null;
  /** Batched user x item GEMM over `items` (null with items). */
  scorer: DotScorer | null;
  /** True when the model can score a history that is not a known user's. */
  history: boolean;
  /** Known users' top-K at load time (the default request's answer), or null (docs/SERVING.md, "Scoring"). */
  top: PrecomputedTop | null;
  loadSeconds: number;
  precomputeSeconds: number;
}

/**
 * Every known user's top-K items with the seen items skipped, computed at
 * load by the same GEMM + top-k as a request (user u's at [u * k, u * k +
 * count[u])): a known-user request with `excludeSeen` (the default) and
 * k <= K is then a lookup; `exclude` filters the list, and when the filter
 * leaves fewer than k of a full list the request is scored as usual.
 */
export interface PrecomputedTop {
  k: number;
  items: Int32Array;
  scores: Float32Array;
  count: Int32Array;
}

/** Options of loading a run for serving. */
export interface LoadRunOptions {
  /** K of the precomputed top-K of known users (0: none). Default PRECOMPUTE_K. */
  precomputeK?: number;
  /** Inference settings per model label (loadRecommender's `set`, e.g. TIGER's beams); an unknown label is an error. */
  set?: ModelSettings;
}

/** Default K of the precomputed top-K (every request with k <= K is a lookup). */
export const PRECOMPUTE_K = 100;
/** Memory bound of one model's precomputed top-K: larger user sets are scored per request. */
export const PRECOMPUTE_MAX_BYTES = 512 * 2 ** 20;

export interface LoadedRun {
  dir: string;
  config: RunDataConfig;
  data: SplitDataset;
  models: ServedModel[];
  /** External item id -> index 1..numItems; user id -> index. */
  itemIndex: Map<string, number>;
  userIndex: Map<string, number>;
  /** Exact title -> items (several items may share a title). */
  titleIndex: Map<string, number[]>;
  /** Lower-cased titles by item index (search). */
  lowerTitles: string[];
  /** Known users' test-history items, ascending and duplicate-free, user u's at seen[seenStart[u] .. seenStart[u + 1]). */
  seen: Int32Array;
  seenStart: Int32Array;
  /** Each item's answer JSON by index (built once: id, title, attributes without '_' bookkeeping keys); [0] is a placeholder. */
  itemJson: ItemJson[];
  /** The same answer JSON serialised once, without the braces (`"id":..,"title":..`): answers are concatenated from these. */
  itemJsonText: string[];
  dataSeconds: number;
  loadedAt: Date;
}

/** An item as the API answers it. */
export interface ItemJson {
  id: string;
  title: string;
  attributes?: Record<string, unknown>;
}

export class RunLoadError extends Error {}

export function readJson(path: string): unknown {
  if (!existsSync(path)) throw new RunLoadError(`${path}: not found`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RunLoadError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

export function readRunConfig(dir: string): RunDataConfig {
  const path = join(dir, 'config.json');
  const r = RunDataConfig.safeParse(readJson(path));
  if (!r.success) {
    const i = r.error.issues[0];
    throw new RunLoadError(`${path}: field '${i.path.join('.') || '(root)'}': ${i.message}`);
  }
  return r.data;
}

/** The run's dataset through the one data-section loader (src/data/loaders/section.ts), relative paths against the run directory. */
async function loadRaw(cfg: RunDataConfig, dir: string): Promise<RawDataset> {
  return loadDataSection(cfg.data, dir);
}

/** Model labels under models/, in the config's order first (then by name). */
function modelLabels(dir: string, cfg: RunDataConfig): string[] {
  const root = join(dir, 'models');
  if (!existsSync(root)) throw new RunLoadError(`${root}: not found (is ${dir} a benchmark run directory?)`);
  const found = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'config.json')) && existsSync(join(root, d.name, 'weights.safetensors')))
    .map((d) => d.name);
  const order = (cfg.models ?? []).map((m) => (typeof m === 'string' ? m : m.label ?? m.name));
  const rank = (l: string) => { const i = order.indexOf(l); return i < 0 ? order.length : i; };
  return found.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Left-padded [B * L] histories from item lists (the last L items kept). */
export function userBatch(users: readonly number[], histories: readonly ArrayLike<number>[], L: number): UserBatch {
  const B = histories.length;
  const history = new Int32Array(B * L);
  histories.forEach((h, b) => {
    const n = Math.min(L, h.length);
    for (let j = 0; j < n; j++) history[b * L + L - n + j] = h[h.length - n + j];
  });
  return { size: B, L, user: Int32Array.from(users), history };
}

/** A user's test history (the sequence before the held-out test item). */
export function testHistory(data: SplitDataset, user: number): Int32Array {
  const L = data.test.L;
  const row = data.test.history.subarray(user * L, (user + 1) * L);
  let s = 0;
  while (s < L && row[s] === 0) s++;
  return row.subarray(s);
}

/** Precomputed vectors of a model: items once, every known user in batches. */
function precompute(m: Recommender, data: SplitDataset, L: number): { items: ServedModel['items']; users: Float32Array | null } {
  const items = m.itemEmbeddings();
  if (!items) return { items: null, users: null };
  const users = new Float32Array(data.numUsers * items.dim);
  for (let s = 0; s < data.numUsers; s += 256) {
    const ids = Array.from({ length: Math.min(256, data.numUsers - s) }, (_, i) => s + i);
    const u = m.userEmbedding(userBatch(ids, ids.map((x) => testHistory(data, x)), L));
    if (!u || u.length !== ids.length * items.dim) return { items: null, users: null };
    users.set(u, s * items.dim);
  }
  return { items, users };
}

/**
 * The precomputed top-K of every known user (PrecomputedTop), or null when
 * the model has no vectors, K is 0, or the lists would exceed
 * PRECOMPUTE_MAX_BYTES (then every request is scored).
 */
function precomputeTop(m: Pick<ServedModel, 'users' | 'items' | 'scorer'>, numUsers: number, seen: Int32Array, seenStart: Int32Array, K: number, log: (l: string) => void, label: string): PrecomputedTop | null {
  if (!m.users || !m.items || !m.scorer || K <= 0 || numUsers === 0) return null;
  const n = m.scorer.rows - 1;
  const k = Math.min(K, n);
  if (numUsers * k * 8 > PRECOMPUTE_MAX_BYTES) {
    log(`model ${label}: ${numUsers} users x top-${k} exceed ${PRECOMPUTE_MAX_BYTES / 2 ** 20} MiB: known users are scored per request`);
    return null;
  }
  const items = new Int32Array(numUsers * k);
  const scores = new Float32Array(numUsers * k);
  const count = new Int32Array(numUsers);
  const d = m.items.dim;
  const users = m.users;
  for (let s = 0; s < numUsers; s += m.scorer.maxBatch) {
    const B = Math.min(m.scorer.maxBatch, numUsers - s);
    m.scorer.score(B, (b) => [users, (s + b) * d], (b, row, off) => {
      const u = s + b;
      const top = topKRow(row, off, n, k, seen.subarray(seenStart[u], seenStart[u + 1]));
      count[u] = top.length;
      for (let r = 0; r < top.length; r++) { items[u * k + r] = top[r].item; scores[u * k + r] = top[r].score; }
    });
  }
  return { k, items, scores, count };
}

/**
 * A known user's top-k from the precomputed lists, `exclude` (ascending)
 * skipped; null when there is no list, k > K, or the exclusions leave fewer
 * than k items of a full list (the caller then scores the request).
 */
export function precomputedTopK(m: ServedModel, user: number, k: number, exclude: Int32Array): Scored[] | null {
  const t = m.top;
  if (!t || k > t.k) return null;
  const c = t.count[user];
  const base = user * t.k;
  const out: Scored[] = [];
  const filter = exclude.length > 0;
  for (let r = 0; r < c && out.length < k; r++) {
    const item = t.items[base + r];
    if (filter && inSorted(exclude, item)) continue;
    out.push({ item, score: t.scores[base + r] });
  }
  // A list shorter than K already held every unseen item: fewer than k is then the exact answer.
  if (out.length < k && c === t.k) return null;
  return out;
}

export async function loadRun(dirArg: string, log: (l: string) => void = () => {}, opts: LoadRunOptions = {}): Promise<LoadedRun> {
  const dir = resolve(dirArg);
  const config = readRunConfig(dir);
  const labels = modelLabels(dir, config);
  if (labels.length === 0) throw new RunLoadError(`${join(dir, 'models')}: no saved model (a folder with config.json + weights.safetensors)`);
  for (const label of opts.set?.keys() ?? []) {
    if (!labels.includes(label)) throw new RunLoadError(`--set: no saved model labelled '${label}' in ${join(dir, 'models')} (labels: ${labels.join(', ')})`);
  }
  const t0 = performance.now();
  const data = applyAnyProtocol(await loadRaw(config, dir), { dedupeConsecutive: false, ...config.protocol });
  const dataSeconds = (performance.now() - t0) / 1000;
  log(`data ${data.name}: ${data.numUsers} users, ${data.numItems} items (${dataSeconds.toFixed(1)} s)`);
  const { seen, seenStart } = seenLists(data);
  const K = opts.precomputeK ?? PRECOMPUTE_K;
  const models: ServedModel[] = [];
  try {
    for (const label of labels) {
      const mdir = join(dir, 'models', label);
      const t1 = performance.now();
      const set = opts.set?.get(label);
      const model = await loadRecommender(mdir, set ? { set } : {});
      if (set) log(`model ${label}: inference settings ${formatSettings(set)} (--set)`);
      const dims = (readJson(join(mdir, 'config.json')) as { dims: { numItems: number; numUsers: number; maxHistory: number } }).dims;
      if (dims.numItems !== data.numItems || dims.numUsers !== data.numUsers) {
        model.dispose();
        throw new RunLoadError(`${join(mdir, 'config.json')}: field 'dims': ${dims.numUsers} users / ${dims.numItems} items, but the run's data has ${data.numUsers} / ${data.numItems} (the data or protocol changed since training)`);
      }
      const loadSeconds = (performance.now() - t1) / 1000;
      const t2 = performance.now();
      const L = Math.max(1, dims.maxHistory);
      const pre = precompute(model, data, L);
      const scorer = pre.items ? new DotScorer(pre.items.data, pre.items.dim, SCORE_BATCH) : null;
      const served: ServedModel = { label, name: model.name, model, L, ...pre, scorer, top: null, history: !USER_ID_MODELS.has(model.name), loadSeconds, precomputeSeconds: 0 };
      models.push(served);
      served.top = precomputeTop(served, data.numUsers, seen, seenStart, K, log, label);
      served.precomputeSeconds = (performance.now() - t2) / 1000;
      log(`model ${label} (${model.name}): loaded in ${loadSeconds.toFixed(2)} s, precomputed in ${served.precomputeSeconds.toFixed(2)} s${scorer ? ` (scoring: ${scorer.path} GEMM${served.top ? `; known users' top-${served.top.k}` : ''})` : ''}`);
    }
  } catch (e) {
    for (const m of models) { m.model.dispose(); m.scorer?.dispose(); }
    throw e;
  }
  const itemIndex = new Map<string, number>();
  const titleIndex = new Map<string, number[]>();
  const lowerTitles: string[] = [''];
  const itemJson: ItemJson[] = [{ id: '', title: '' }];
  for (let i = 1; i <= data.numItems; i++) {
    itemIndex.set(data.itemIds[i], i);
    const t = itemTitle(data, i);
    const meta = data.itemMeta.get(i);
    // Keys starting with '_' are loader bookkeeping (original ids), not item attributes.
    const attributes = meta ? Object.fromEntries(Object.entries(meta.attributes).filter(([k]) => !k.startsWith('_'))) : {};
    itemJson.push({ id: data.itemIds[i], title: t, ...(Object.keys(attributes).length ? { attributes } : {}) });
    const list = titleIndex.get(t);
    if (list) list.push(i); else titleIndex.set(t, [i]);
    lowerTitles.push(t.toLowerCase());
  }
  const userIndex = new Map<string, number>();
  data.userIds.forEach((u, i) => userIndex.set(u, i));
  const itemJsonText = itemJson.map((j) => JSON.stringify(j).slice(1, -1));
  return { dir, config, data, models, itemIndex, userIndex, titleIndex, lowerTitles, itemJson, itemJsonText, seen, seenStart, dataSeconds, loadedAt: new Date() };
}

export function disposeRun(run: LoadedRun): void {
  for (const m of run.models) { m.model.dispose(); m.scorer?.dispose(); }
}

/** Users scored by one GEMM at most (the micro-batcher's largest batch). */
export const SCORE_BATCH = 64;

/** Every known user's test-history items, sorted and duplicate-free, in one flat list. */
function seenLists(data: SplitDataset): { seen: Int32Array; seenStart: Int32Array } {
  const seenStart = new Int32Array(data.numUsers + 1);
  const parts: Int32Array[] = [];
  for (let u = 0; u < data.numUsers; u++) {
    const p = sortedUnique(testHistory(data, u));
    parts.push(p);
    seenStart[u + 1] = seenStart[u] + p.length;
  }
  const seen = new Int32Array(seenStart[data.numUsers]);
  parts.forEach((p, u) => seen.set(p, seenStart[u]));
  return { seen, seenStart };
}

/** A known user's seen items (ascending), a view without copying. */
export function seenOf(run: LoadedRun, user: number): Int32Array {
  return run.seen.subarray(run.seenStart[user], run.seenStart[user + 1]);
}

export interface RankRequest {
  /** Known user index (precomputed vector), or null for an ad-hoc history. */
  user: number | null;
  history: Int32Array;
  k: number;
  /** Items never returned, ascending and duplicate-free (the seen items and the request's exclude). */
  skip: Int32Array;
  candidates?: readonly number[];
}

/**
 * Ranks for several requests of one model at once (the micro-batch): known
 * users' precomputed vectors and the ad-hoc histories' vectors (one forward
 * pass for all of them) go through one user x item GEMM per SCORE_BATCH
 * users, then each score row through the one-pass top-k. Models without
 * vectors score the ad-hoc batch with one scoreAll call, and each request
 * with candidates with one scoreCandidates call (exact scores of those items).
 */
export function rankBatch(m: ServedModel, reqs: readonly RankRequest[]): Scored[][] {
  const out: Scored[][] = new Array(reqs.length);
  const top = (r: RankRequest, row: Float32Array, off: number, n: number) =>
    r.candidates ? topKRowOf(row, off, r.candidates, r.k, r.skip) : topKRow(row, off, n, r.k, r.skip);
  const adhoc: number[] = [];
  reqs.forEach((r, i) => { if (r.user === null || !m.users) adhoc.push(i); });
  const batch = adhoc.length > 0 ? userBatch(adhoc.map((i) => reqs[i].user ?? 0), adhoc.map((i) => reqs[i].history), m.L) : null;
  if (m.items && m.scorer) {
    const d = m.items.dim;
    const n = m.scorer.rows - 1;
    const u = batch ? m.model.userEmbedding(batch)! : null;
    const adhocRow = new Map<number, number>();
    adhoc.forEach((i, b) => adhocRow.set(i, b));
    const all = reqs.map((_, i) => i);
    for (let s = 0; s < all.length; s += m.scorer.maxBatch) {
      const chunk = all.slice(s, s + m.scorer.maxBatch);
      m.scorer.score(chunk.length, (b) => {
        const i = chunk[b];
        const a = adhocRow.get(i);
        return a === undefined ? [m.users!, reqs[i].user! * d] : [u!, a * d];
      }, (b, row, off) => { const i = chunk[b]; out[i] = top(reqs[i], row, off, n); });
    }
    return out;
  }
  if (!batch) return out;
  // Models without vectors: requests with candidates get the model's exact scores of those
  // items (scoreCandidates: TIGER's teacher-forced log-probabilities, not only the items its
  // beams reached); the others one scoreAll call.
  const plain = adhoc.filter((i) => !reqs[i].candidates);
  adhoc.forEach((i, b) => {
    const r = reqs[i];
    if (!r.candidates) return;
    const items = r.candidates.filter((c) => !inSorted(r.skip, c));
    if (items.length === 0) { out[i] = []; return; }
    const scores = m.model.scoreCandidates(sliceSplit(batch, b, b + 1), Int32Array.from(items), items.length);
    const t = new TopK(r.k);
    items.forEach((c, j) => t.push(c, scores[j]));
    out[i] = t.result();
  });
  if (plain.length > 0) {
    const sub = plain.length === adhoc.length ? batch : userBatch(plain.map((i) => reqs[i].user ?? 0), plain.map((i) => reqs[i].history), m.L);
    const scores = m.model.scoreAll(sub);
    const V = scores.length / plain.length;
    plain.forEach((i, b) => { out[i] = top(reqs[i], scores, b * V, V - 1); });
  }
  return out;
}
