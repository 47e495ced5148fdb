/**
 * The knowledge stage of KAR (Xi et al. 2023, "Towards Open-World
 * Recommendation with Knowledge Augmentation from Large Language Models";
 * docs/METHODS.md §8): factorization prompting gives one item-fact prompt
 * per item and one preference prompt per user; an LM answers each once; the
 * answers are cached on disk ("pre-store"), so a second run and inference
 * cost no generation.
 *
 *   item prompt   ITEM_TEMPLATE with the item's text (src/data/item_text.ts itemSentence)
 *   user prompt   USER_TEMPLATE with the titles of the user's TRAINING history only
 *                 (data.trainSeqs: never the validation or test item), the last
 *                 `historyTitles` of them
 *   knowledge     source text + ' ' + generated text (the source is kept so that a
 *                 weak LM cannot erase what the item text already says)
 *
 * Without an LM (`backend` null) the knowledge is the source text itself:
 * the item text, and the concatenated titles of the training history. The
 * report says which one was used (`fallback`).
 *
 * Generation goes through an `LlmBackend` (src/backends: local:DIR, gguf:FILE,
 * openai:MODEL[@URL]) with a bounded number of new tokens, greedy
 * (temperature 0) or seeded sampling. The cache file `kar-knowledge-*.json`
 * is keyed by (backend name, template version, generation options) per file
 * and by the prompt's sha256 per entry.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/fs.js';
import type { SplitDataset } from '../../data/types.js';
import type { LlmBackend } from '../../backends/index.js';
import { itemTexts } from '../text/index.js';

export const KNOWLEDGE_FORMAT = 'llmrec-kar-knowledge';
/** Bump when a template changes (part of the cache identity). */
export const TEMPLATE_VERSION = 'kar-v1';
export const ITEM_TEMPLATE = 'Introduce this item and its key facts (genre, audience, style).\nItem: {item}\nFacts:';
export const USER_TEMPLATE = 'A user liked these items, oldest first: {history}.\nDescribe the user\'s preferences (genres, themes, style).\nPreferences:';

export interface KnowledgeOptions {
  /** The LM that writes the knowledge; null: the fallback (source texts). */
  backend: LlmBackend | null;
  /** New tokens per answer. */
  maxNewTokens: number;
  /** 0: greedy; > 0: seeded sampling. */
  temperature: number;
  seed: number;
  /** Titles of the last training items in a user's prompt. */
  historyTitles: number;
  /** Directory of the on-disk cache (absent: no cache). */
  cacheDir?: string;
  /** Called after every answer (progress). */
  onProgress?: (done: number, total: number) => void;
}

export interface Knowledge {
  /** items[i] for items 0..numItems (items[0] = '' is padding). */
  items: string[];
  /** users[u] for users 0..numUsers-1. */
  users: string[];
  /** True when no LM was configured: the texts are the item texts / history titles. */
  fallback: boolean;
  /** The LM's name (backend spec) or 'none'. */
  lm: string;
  /** LM calls made now / answers served from the cache. */
  calls: number;
  hits: number;
  seconds: number;
}

/** The user's preference prompt input: the titles of the last `n` items of the TRAINING sequence. */
export function historyTitles(data: Pick<SplitDataset, 'trainSeqs' | 'itemMeta'>, user: number, n: number): string {
  const seq = data.trainSeqs[user];
  const from = Math.max(0, seq.length - n);
  const titles: string[] = [];
  for (let p = from; p < seq.length; p++) {
    const t = data.itemMeta.get(seq[p])?.title.trim() ?? '';
    titles.push(t === '' ? `item ${seq[p]}` : t);
  }
  return titles.join('; ');
}

export function itemPrompt(itemText: string): string {
  return ITEM_TEMPLATE.replace('{item}', itemText);
}

export function userPrompt(history: string): string {
  return USER_TEMPLATE.replace('{history}', history);
}

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

interface CacheFile {
  format: string;
  identity: string;
  answers: Record<string, string>;
}

function readCache(file: string, identity: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(file)) return out;
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
    if (j.format !== KNOWLEDGE_FORMAT || j.identity !== identity || typeof j.answers !== 'object') return out;
    for (const [k, v] of Object.entries(j.answers)) if (typeof v === 'string') out.set(k, v);
  } catch {
    out.clear(); // a damaged cache is a miss; it is rewritten
  }
  return out;
}

/** Item-fact and user-preference knowledge of `data` (see the file comment). */
export async function buildKnowledge(data: SplitDataset, o: KnowledgeOptions): Promise<Knowledge> {
  const t0 = performance.now();
  const { texts } = itemTexts(data);
  const sources = { items: texts, users: Array.from({ length: data.numUsers }, (_, u) => historyTitles(data, u, o.historyTitles)) };
  if (o.backend === null) {
    return { items: [...sources.items], users: [...sources.users], fallback: true, lm: 'none', calls: 0, hits: 0, seconds: (performance.now() - t0) / 1000 };
  }
  const backend = o.backend;
  const identity = JSON.stringify({ lm: backend.name, templates: TEMPLATE_VERSION, item: ITEM_TEMPLATE, user: USER_TEMPLATE, maxNewTokens: o.maxNewTokens, temperature: o.temperature, seed: o.seed });
  const file = o.cacheDir !== undefined ? join(o.cacheDir, `kar-knowledge-${sha(identity).slice(0, 16)}.json`) : undefined;
  const cache = file !== undefined ? readCache(file, identity) : new Map<string, string>();
  let calls = 0;
  let hits = 0;
  let dirty = false;
  const save = () => {
    if (file === undefined || !dirty || o.cacheDir === undefined) return;
    mkdirSync(o.cacheDir, { recursive: true });
    const body: CacheFile = { format: KNOWLEDGE_FORMAT, identity, answers: Object.fromEntries(cache) };
    writeFileAtomic(file, JSON.stringify(body) + '\n');
    dirty = false;
  };
  const total = data.numItems + data.numUsers;
  let done = 0;
  const answer = async (prompt: string, source: string): Promise<string> => {
    if (source === '') return '';
    const key = sha(prompt);
    let gen = cache.get(key);
    if (gen === undefined) {
      const r = await backend.generate(prompt, { maxTokens: o.maxNewTokens, temperature: o.temperature, seed: o.seed, stop: ['\n\n'] });
      gen = r.text.trim();
      cache.set(key, gen);
      calls++;
      dirty = true;
      if (calls % 200 === 0) save();
    } else {
      hits++;
    }
    o.onProgress?.(++done, total);
    return gen === '' ? source : `${source} ${gen}`;
  };
  try {
    const items: string[] = [''];
    for (let i = 1; i <= data.numItems; i++) items.push(await answer(itemPrompt(sources.items[i]), sources.items[i]));
    const users: string[] = [];
    for (let u = 0; u < data.numUsers; u++) users.push(await answer(userPrompt(sources.users[u]), sources.users[u]));
    return { items, users, fallback: false, lm: backend.name, calls, hits, seconds: (performance.now() - t0) / 1000 };
  } finally {
    save();
  }
}
