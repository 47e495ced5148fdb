/**
 * The shared part of the KAR models (kar-sasrec, kar-din): config keys, and
 * knowledge -> vectors (knowledge.ts texts through an ItemTextEncoder, with
 * the per-text vector cache of src/models/text/cache.ts).
 *
 * Config keys:
 *   lm             '' (fallback: source texts, no LM) or a backend spec
 *                  (local:DIR, gguf:FILE, openai:MODEL[@URL]; src/backends)
 *   maxNewTokens   new tokens per generated answer
 *   temperature    0 greedy, > 0 seeded sampling (lmSeed)
 *   historyTitles  training-history titles in a user's prompt
 *   encoder        'tfidf' | 'bm25' | 'lm:<folder>' (src/models/text/create.ts)
 *   textDim        knowledge vector size (TF-IDF/BM25 projection; LM encoder: its hidden size)
 *   experts, expertHidden   the hybrid-expert adaptor (adaptor.ts)
 *   useItem, useUser        which knowledge enters the model
 *   knowledgeDropout        dropout on the knowledge vectors in training
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { SplitDataset } from '../../data/types.js';
import type { FitOptions, FitReport } from '../types.js';
import { createBackend, parseBackendSpec, type LlmBackend } from '../../backends/index.js';
import { checkInt, checkRate } from '../neural.js';
import { createTextEncoder, encodeItems } from '../text/index.js';
import { buildKnowledge } from './knowledge.js';

export type KarOptions = {
  lm: string;
  maxNewTokens: number;
  temperature: number;
  lmSeed: number;
  historyTitles: number;
  encoder: string;
  textDim: number;
  encoderSeed: number;
  maxTokens: number;
  experts: number;
  expertHidden: number;
  useItem: boolean;
  useUser: boolean;
  knowledgeDropout: number;
};

export const KAR_DEFAULTS: KarOptions = {
  lm: '', maxNewTokens: 32, temperature: 0, lmSeed: 0, historyTitles: 20,
  encoder: 'tfidf', textDim: 128, encoderSeed: 2024, maxTokens: 64,
  experts: 4, expertHidden: 64, useItem: true, useUser: true, knowledgeDropout: 0.1,
};

export function checkKarConfig(model: string, c: KarOptions): void {
  for (const k of ['maxNewTokens', 'historyTitles', 'textDim', 'experts', 'expertHidden', 'maxTokens'] as const) checkInt(model, k, c[k]);
  checkRate(model, 'knowledgeDropout', c.knowledgeDropout);
  if (!(c.temperature >= 0)) throw new Error(`${model}: config 'temperature' must be >= 0, got ${c.temperature}`);
  if (!Number.isInteger(c.lmSeed)) throw new Error(`${model}: config 'lmSeed' must be an integer, got ${c.lmSeed}`);
  if (c.lm !== '') parseBackendSpec(c.lm); // throws on a malformed spec
}

export interface KnowledgeVectors {
  /** [(numItems + 1) * textDim]; row 0 (padding) is zero. */
  items: Float32Array;
  /** [numUsers * textDim]. */
  users: Float32Array;
}

export interface KarReport {
  lm: string;
  fallback: boolean;
  encoder: string;
  dim: number;
  generation: { calls: number; hits: number; seconds: number; peakRssMB: number };
  encoding: { hits: number; misses: number; seconds: number; peakRssMB: number };
  /** A few knowledge texts (the report shows what the LM wrote). */
  examples: { item: string; user: string };
}

/** The cache folders of a run (checkpointDir <run>/models/<label> -> <run>/kar-knowledge, <run>/text-cache), or none. */
export function runDirs(model: string, checkpointDir: string | undefined): { knowledge: string; text: string; label: string } | undefined {
  if (checkpointDir === undefined) return undefined;
  const run = dirname(dirname(checkpointDir));
  return { knowledge: join(run, 'kar-knowledge'), text: join(run, 'text-cache'), label: basename(checkpointDir) || model };
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/**
 * Knowledge texts of `data` (generated once, cached in dirs.knowledge) and
 * their vectors (cached in dirs.text). `backend` overrides config.lm (tests).
 */
export async function prepareKnowledge(model: string, c: KarOptions, data: SplitDataset, dirs?: { knowledge: string; text: string; label: string }, backend?: LlmBackend): Promise<{ vectors: KnowledgeVectors; report: KarReport }> {
  const own = backend === undefined && c.lm !== '' ? await createBackend(parseBackendSpec(c.lm)) : null;
  let k;
  try {
    k = await buildKnowledge(data, {
      backend: backend ?? own, maxNewTokens: c.maxNewTokens, temperature: c.temperature, seed: c.lmSeed,
      historyTitles: c.historyTitles, cacheDir: dirs?.knowledge,
    });
  } finally {
    await own?.dispose();
  }
  const genRss = peakRssMB();
  const corpus = [...k.items.slice(1), ...k.users];
  const enc = createTextEncoder({ encoder: c.encoder, dim: c.textDim, seed: c.encoderSeed, maxTokens: c.maxTokens }, corpus);
  if (enc.dim !== c.textDim) throw new Error(`${model}: encoder '${c.encoder}' gives ${enc.dim}-dim vectors; set config textDim to ${enc.dim}`);
  const scope = `${data.name}:${data.numItems}:${data.numUsers}:kar:${k.lm}`;
  const items = encodeItems(enc, k.items, { cacheDir: dirs?.text, scope });
  items.vectors.fill(0, 0, c.textDim); // padding
  const users = encodeItems(enc, k.users, { cacheDir: dirs?.text, scope });
  const report: KarReport = {
    lm: k.lm, fallback: k.fallback, encoder: enc.name, dim: enc.dim,
    generation: { calls: k.calls, hits: k.hits, seconds: Math.round(k.seconds * 100) / 100, peakRssMB: genRss },
    encoding: { hits: items.hits + users.hits, misses: items.misses + users.misses, seconds: Math.round((items.seconds + users.seconds) * 100) / 100, peakRssMB: peakRssMB() },
    examples: { item: k.items[1] ?? '', user: k.users[0] ?? '' },
  };
  if (dirs) {
    mkdirSync(dirs.knowledge, { recursive: true });
    writeFileSync(join(dirs.knowledge, `report-${dirs.label}.json`), JSON.stringify(report, null, 2) + '\n');
  }
  return { vectors: { items: items.vectors, users: users.vectors }, report };
}

/**
 * A KAR model's fit: prepares the knowledge vectors (prepareKnowledge, cached
 * under the run's checkpoint directory), hands them and the report to the
 * model through `hold` for its build(), runs the base model's fit, and
 * clears the pending vectors afterwards (also on failure).
 */
export async function fitWithKnowledge(model: string, c: KarOptions, data: SplitDataset, opts: FitOptions,
  hold: (vectors: KnowledgeVectors | null, report?: KarReport) => void, fit: () => Promise<FitReport>): Promise<FitReport> {
  const { vectors, report } = await prepareKnowledge(model, c, data, runDirs(model, opts.checkpointDir));
  hold(vectors, report);
  try {
    return await fit();
  } finally {
    hold(null);
  }
}
