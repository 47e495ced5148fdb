/**
 * LLMRank as a command: `llmrankMain(options)` loads the data (the default
 * protocol of src/data/types.ts), opens the backend from a spec string
 * (src/backends/index.ts: local:PATH, gguf:FILE, openai:MODEL@URL), builds
 * the retriever, runs `runLlmRank` and writes `report.json` and `report.md`
 * (atomically) into `out`. The CLI can register it as a command; until then
 * this file runs on its own:
 *
 *   node dist/methods/llmrank/main.js --data ml-100k --backend local:runs/lm-ml100k --out runs/llmrank-ml100k
 *
 * (see docs/LLM-BACKENDS.md for every option).
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createBackend, parseBackendSpec } from '../../backends/index.js';
import { loadDataset } from '../../data/loaders/index.js';
import { applyProtocol } from '../../data/protocol.js';
import { generateShop } from '../../data/synthetic.js';
import { DEFAULT_PROTOCOL, type SplitDataset } from '../../data/types.js';
import { initEngine } from '../../engine/index.js';
import { loadRecommender } from '../../models/registry.js';
import { writeFileAtomic } from '../../util/fs.js';
import { type LlmRankReport, renderLlmRankReport, runLlmRank } from './rank.js';
import { DEFAULT_WORDS, MOVIE_WORDS, PROMPT_STYLES, type PromptStyle } from './prompts.js';
import { bm25Retriever, popRetriever, recommenderRetriever, type Retriever } from './retrieve.js';

export interface LlmRankCommandOptions {
  /** Dataset name or path (`loadDataset`), or 'synthetic-shop'. */
  data: string;
  /** Backend spec: local:PATH, gguf:FILE, openai:MODEL[@URL]. */
  backend: string;
  /** 'pop', 'bm25' or 'model:DIR' (a saved collaborative model, `loadRecommender`). */
  retriever?: string;
  /** Extra rankers of the same candidates, same syntax as `retriever`. */
  baselines?: string[];
  out: string;
  users?: number;
  candidates?: number;
  historyLength?: number;
  style?: PromptStyle;
  mode?: 'generate' | 'score';
  bootstrap?: number;
  maxTokens?: number;
  /** Titles are cut to this many characters in prompts (default 60). */
  titleChars?: number;
  seed?: number;
  /** Response cache of an openai backend. */
  cacheDir?: string;
  /** Requests in flight of an openai backend. */
  concurrency?: number;
  timeoutMs?: number;
  log?: (line: string) => void;
}

async function loadSplit(name: string): Promise<SplitDataset> {
  const raw = name === 'synthetic-shop' ? generateShop() : await loadDataset(name);
  return applyProtocol(raw, { ...DEFAULT_PROTOCOL });
}

async function makeRetriever(spec: string, data: SplitDataset): Promise<Retriever> {
  if (spec === 'pop') return popRetriever(data);
  if (spec === 'bm25') return bm25Retriever(data);
  if (spec.startsWith('model:')) return recommenderRetriever(await loadRecommender(spec.slice(6)), data.config.maxHistory);
  throw new Error(`llmrank: unknown retriever ${JSON.stringify(spec)} (expected pop, bm25 or model:DIR)`);
}

/** Runs LLMRank and writes report.json / report.md into `o.out`. */
export async function llmrankMain(o: LlmRankCommandOptions): Promise<{ dir: string; report: LlmRankReport }> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  if (o.style !== undefined && !PROMPT_STYLES.includes(o.style)) throw new Error(`llmrank: unknown style ${JSON.stringify(o.style)} (expected ${PROMPT_STYLES.join(', ')})`);
  if (o.mode !== undefined && o.mode !== 'generate' && o.mode !== 'score') throw new Error(`llmrank: unknown mode ${JSON.stringify(o.mode)} (expected generate or score)`);
  await initEngine();
  const data = await loadSplit(o.data);
  log(`data ${data.name}: ${data.numUsers} users, ${data.numItems} items`);
  const retriever = await makeRetriever(o.retriever ?? 'bm25', data);
  const baselines = await Promise.all((o.baselines ?? []).map((b) => makeRetriever(b, data)));
  const backend = await createBackend(parseBackendSpec(o.backend, {
    ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  }));
  try {
    const movies = /^ml-|movielens/i.test(data.name);
    const report = await runLlmRank({
      backend, data, retriever, baselines,
      users: o.users, candidates: o.candidates, historyLength: o.historyLength, style: o.style, mode: o.mode,
      bootstrap: o.bootstrap, maxTokens: o.maxTokens, titleChars: o.titleChars, seed: o.seed, words: movies ? MOVIE_WORDS : DEFAULT_WORDS,
      onUser: (d, n) => { if (d % 10 === 0 || d === n) log(`users ${d}/${n}`); },
    });
    const dir = resolve(o.out);
    writeFileAtomic(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileAtomic(join(dir, 'report.md'), renderLlmRankReport(report));
    return { dir, report };
  } finally {
    await backend.dispose();
  }
}

const int = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`llmrank: --${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
};

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' }, backend: { type: 'string' }, retriever: { type: 'string' }, baseline: { type: 'string', multiple: true },
      out: { type: 'string' }, users: { type: 'string' }, candidates: { type: 'string' }, history: { type: 'string' },
      style: { type: 'string' }, mode: { type: 'string' }, bootstrap: { type: 'string' }, 'max-tokens': { type: 'string' }, 'title-chars': { type: 'string' },
      seed: { type: 'string' }, cache: { type: 'string' }, concurrency: { type: 'string' }, timeout: { type: 'string' },
    },
  });
  if (!values.data || !values.backend || !values.out) {
    process.stderr.write('usage: main.js --data NAME|PATH --backend local:DIR|gguf:FILE|openai:MODEL[@URL] --out DIR [--retriever pop|bm25|model:DIR] [--baseline ...] ' +
      '[--users N] [--candidates N] [--history N] [--style sequential|recency|in-context] [--mode generate|score] [--bootstrap N] [--max-tokens N] [--title-chars N] [--seed N] [--cache DIR] [--concurrency N] [--timeout MS]\n');
    process.exit(2);
  }
  llmrankMain({
    data: values.data, backend: values.backend, out: values.out, retriever: values.retriever, baselines: values.baseline,
    users: int('users', values.users), candidates: int('candidates', values.candidates), historyLength: int('history', values.history),
    style: values.style as PromptStyle | undefined, mode: values.mode as 'generate' | 'score' | undefined, bootstrap: int('bootstrap', values.bootstrap),
    maxTokens: int('max-tokens', values['max-tokens']), titleChars: int('title-chars', values['title-chars']), seed: int('seed', values.seed), cacheDir: values.cache,
    concurrency: int('concurrency', values.concurrency), timeoutMs: int('timeout', values.timeout),
  }).then(({ dir, report }) => {
    process.stdout.write(renderLlmRankReport(report) + `\nwritten to ${dir}\n`);
  }, (e: Error) => {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(1);
  });
}
