/**
 * LLMRank as a command: `llmrankMain(options)` loads the data (the default
 * protocol of src/data/types.ts), opens the backend from a spec string
 * (src/backends/index.ts: local:PATH, gguf:FILE, openai:MODEL@URL), builds
 * the retriever, runs `runLlmRank` and writes `report.json` and `report.md`
 * (atomically) into `out`. The command `llmrec llmrank` (src/cli/serve_commands.ts):
 *
 *   llmrec llmrank --data ml-100k --backend local:runs/lm-ml100k --out runs/llmrank-ml100k
 *
 * (see docs/LLM-BACKENDS.md for every option).
 */
import { join, resolve } from 'node:path';
import { createBackend, parseBackendSpec } from '../../backends/index.js';
import { type DataSection, loadDataSection } from '../../data/loaders/section.js';
import { applyProtocol } from '../../data/protocol.js';
import { DEFAULT_PROTOCOL, type SplitDataset } from '../../data/types.js';
import { initEngine } from '../../engine/index.js';
import { loadRecommender } from '../../models/registry.js';
import { writeFileAtomic } from '../../util/fs.js';
import { type LlmRankReport, renderLlmRankReport, runLlmRank } from './rank.js';
import { DEFAULT_WORDS, MOVIE_WORDS, PROMPT_STYLES, type PromptStyle } from './prompts.js';
import { bm25Retriever, popRetriever, recommenderRetriever, type Retriever } from './retrieve.js';

export interface LlmRankCommandOptions {
  /** Dataset name or path (`loadDataset`), or 'synthetic-shop'; or a whole data section (columns, item file, ..., docs/DATA.md). */
  data: string | DataSection;
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

async function loadSplit(data: string | DataSection): Promise<SplitDataset> {
  const raw = await loadDataSection(typeof data === 'string' ? { name: data } : data);
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
