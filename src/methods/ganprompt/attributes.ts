/**
 * GANPrompt stage 1, step 1: attribute generation (docs/METHODS.md §6).
 *
 * For a seeded sample of training histories (the last L titles of each
 * user's *train* sequence), the template
 *   "The user has bought: {titles}. These {category} items are about [MASK]."
 * is filled by a masked LM; at [MASK] of every prompt, the `topPredictions`
 * most probable tokens that are words are collected (stop words
 * (`STOP_WORDS`) and non-words (not /^[a-z][a-z-]+$/i, shorter than 3
 * letters) are dropped before taking the top, so a weak MLM whose best
 * guesses are punctuation or word pieces still yields words), and the K most
 * frequent words over all prompts (ties: alphabetical) are the attribute set.
 *
 * The masked LM is, by default, a small BERT trained from scratch (masked-LM
 * objective, `pretrain`) on the dataset's item titles (item metadata only,
 * no interactions), with a
 * WordPiece tokenizer trained on the same text; `mlmDir` loads any BERT
 * checkpoint folder (config.json, model.safetensors, tokenizer.json) instead.
 *
 * {category}: the most common category of the history's items when the item
 * metadata has a `category` (Amazon: the last level of the first path) or a
 * `genre` (MovieLens: the first genre), else the dataset's domain word
 * ('movie' for MovieLens names, 'book' for book datasets, else 'product').
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { tf } from '../../engine/index.js';
import type { SplitDataset } from '../../data/types.js';
import { itemTitle } from '../text_lm/corpus.js';
import { BertForMaskedLM } from '../../lm/families/bert.js';
import { loadPretrained, savePretrained } from '../../lm/checkpoint.js';
import { MASK_TOKEN, Tokenizer } from '../../lm/tokenizer/index.js';
import { DEFAULT_SMALL_MLM, trainSmallMlm } from '../text_lm/small_mlm.js';
import { Mulberry32, mixSeed } from '../../util/random.js';
import { escapeItemText, fillSlots } from '../prompt_text.js';
import { zodMessage } from '../../util/validate.js';

/** A fixed English stop-word list (lower case): function words, pronouns, auxiliaries and generic fillers. */
export const STOP_WORDS: ReadonlySet<string> = new Set([
  'a', 'about', 'above', 'after', 'again', 'against', 'all', 'also', 'am', 'an', 'and', 'any', 'are', 'as', 'at',
  'be', 'because', 'been', 'before', 'being', 'below', 'between', 'both', 'but', 'by', 'can', 'could', 'did', 'do',
  'does', 'doing', 'down', 'during', 'each', 'either', 'else', 'etc', 'ever', 'every', 'few', 'for', 'from', 'further',
  'had', 'has', 'have', 'having', 'he', 'her', 'here', 'hers', 'herself', 'him', 'himself', 'his', 'how', 'however',
  'i', 'if', 'in', 'into', 'is', 'it', 'its', 'itself', 'just', 'less', 'let', 'like', 'may', 'me', 'might', 'more',
  'most', 'much', 'must', 'my', 'myself', 'neither', 'no', 'nor', 'not', 'now', 'of', 'off', 'often', 'on', 'once',
  'one', 'only', 'or', 'other', 'ought', 'our', 'ours', 'ourselves', 'out', 'over', 'own', 'per', 'quite', 'rather',
  'same', 'shall', 'she', 'should', 'since', 'so', 'some', 'such', 'than', 'that', 'the', 'their', 'theirs', 'them',
  'themselves', 'then', 'there', 'these', 'they', 'this', 'those', 'though', 'through', 'thus', 'to', 'too', 'under',
  'until', 'up', 'upon', 'us', 'very', 'via', 'was', 'we', 'were', 'what', 'when', 'where', 'whether', 'which', 'while',
  'who', 'whom', 'whose', 'why', 'will', 'with', 'within', 'without', 'would', 'yet', 'you', 'your', 'yours',
  'yourself', 'yourselves', 'item', 'items', 'user', 'users', 'bought', 'buy', 'product', 'products', 'thing', 'things',
  'something', 'anything', 'everything', 'nothing', 'title', 'new', 'get', 'got', 'make', 'made', 'use', 'used',
  'many', 'several', 'two', 'three', 'four', 'five',
]);

/** The attribute prompt of docs/METHODS.md §6 (slots {titles} and {category}; the mask token is MASK_TOKEN). */
export const ATTRIBUTE_PROMPT_TEMPLATE = 'The user has bought: {titles}. These {category} items are about [MASK].';

export const AttributeOptionsSchema = z.strictObject({
  /** K: attributes kept. */
  numAttributes: z.number().int().min(1).max(64),
  /** L: last titles of each training history. */
  historyLength: z.number().int().min(1),
  /** At most this many users (seeded sample) give a prompt. */
  maxUsers: z.number().int().min(1),
  /** Predicted words collected per prompt: the most probable tokens at [MASK] that are words and not stop words. */
  topPredictions: z.number().int().min(1),
  /** Titles longer than this are cut (characters). */
  maxTitleChars: z.number().int().min(8),
  /** Prompts longer than this (tokens) lose their oldest titles. */
  maxPromptTokens: z.number().int().min(16),
  template: z.string().refine((s) => s.includes('{titles}') && s.includes(MASK_TOKEN), `must contain {titles} and ${MASK_TOKEN}`),
  /** A BERT checkpoint folder (with tokenizer.json) to use instead of training the small MLM. */
  mlmDir: z.string().nullable(),
  mlmVocabSize: z.number().int().min(64),
  mlmHiddenSize: z.number().int().min(8),
  mlmLayers: z.number().int().min(1),
  mlmHeads: z.number().int().min(1),
  mlmIntermediateSize: z.number().int().min(8),
  mlmBlockSize: z.number().int().min(8),
  mlmBatchSize: z.number().int().min(1),
  mlmSteps: z.number().int().min(0),
  mlmLr: z.number().positive(),
  /** Prompts per MLM forward pass at inference. */
  inferenceBatch: z.number().int().min(1),
  seed: z.number().int(),
});

export type AttributeOptions = z.output<typeof AttributeOptionsSchema>;

export const DEFAULT_ATTRIBUTE_OPTIONS: AttributeOptions = {
  numAttributes: 5, historyLength: 10, maxUsers: 1000, topPredictions: 5, maxTitleChars: 60, maxPromptTokens: 128,
  template: ATTRIBUTE_PROMPT_TEMPLATE, mlmDir: null,
  mlmVocabSize: 3000, mlmHiddenSize: 64, mlmLayers: 2, mlmHeads: 2, mlmIntermediateSize: 256, mlmBlockSize: 128,
  mlmBatchSize: 16, mlmSteps: 250, mlmLr: 2e-3, inferenceBatch: 32, seed: 2024,
};

/** The project's one formatter of validation errors (re-exported: diversity.ts imports it from here). */
export { zodMessage };

/** Validates user-given attribute options (partial) and fills the defaults; errors name the field. */
export function parseAttributeOptions(opts: unknown): AttributeOptions {
  const r = AttributeOptionsSchema.partial().safeParse(opts ?? {});
  if (!r.success) throw new Error(zodMessage('invalid attribute options', r.error));
  return { ...DEFAULT_ATTRIBUTE_OPTIONS, ...stripUndefined(r.data) };
}

export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ------------------------------------------------------------------ words

/** A word: letters and inner hyphens, starting with a letter, at least 3 characters. */
export function isAttributeWord(w: string): boolean {
  return w.length >= 3 && /^[a-z][a-z-]+$/i.test(w) && !w.endsWith('-');
}

export interface AttributeCount {
  word: string;
  count: number;
}

/**
 * Counts the predicted words of every prompt (lower-cased; a word counts once
 * per prompt), dropping stop words and non-words.
 */
export function countAttributeWords(predictions: readonly (readonly string[])[], stopWords: ReadonlySet<string> = STOP_WORDS): Map<string, number> {
  const counts = new Map<string, number>();
  for (const preds of predictions) {
    const seen = new Set<string>();
    for (const raw of preds) {
      const w = raw.trim().toLowerCase();
      if (!isAttributeWord(w) || stopWords.has(w) || seen.has(w)) continue;
      seen.add(w);
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
}

/** The k most frequent words (ties broken alphabetically, so the result is deterministic). */
export function topAttributes(counts: ReadonlyMap<string, number>, k: number): AttributeCount[] {
  return [...counts.entries()]
    .map(([word, count]) => ({ word, count }))
    .sort((a, b) => b.count - a.count || (a.word < b.word ? -1 : a.word > b.word ? 1 : 0))
    .slice(0, k);
}

// ------------------------------------------------------------- prompts

/** The category word of an item, from its metadata (undefined when it has none). */
export function itemCategory(data: SplitDataset, item: number): string | undefined {
  const a = data.itemMeta.get(item)?.attributes;
  if (!a) return undefined;
  const cat = a.category ?? a.categories;
  if (cat) {
    const path = cat.split('|')[0].split('>').map((s) => s.trim()).filter((s) => s !== '');
    if (path.length > 0) return path[path.length - 1].toLowerCase();
  }
  const genre = a.genre ?? a.genres;
  if (genre) {
    const g = genre.split(/[,|]/)[0].trim();
    if (g) return g.toLowerCase();
  }
  return undefined;
}

/** The domain word of a dataset name (fallback category). */
export function domainWord(name: string): string {
  const n = name.toLowerCase();
  if (/^ml-|movielens|movie|netflix/.test(n)) return 'movie';
  if (/book/.test(n)) return 'book';
  if (/music|lastfm|cds/.test(n)) return 'music';
  return 'product';
}

/** The most common category among `items` (ties: alphabetical), else the dataset's domain word. */
export function historyCategory(data: SplitDataset, items: ArrayLike<number>): string {
  const counts = new Map<string, number>();
  for (let i = 0; i < items.length; i++) {
    const c = items[i] > 0 ? itemCategory(data, items[i]) : undefined;
    if (c) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let best: string | undefined;
  let bestN = 0;
  for (const [c, n] of counts) if (n > bestN || (n === bestN && best !== undefined && c < best)) { best = c; bestN = n; }
  return best ?? domainWord(data.name);
}

/** The last `L` items of `seq`. */
export function lastItems(seq: Int32Array, L: number): Int32Array {
  return seq.subarray(Math.max(0, seq.length - L));
}

/** A seeded sample of at most `n` user indices with a non-empty training sequence (sorted ascending). */
export function sampleUsers(data: SplitDataset, n: number, seed: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const users: number[] = [];
  for (let u = 0; u < data.numUsers; u++) if (data.trainSeqs[u].length > 0 && !exclude.has(u)) users.push(u);
  const rng = new Mulberry32(mixSeed(seed, 601));
  for (let i = users.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [users[i], users[j]] = [users[j], users[i]];
  }
  return users.slice(0, n).sort((a, b) => a - b);
}

/** Fills `{titles}` and `{category}` of a template in one pass (fillSlots, src/methods/prompt_text.ts); other slots stay as written. */
export function fillTemplate(template: string, slots: Record<string, string>): string {
  return fillSlots(template, slots, 'template', true);
}

/**
 * Renders a template over the titles of `items`, dropping the oldest titles
 * while the text has more than `maxTokens` tokens (at least one title is kept).
 */
export function renderHistoryText(data: SplitDataset, items: ArrayLike<number>, template: string, slots: Record<string, string>,
  maxTitleChars: number, maxTokens: number, countTokens: (s: string) => number): string {
  const titles: string[] = [];
  // The one escaping rule for item text in prompts (src/methods/prompt_text.ts).
  for (let i = 0; i < items.length; i++) if (items[i] > 0) titles.push(escapeItemText(itemTitle(data, items[i], maxTitleChars)));
  let start = 0;
  let text = fillTemplate(template, { ...slots, titles: titles.join(', ') });
  while (start < titles.length - 1 && countTokens(text) > maxTokens) {
    start++;
    text = fillTemplate(template, { ...slots, titles: titles.slice(start).join(', ') });
  }
  return text;
}

// ------------------------------------------------------------------ MLM

export interface MaskedLm {
  model: BertForMaskedLM;
  tokenizer: Tokenizer;
  /** 'trained' (small MLM from scratch) or the checkpoint folder. */
  source: string;
}

export interface AttributeHooks {
  onProgress?: (stage: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * The item text the small MLM learns from: one title per item (item metadata
 * only, no interactions). Item sentences with their key labels ("Category:
 * ...; Price: ...") were tried and rejected: the MLM then predicts the key
 * words (category, price, brand) as attributes.
 */
export function mlmCorpus(data: SplitDataset): string[] {
  const docs: string[] = [];
  for (let i = 1; i <= data.numItems; i++) docs.push(itemTitle(data, i, 200));
  return docs.filter((d) => d.length > 0);
}

/**
 * The masked LM of the options: the checkpoint of `mlmDir`, or a small BERT
 * trained from scratch (saved to `saveDir` when given; a later call with the
 * same folder as `mlmDir` reuses it).
 */
export async function buildMaskedLm(data: SplitDataset, o: AttributeOptions, hooks: AttributeHooks = {}, saveDir?: string): Promise<MaskedLm> {
  if (o.mlmDir !== null) {
    if (!existsSync(o.mlmDir)) throw new Error(`attribute options: field 'mlmDir': ${o.mlmDir} does not exist`);
    const { model } = loadPretrained(o.mlmDir);
    if (!(model instanceof BertForMaskedLM)) {
      model.dispose();
      throw new Error(`attribute options: field 'mlmDir': ${o.mlmDir} holds a '${model.family}' model, a BERT masked LM is required`);
    }
    return { model, tokenizer: Tokenizer.fromFile(o.mlmDir), source: o.mlmDir };
  }
  const mlm = await trainSmallMlm(mlmCorpus(data), {
    ...DEFAULT_SMALL_MLM, vocabSize: o.mlmVocabSize, hiddenSize: o.mlmHiddenSize, layers: o.mlmLayers, heads: o.mlmHeads, intermediateSize: o.mlmIntermediateSize,
    blockSize: o.mlmBlockSize, maxPositions: Math.max(o.mlmBlockSize, o.maxPromptTokens), batchSize: o.mlmBatchSize, steps: o.mlmSteps, lr: o.mlmLr, seed: o.seed, heldOutFraction: 0,
  }, { signal: hooks.signal, onStep: (s) => hooks.onProgress?.('mlm', s.step, s.maxSteps) });
  if (mlm.training?.interrupted) {
    mlm.model.dispose();
    throw new DiversityAbortError();
  }
  if (saveDir) { savePretrained(mlm.model, saveDir); mlm.tokenizer.save(saveDir); }
  return { model: mlm.model, tokenizer: mlm.tokenizer, source: 'trained' };
}

/** Thrown when an AbortSignal stopped a step (the stage runner turns it into an interrupted report). */
export class DiversityAbortError extends Error {
  constructor() { super('GANPrompt diversity stage aborted'); this.name = 'DiversityAbortError'; }
}

/**
 * The top `k` vocabulary tokens predicted at the mask position of each
 * prompt, in decreasing probability, among the tokens `accept` keeps
 * (special tokens never; default every other token).
 */
export function predictMasked(mlm: MaskedLm, prompts: readonly string[], k: number, batch: number, hooks: AttributeHooks = {},
  accept: (token: string) => boolean = () => true): string[][] {
  const tok = mlm.tokenizer;
  const maskId = tok.specialTokens.mask?.id ?? tok.tokenToId(MASK_TOKEN);
  if (maskId === undefined) throw new Error(`masked LM ${mlm.source}: the tokenizer has no ${MASK_TOKEN} token`);
  const padId = mlm.model.config.pad_token_id;
  const specials = new Set(tok.addedTokens().map((t) => t.id));
  const V = mlm.model.vocabSize;
  const candidates: number[] = [];
  for (let i = 0; i < V; i++) {
    const t = tok.idToToken(i);
    if (!specials.has(i) && t !== undefined && accept(t)) candidates.push(i);
  }
  const out: string[][] = [];
  for (let s = 0; s < prompts.length; s += batch) {
    if (hooks.signal?.aborted) throw new DiversityAbortError();
    const group = prompts.slice(s, s + batch).map((p) => {
      const ids = tok.encode(p, { addSpecialTokens: true });
      return ids.length > mlm.model.config.max_position_embeddings ? ids.slice(ids.length - mlm.model.config.max_position_embeddings) : ids;
    });
    const T = Math.max(...group.map((g) => g.length));
    const B = group.length;
    const ids = new Int32Array(B * T).fill(padId);
    const mask = new Int32Array(B * T);
    const pos = new Int32Array(B);
    group.forEach((g, b) => {
      ids.set(g, b * T);
      mask.fill(1, b * T, b * T + g.length);
      const m = g.lastIndexOf(maskId);
      if (m < 0) throw new Error(`masked LM: prompt ${s + b} has no ${MASK_TOKEN} after tokenisation`);
      pos[b] = b * T + m;
    });
    const probs = tf.tidy(() => {
      const { logits } = mlm.model.forward({ inputIds: ids, batch: B, attentionMask: mask });
      return tf.gather(tf.reshape(logits, [B * T, V]), tf.tensor1d(pos, 'int32'));
    });
    const vals = probs.dataSync() as Float32Array;
    probs.dispose();
    for (let b = 0; b < B; b++) {
      const row = vals.subarray(b * V, (b + 1) * V);
      const order = [...candidates].sort((x, y) => row[y] - row[x] || x - y);
      out.push(order.slice(0, k).map((i) => tok.idToToken(i) ?? ''));
    }
    hooks.onProgress?.('attributes', Math.min(prompts.length, s + batch), prompts.length);
  }
  return out;
}

export interface AttributeResult {
  attributes: string[];
  counts: AttributeCount[];
  /** Prompts filled. */
  prompts: number;
  /** An example prompt (the first). */
  examplePrompt: string;
  /** 'trained' or the checkpoint folder. */
  mlm: string;
  options: AttributeOptions;
  seconds: number;
}

/** The attribute prompts of a seeded sample of training users. */
export function attributePrompts(data: SplitDataset, o: AttributeOptions, countTokens: (s: string) => number): string[] {
  return sampleUsers(data, o.maxUsers, o.seed).map((u) => {
    const items = lastItems(data.trainSeqs[u], o.historyLength);
    return renderHistoryText(data, items, o.template, { category: escapeItemText(historyCategory(data, items)) }, o.maxTitleChars, o.maxPromptTokens, countTokens);
  });
}

/**
 * Mines the K attributes of docs/METHODS.md §6, stage 1 step 1 (see the module doc). `mlmSaveDir`
 * keeps the trained small MLM.
 */
export async function mineAttributes(data: SplitDataset, opts: Partial<AttributeOptions> = {}, hooks: AttributeHooks = {}, mlmSaveDir?: string): Promise<AttributeResult> {
  const o = parseAttributeOptions(opts);
  const t0 = performance.now();
  const mlm = await buildMaskedLm(data, o, hooks, mlmSaveDir);
  try {
    const prompts = attributePrompts(data, o, (s) => mlm.tokenizer.encode(s, { addSpecialTokens: true }).length);
    if (prompts.length === 0) throw new Error(`mineAttributes: dataset ${data.name} has no user with a training history`);
    const preds = predictMasked(mlm, prompts, o.topPredictions, o.inferenceBatch, hooks, (t) => isAttributeWord(t) && !STOP_WORDS.has(t.toLowerCase()));
    const counts = topAttributes(countAttributeWords(preds), o.numAttributes);
    if (counts.length === 0) throw new Error(`mineAttributes: the masked LM predicted no usable word over ${prompts.length} prompts (train it longer: mlmSteps)`);
    return {
      attributes: counts.map((c) => c.word), counts, prompts: prompts.length, examplePrompt: prompts[0], mlm: mlm.source,
      options: o, seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    mlm.model.dispose();
  }
}
