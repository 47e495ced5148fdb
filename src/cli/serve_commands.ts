/**
 * `llmrec serve` (the recommendation server, docs/SERVING.md) and
 * `llmrec llmrank` (zero-shot LLM ranking on any backend, docs/LLM-BACKENDS.md).
 * Thin: flags -> the options of the layer below -> run.
 */
import type { Command } from 'commander';
import { serveCommand, UsageError } from '../serve/main.js';
import { llmrankMain } from '../methods/llmrank/main.js';
import { renderLlmRankReport } from '../methods/llmrank/rank.js';
import { PROMPT_STYLES, type PromptStyle } from '../methods/llmrank/prompts.js';
import { int } from './experiment_commands.js';
import { type DataFlags, addDataOptions, dataSection } from './data_flags.js';
import { resolveRunConfig } from '../config/run.js';

function choice<T extends string>(flag: string, allowed: readonly T[]): (v: string) => T {
  return (v: string) => {
    if (!(allowed as readonly string[]).includes(v)) throw new Error(`${flag}: expected one of ${allowed.join(', ')}, got '${v}'`);
    return v as T;
  };
}

export function addServeCommands(program: Command): void {
  program
    .command('serve')
    .description('serve a run directory: recommendation API, OpenAI-compatible LM endpoints (--lm), Prometheus metrics, OpenAPI and the web demo at / (docs/SERVING.md)')
    .usage('--run RUN_DIR [--lm DIR] [--port 8080] [--host 127.0.0.1] [--token T] [--body-limit BYTES] [--timeout MS] [--max-queue N]')
    // One option parser (src/serve/main.ts, shared with `node dist/serve/main.js`): the flags pass through.
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[options...]')
    .action(async (args: string[]) => {
      try {
        await serveCommand(args);
      } catch (e) {
        if (e instanceof UsageError) {
          console.error(e.message);
          process.exit(2);
        }
        throw e;
      }
    });

  addDataOptions(program
    .command('llmrank')
    .description('LLMRank-style zero-shot ranking with any LLM backend (local:DIR, gguf:FILE, openai:MODEL[@URL]) beside the retriever, Pop and Random on the same users and candidates (docs/LLM-BACKENDS.md)'), { required: true })
    .requiredOption('--backend <spec>', 'local:DIR | gguf:FILE | openai:MODEL[@URL]')
    .requiredOption('--out <dir>', 'output directory (report.json, report.md)')
    .option('--retriever <spec>', "candidates from 'pop', 'bm25' or 'model:DIR' (a saved collaborative model)")
    .option('--baseline <spec...>', 'extra rankers of the same candidates (same syntax as --retriever)')
    .option('--users <n>', 'test users', int)
    .option('--candidates <n>', 'candidates per user (default 20)', int)
    .option('--history <n>', 'history items in the prompt', int)
    .option('--style <style>', `prompt style: ${PROMPT_STYLES.join(', ')}`, choice('--style', PROMPT_STYLES))
    .option('--mode <mode>', "'generate' (the LLM writes a ranking, parsed) or 'score' (log-probs of the titles)", choice('--mode', ['generate', 'score'] as const))
    .option('--bootstrap <n>', 'candidate orders merged by Borda count', int)
    .option('--max-tokens <n>', 'generation budget', int)
    .option('--title-chars <n>', 'titles cut to this many characters', int)
    .option('--seed <n>', 'seed', int)
    .option('--cache <dir>', 'on-disk response cache of an openai backend')
    .option('--concurrency <n>', 'requests in flight of an openai backend', int)
    .option('--timeout <ms>', 'request timeout of an openai backend', int)
    .action(async (f: DataFlags & {
      data: string; backend: string; out: string; retriever?: string; baseline?: string[]; users?: number; candidates?: number; history?: number;
      style?: PromptStyle; mode?: 'generate' | 'score'; bootstrap?: number; maxTokens?: number; titleChars?: number; seed?: number;
      cache?: string; concurrency?: number; timeout?: number;
    }) => {
      // The data flags validated as the data section of a run configuration (docs/DATA.md).
      const data = resolveRunConfig(undefined, { data: dataSection(f) }).data;
      const { dir, report } = await llmrankMain({
        data, backend: f.backend, out: f.out, retriever: f.retriever, baselines: f.baseline, users: f.users, candidates: f.candidates,
        historyLength: f.history, style: f.style, mode: f.mode, bootstrap: f.bootstrap, maxTokens: f.maxTokens, titleChars: f.titleChars,
        seed: f.seed, cacheDir: f.cache, concurrency: f.concurrency, timeoutMs: f.timeout,
      });
      process.stdout.write(renderLlmRankReport(report) + `\nwritten to ${dir}\n`);
    });
}
