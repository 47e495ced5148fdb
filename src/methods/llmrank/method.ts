/**
 * LLMRank's entry in the methods registry (src/methods/registry.ts): `llmrec
 * run llmrank [-c FILE]` (and its alias `llmrec llmrank`) resolves the
 * configuration (src/config/llmrank.ts), loads the data with the run's
 * protocol, and calls `runLlmRankMethod`: the backend opened from its spec
 * (src/backends: local:DIR, gguf:FILE, openai:MODEL[@URL]), the retriever and
 * baselines built, `runLlmRank` run, `report.json` and `report.md` written
 * into the run directory (src/run). See docs/LLM.md.
 */
import { join } from 'node:path';
import { createBackend, parseBackendSpec } from '../../backends/index.js';
import { backendExtra, type LlmRankRunOptions, parseLlmRankOptions } from '../../config/llmrank.js';
import type { SplitDataset } from '../../data/types.js';
import { loadRecommender } from '../../models/registry.js';
import { cachedJson, openRunDir, type StageHooks, writeText } from '../../run/index.js';
import type { MethodEntry } from '../types.js';
import { DEFAULT_WORDS, MOVIE_WORDS } from './prompts.js';
import { type LlmRankReport, renderLlmRankReport, runLlmRank } from './rank.js';
import { bm25Retriever, popRetriever, recommenderRetriever, type Retriever } from './retrieve.js';

/** A ranker from its spec: 'pop', 'bm25' or 'model:DIR' (a saved collaborative model). */
export async function makeRetriever(spec: string, data: SplitDataset): Promise<Retriever> {
  if (spec === 'pop') return popRetriever(data);
  if (spec === 'bm25') return bm25Retriever(data);
  if (spec.startsWith('model:')) return recommenderRetriever(await loadRecommender(spec.slice(6)), data.config.maxHistory);
  throw new Error(`llmrank: unknown retriever ${JSON.stringify(spec)} (expected pop, bm25 or model:DIR)`);
}

/** Whether a dataset is about movies (the prompts then say "movie" and "watch"). */
export function isMovieData(data: SplitDataset): boolean {
  return /^ml-|movielens/i.test(data.name);
}

/** Runs LLMRank into `dir` (report.json, report.md); a resume returns a finished report as it is. */
export async function runLlmRankMethod(data: SplitDataset, o: LlmRankRunOptions, dir: string, hooks: StageHooks = {}, resume = false): Promise<LlmRankReport> {
  const log = hooks.log ?? (() => {});
  openRunDir(dir, o as unknown as Record<string, unknown>, { resume, mutable: [] });
  const report = await cachedJson<LlmRankReport>(join(dir, 'report.json'), resume, async () => {
    log(`data ${data.name}: ${data.numUsers} users, ${data.numItems} items`);
    const retriever = await makeRetriever(o.retriever, data);
    const baselines = await Promise.all(o.baselines.map((b) => makeRetriever(b, data)));
    const backend = await createBackend(parseBackendSpec(o.backend.spec, backendExtra(o.backend)));
    try {
      return await runLlmRank({
        backend, data, retriever, baselines, users: o.users, candidates: o.candidates, historyLength: o.historyLength, style: o.style,
        mode: o.mode, bootstrap: o.bootstrap, maxTokens: o.maxTokens, titleChars: o.titleChars, seed: o.seed, ks: o.ks,
        onBackendError: o.onBackendError, words: isMovieData(data) ? MOVIE_WORDS : DEFAULT_WORDS,
        onUser: (d, n) => hooks.progress?.('llmrank users', d, n),
      });
    } finally {
      await backend.dispose();
    }
  });
  writeText(join(dir, 'report.md'), renderLlmRankReport(report!));
  return report!;
}

export const llmrank: MethodEntry<LlmRankRunOptions> = {
  name: 'llmrank',
  description: 'LLMRank: zero-shot ranking of retrieved candidates by any LLM backend (sequential, recency, in-context prompts; Borda bootstrapping; position bias)',
  config: { key: 'llmrank', runDefaults: {}, optionDefaults: {}, parseOptions: parseLlmRankOptions },
  run: async ({ data }, options, dir, hooks, resume) => {
    const report = await runLlmRankMethod(data, options, dir, hooks, resume);
    return { interrupted: false, report, markdown: renderLlmRankReport(report) };
  },
};
