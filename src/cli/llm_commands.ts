/**
 * The bring-your-own-LLM commands (docs/LLM.md): `llmrec run llmrank`
 * (and the alias `llmrec llmrank`), `llmrec run bigrec` and `llmrec chat`.
 * Thin: flags -> the method's configuration (src/config: defaults < method
 * defaults < config file < flags) -> its registry entry (run_commands.ts).
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { createBackend, parseBackendSpec } from '../backends/index.js';
import { initEngine } from '../engine/index.js';
import { ChatRec, renderTurn, type Session } from '../methods/chatrec/index.js';
import { DEFAULT_WORDS, MOVIE_WORDS } from '../methods/llmrank/prompts.js';
import { disposeRun, loadRun } from '../serve/run.js';
import { given } from '../config/layers.js';
import { backendExtra, BackendOptionsSchema, LLMRANK_STYLES } from '../config/llmrank.js';
import { parseWith } from '../util/validate.js';
import type { MethodFlags } from '../config/method.js';
import { methodEntry } from '../methods/registry.js';
import { int } from './experiment_commands.js';
import { type CommonRunFlags, runMethod } from './run_commands.js';
import { addDataOptions, dataSection } from './data_flags.js';

function choice<T extends string>(flag: string, allowed: readonly T[]): (v: string) => T {
  return (v: string) => {
    if (!(allowed as readonly string[]).includes(v)) throw new Error(`${flag}: expected one of ${allowed.join(', ')}, got '${v}'`);
    return v as T;
  };
}

/** Backend flags every LLM command takes. */
interface BackendFlags {
  backend?: string;
  cache?: string;
  concurrency?: number;
  timeout?: number;
  api?: string;
  echoLogprobs?: boolean;
  context?: number;
}

function backendOptions(cmd: Command): Command {
  return cmd
    .option('--backend <spec>', 'local:DIR | gguf:FILE | openai:MODEL[@URL] (docs/LLM.md)')
    .option('--cache <dir>', 'on-disk response cache of an openai backend')
    .option('--concurrency <n>', 'requests in flight of an openai backend', int)
    .option('--timeout <ms>', 'request timeout of an openai backend', int)
    .option('--api <api>', "openai backend: 'chat' (default) or 'completions' (no chat template)", choice('--api', ['chat', 'completions'] as const))
    .option('--no-echo-logprobs', 'openai backend: the server cannot return prompt log-probs (Ollama, llama.cpp server, llmrec serve)')
    .option('--context <n>', 'openai backend: context length of the served model', int);
}

function backendPart(f: BackendFlags): Record<string, unknown> | undefined {
  return given({
    spec: f.backend, cacheDir: f.cache, concurrency: f.concurrency, timeoutMs: f.timeout, api: f.api,
    echoLogprobs: f.echoLogprobs === false ? false : undefined, contextLength: f.context,
  });
}

function dataOptions(cmd: Command, name: string): Command {
  return addDataOptions(cmd, { dataHelp: "dataset: a name, a path (folder, or a CSV/TSV/TXT/JSONL/Parquet file), default the embedded 'synthetic-shop'" })
    .option('-c, --config <file>', `JSON file: { data?, protocol?, ${name}? }; flags override it`)
    .option('--out <dir>', `run directory (default runs/${name}-<dataset>)`)
    .option('--resume', 'continue the run in --out')
    .option('--k-core <k>', 'k-core filter (default 5)', int)
    .option('--seed <n>', 'seed (default 2024)', int);
}

interface LlmRankFlags extends CommonRunFlags, BackendFlags {
  retriever?: string;
  baseline?: string[];
  users?: number;
  candidates?: number;
  history?: number;
  style?: string;
  mode?: string;
  bootstrap?: number;
  maxTokens?: number;
  titleChars?: number;
  onError?: string;
}

function llmRankFlags(f: LlmRankFlags): MethodFlags {
  return {
    run: { data: dataSection(f), protocol: given({ kCore: f.kCore, seed: f.seed }) },
    options: {
      backend: backendPart(f), retriever: f.retriever, baselines: f.baseline, users: f.users, candidates: f.candidates, historyLength: f.history,
      style: f.style, mode: f.mode, bootstrap: f.bootstrap, maxTokens: f.maxTokens, titleChars: f.titleChars, onBackendError: f.onError, seed: f.seed,
    },
  };
}

function llmRankCommand(cmd: Command): Command {
  return backendOptions(dataOptions(cmd, 'llmrank'))
    .option('--retriever <spec>', "candidates from 'pop', 'bm25' (default) or 'model:DIR' (a saved collaborative model)")
    .option('--baseline <spec...>', 'extra rankers of the same candidates (same syntax as --retriever)')
    .option('--users <n>', 'test users (default 200)', int)
    .option('--candidates <n>', 'candidates per user (default 20)', int)
    .option('--history <n>', 'history items in the prompt (default 10)', int)
    .option('--style <style>', `prompt style: ${LLMRANK_STYLES.join(', ')}`, choice('--style', LLMRANK_STYLES))
    .option('--mode <mode>', "'generate' (the LLM writes a ranking, parsed) or 'score' (log-probs of the titles)", choice('--mode', ['generate', 'score'] as const))
    .option('--bootstrap <n>', 'candidate orders merged by Borda count (default 3; 1 = none)', int)
    .option('--max-tokens <n>', 'generation budget', int)
    .option('--title-chars <n>', 'titles cut to this many characters (default 60)', int)
    .option('--on-error <what>', "backend failure: 'fail' (default) or 'fallback' (the retriever's order, counted)", choice('--on-error', ['fail', 'fallback'] as const))
    .action((f: LlmRankFlags) => runMethod('llmrank', f, llmRankFlags(f)));
}

interface BigRecFlags extends CommonRunFlags {
  lm?: string;
  steps?: number;
  examples?: number;
  method?: string;
  collab?: string;
  collabDir?: string;
  trie?: boolean;
  beams?: number;
  tuneUsers?: number;
}

function bigRecFlags(f: BigRecFlags): MethodFlags {
  return {
    run: { data: dataSection(f), protocol: given({ kCore: f.kCore, seed: f.seed }) },
    options: {
      seed: f.seed, lm: given({ dir: f.lm }), finetune: given({ steps: f.steps, examples: f.examples, method: f.method }),
      collab: given({ model: f.collab, dir: f.collabDir }), trie: given({ enabled: f.trie === false ? false : undefined, beams: f.beams }),
      grounding: given({ tuneUsers: f.tuneUsers }), eval: given({ users: f.evalUsers }),
    },
  };
}

export function addLlmCommands(program: Command): void {
  const run = program.commands.find((c) => c.name() === 'run');
  if (!run) throw new Error('addLlmCommands: register the run commands first (addRunCommands)');
  llmRankCommand(run.command('llmrank').description(methodEntry('llmrank').description));
  dataOptions(run.command('bigrec').description(methodEntry('bigrec').description), 'bigrec')
    .option('--lm <dir>', 'a causal LM folder to fine-tune (default: train the small LM on the data)')
    .option('--steps <n>', 'fine-tuning steps (default 300; 0 = no fine-tuning)', int)
    .option('--examples <n>', 'fine-tuning examples (default 20000)', int)
    .option('--method <m>', "'full' (default) or 'lora'", choice('--method', ['full', 'lora'] as const))
    .option('--collab <model>', 'collaborative model trained for the re-weighting (default sasrec)')
    .option('--collab-dir <dir>', 'a saved collaborative model folder instead')
    .option('--no-trie', 'skip trie-constrained decoding')
    .option('--beams <n>', 'trie beams (default 20)', int)
    .option('--tune-users <n>', 'validation users the gammas are picked on (default 100)', int)
    .option('--eval-users <n>', 'test users (default 200)', int)
    .action((f: BigRecFlags) => runMethod('bigrec', f, bigRecFlags(f)));
  program.command('chat')
    .description('Chat-Rec in the terminal: the LLM calls the run\'s recommender as a tool, re-ranks its top-k and explains (docs/LLM.md)')
    .requiredOption('--run <dir>', 'a benchmark run directory (config.json + models/)')
    .requiredOption('--backend <spec>', 'local:DIR | gguf:FILE | openai:MODEL[@URL]')
    .option('--model <label>', 'the saved model used as the tool (default: the first that scores a history)')
    .option('--user <id>', 'the user of the conversation (an external user id of the run\'s data)')
    .option('--k <n>', 'items the tool returns by default (default 10)', int)
    .option('--message <text...>', 'non-interactive: these messages, one turn each (also: lines on stdin when it is not a terminal)')
    .option('--json', 'print each turn as JSON')
    .option('--cache <dir>', 'on-disk response cache of an openai backend')
    .option('--timeout <ms>', 'request timeout of an openai backend', int)
    .option('--api <api>', "openai backend: 'chat' (default) or 'completions' (no chat template)", choice('--api', ['chat', 'completions'] as const))
    .option('--no-echo-logprobs', 'openai backend: the server cannot return prompt log-probs (Ollama, llama.cpp server, llmrec serve)')
    .action(async (f: { run: string; backend: string; model?: string; user?: string; k?: number; message?: string[]; json?: boolean } & BackendFlags) => {
      await initEngine();
      const run = await loadRun(f.run, (l) => console.error(l));
      const backend = await createBackend(parseBackendSpec(f.backend, backendExtra(parseWith(BackendOptionsSchema, backendPart(f), 'invalid backend options', 'command line'))));
      try {
        const m = f.model !== undefined ? run.models.find((x) => x.label === f.model) : run.models.find((x) => x.history) ?? run.models[0];
        if (!m) throw new Error(`chat: no model '${f.model}' in ${run.dir}/models (found: ${run.models.map((x) => x.label).join(', ')})`);
        if (f.user !== undefined && !run.userIndex.has(f.user)) throw new Error(`chat: unknown user '${f.user}' in ${run.data.name}`);
        const chat = new ChatRec({
          backend, k: f.k, words: /^ml-|movielens/i.test(run.data.name) ? MOVIE_WORDS : DEFAULT_WORDS,
          tool: { data: run.data, label: m.label, L: m.L, scoreAll: (b) => m.model.scoreAll(b) },
        });
        const session: Session = f.user !== undefined ? { user: f.user } : {};
        const say = async (msg: string) => {
          const t = await chat.turn(msg, session);
          process.stdout.write((f.json ? JSON.stringify(t) : renderTurn(t)) + '\n');
        };
        if (f.message?.length) {
          for (const msg of f.message) await say(msg);
        } else {
          const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
          if (process.stdin.isTTY) console.log(`Chat-Rec with ${backend.name} and ${m.label} on ${run.data.name}; an empty line or Ctrl-D ends.`);
          if (process.stdin.isTTY) { rl.setPrompt('> '); rl.prompt(); }
          for await (const line of rl) {
            if (line.trim() === '') { if (process.stdin.isTTY) break; continue; }
            await say(line.trim());
            if (process.stdin.isTTY) rl.prompt();
          }
          rl.close();
        }
        console.error(`turns ${chat.counts.turns}; tool-call fallbacks ${chat.counts.toolCallFallbacks} ${JSON.stringify(chat.counts.byProblem)}; re-rank fallbacks ${chat.counts.rerankFallbacks}; explanation failures ${chat.counts.explainFailures}`);
      } finally {
        await backend.dispose();
        disposeRun(run);
      }
    });
  // The alias of issue 17's first version: the same command and flags.
  llmRankCommand(program.command('llmrank').description('alias of `llmrec run llmrank` (docs/LLM.md)'));
}
