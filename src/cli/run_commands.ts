/**
 * `llmrec run ganprompt`: the GANPrompt study end to end (see
 * src/methods/ganprompt/pipeline.ts) on the embedded dataset or real data.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { initEngine } from '../engine/index.js';
import { loadConfiguredData, prepareSplit } from '../experiment/run.js';
import { readConfigFile, resolveRunConfig } from './config.js';
import { int, interruptSignal } from './experiment_commands.js';
import { parseGanPromptOptions, RECIPES, renderGanPromptReport, runGanPrompt } from '../methods/ganprompt/pipeline.js';
import { parseRecSysOptions, renderRecSysReport, runRecSysLLM, VARIANTS } from '../methods/recsysllm/pipeline.js';
import { FAMILIES } from '../methods/recsysllm/tasks.js';

interface RecSysFlags {
  data: string;
  config?: string;
  out?: string;
  resume?: boolean;
  evalUsers?: number;
  pretrainSteps?: number;
  finetuneSteps?: number;
  variants?: string[];
  families?: string[];
  baselines?: string[];
  baselineDirs?: string[];
  ratingThreshold?: string;
  kCore?: number;
  seed?: number;
}

interface GanPromptFlags {
  data: string;
  config?: string;
  out?: string;
  resume?: boolean;
  lm?: string;
  collab?: string;
  collabDir?: string;
  baselines?: string[];
  evalUsers?: number;
  trainUsers?: number;
  recipes?: string[];
  ratingThreshold?: string;
  kCore?: number;
  seed?: number;
}

interface PipelineCliHooks {
  signal: AbortSignal;
  log: (s: string) => void;
  progress: (what: string, done: number, total: number) => void;
}

/** Runs a staged pipeline with Ctrl-C, a progress line at most every 30 s, and the report or the resume hint at the end. */
async function runPipeline<R extends { interrupted: boolean }>(name: string, out: string, resume: boolean, run: (hooks: PipelineCliHooks, resume: boolean) => Promise<R>, render: (r: R) => string): Promise<void> {
  const t0 = performance.now();
  let last = 0;
  const report = await run({
    signal: interruptSignal(),
    log: (s) => console.log(s),
    progress: (what, done, total) => {
      if (performance.now() - last > 30000 || done === total) {
        last = performance.now();
        console.log(`  [${what}] ${done}/${total}`);
      }
    },
  }, resume);
  if (report.interrupted) {
    console.log(`interrupted; continue with: llmrec run ${name} --resume --out ${out} (same options)`);
    process.exitCode = 130;
    return;
  }
  console.log(render(report));
  console.log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s; report in ${join(out, 'report.md')}`);
}

export function addRunCommands(program: Command): void {
  const run = program.command('run').description('run a method end to end (staged, checkpointed, resumable)');
  run.command('ganprompt')
    .description('GANPrompt with TALLRec, CoLLM, the ablations and the prompt-robustness evaluation')
    .option('--data <name|path>', "dataset (default: the embedded 'synthetic-shop')", 'synthetic-shop')
    .option('-c, --config <file>', 'JSON file: { data?, protocol?, ganprompt? } (pipeline options, see docs)')
    .option('--out <dir>', 'run directory (default runs/ganprompt-<dataset>)')
    .option('--resume', 'continue the run in --out (finished stages are skipped)')
    .option('--lm <dir>', 'a pretrained causal LM folder (default: train the small LM on the data)')
    .option('--collab <model>', 'collaborative model to train (default sasrec)')
    .option('--collab-dir <dir>', 'a saved collaborative model folder instead of training one')
    .option('--baselines <dirs...>', 'saved baseline model folders to evaluate on the same users')
    .option('--eval-users <n>', 'test users evaluated (seeded sample; default 1000)', int)
    .option('--train-users <n>', 'validation users whose questions train the LoRA and mapping steps (default 3000)', int)
    .option('--recipes <names...>', `which models to build (default all: ${RECIPES.join(' ')})`)
    .option('--rating-threshold <r>', "keep ratings > r ('none' keeps all; default 3)")
    .option('--k-core <k>', 'k-core filter (default 5)', int)
    .option('--seed <n>', 'seed (default 2024)', int)
    .action(async (f: GanPromptFlags) => {
      await initEngine();
      const file = f.config ? readConfigFile(f.config) : {};
      const { ganprompt: fileOpts = {}, ...runPart } = file as { ganprompt?: Record<string, unknown> } & Record<string, unknown>;
      const threshold = f.ratingThreshold === undefined ? undefined : f.ratingThreshold === 'none' ? null : Number(f.ratingThreshold);
      if (threshold !== undefined && threshold !== null && !Number.isFinite(threshold)) throw new Error(`--rating-threshold: '${f.ratingThreshold}' is not a number or 'none'`);
      const cfg = resolveRunConfig(undefined, {
        ...runPart,
        data: { ...(runPart.data as object | undefined), ...(f.config && f.data === 'synthetic-shop' ? {} : { name: f.data }) },
        protocol: { maxHistory: 10, numNegatives: 9, ...(runPart.protocol as object | undefined), ratingThreshold: threshold, kCore: f.kCore, seed: f.seed },
      });
      const opts: Record<string, unknown> = { ...fileOpts };
      if (f.seed !== undefined) opts.seed = f.seed;
      if (f.lm) opts.lm = { ...(opts.lm as object | undefined), dir: f.lm };
      if (f.collab || f.collabDir) opts.collab = { ...(opts.collab as object | undefined), ...(f.collab ? { model: f.collab } : {}), ...(f.collabDir ? { dir: f.collabDir } : {}) };
      if (f.baselines) opts.baselines = f.baselines;
      if (f.evalUsers) opts.eval = { ...(opts.eval as object | undefined), users: f.evalUsers };
      if (f.trainUsers) {
        opts.loraStage = { ...(opts.loraStage as object | undefined), users: f.trainUsers };
        opts.mappingStage = { ...(opts.mappingStage as object | undefined), users: f.trainUsers };
      }
      if (f.recipes) opts.recipes = f.recipes;
      // Validate before the (long) data load; errors name the file and field.
      parseGanPromptOptions(opts, f.config ? `${f.config} ("ganprompt" with the flags applied)` : 'ganprompt options');
      const raw = await loadConfiguredData(cfg);
      const data = prepareSplit(raw, cfg);
      const out = f.out ?? join(cfg.output.runsDir, `ganprompt-${data.name.replace(/[^A-Za-z0-9._-]+/g, '_')}`);
      console.log(`run directory ${out}`);
      await runPipeline('ganprompt', out, f.resume === true, (hooks, resume) => runGanPrompt(data, opts, out, hooks, resume), renderGanPromptReport);
    });

  run.command('recsysllm')
    .description('RecSysLLM: entity-aware pre-training, P5 multi-task fine-tuning, trie decoding; beside a plain GLM LM and collaborative baselines')
    .option('--data <name|path>', "dataset (default: the embedded 'synthetic-shop')", 'synthetic-shop')
    .option('-c, --config <file>', 'JSON file: { data?, protocol?, recsysllm? } (pipeline options, see docs)')
    .option('--out <dir>', 'run directory (default runs/recsysllm-<dataset>)')
    .option('--resume', 'continue the run in --out (finished stages are skipped)')
    .option('--eval-users <n>', 'test users evaluated (seeded sample; default 500)', int)
    .option('--pretrain-steps <n>', 'pre-training steps (default 3000)', int)
    .option('--finetune-steps <n>', 'multi-task fine-tuning steps (default 3000)', int)
    .option('--variants <names...>', `models to build (default: ${VARIANTS.join(' ')})`)
    .option('--families <names...>', `task families (default: every one the data supports: ${FAMILIES.join(' ')})`)
    .option('--baselines <models...>', 'collaborative models trained as baselines (Random and Pop always; default sasrec)')
    .option('--baseline-dirs <dirs...>', 'saved baseline model folders evaluated on the same users')
    .option('--rating-threshold <r>', "keep ratings > r ('none' keeps all, the default: P5 uses every review)")
    .option('--k-core <k>', 'k-core filter (default 5)', int)
    .option('--seed <n>', 'seed (default 2024)', int)
    .action(async (f: RecSysFlags) => {
      await initEngine();
      const file = f.config ? readConfigFile(f.config) : {};
      const { recsysllm: fileOpts = {}, ...runPart } = file as { recsysllm?: Record<string, unknown> } & Record<string, unknown>;
      const threshold = f.ratingThreshold === undefined || f.ratingThreshold === 'none' ? null : Number(f.ratingThreshold);
      if (threshold !== null && !Number.isFinite(threshold)) throw new Error(`--rating-threshold: '${f.ratingThreshold}' is not a number or 'none'`);
      const cfg = resolveRunConfig(undefined, {
        ...runPart,
        data: { ...(runPart.data as object | undefined), ...(f.config && f.data === 'synthetic-shop' ? {} : { name: f.data }) },
        protocol: { maxHistory: 20, numNegatives: 99, ratingThreshold: threshold, ...(runPart.protocol as object | undefined), ...(f.kCore !== undefined ? { kCore: f.kCore } : {}), ...(f.seed !== undefined ? { seed: f.seed } : {}) },
      });
      const opts: Record<string, unknown> = { ...fileOpts };
      if (f.seed !== undefined) opts.seed = f.seed;
      if (f.evalUsers) opts.eval = { ...(opts.eval as object | undefined), users: f.evalUsers };
      if (f.pretrainSteps) opts.pretrain = { ...(opts.pretrain as object | undefined), steps: f.pretrainSteps };
      if (f.finetuneSteps) opts.finetune = { ...(opts.finetune as object | undefined), steps: f.finetuneSteps };
      if (f.variants) opts.variants = f.variants;
      if (f.families) opts.families = f.families;
      if (f.baselines || f.baselineDirs) opts.baselines = { ...(opts.baselines as object | undefined), ...(f.baselines ? { models: f.baselines } : {}), ...(f.baselineDirs ? { dirs: f.baselineDirs } : {}) };
      parseRecSysOptions(opts, f.config ? `${f.config} ("recsysllm" with the flags applied)` : 'recsysllm options');
      const raw = await loadConfiguredData(cfg);
      const data = prepareSplit(raw, cfg);
      const out = f.out ?? join(cfg.output.runsDir, `recsysllm-${data.name.replace(/[^A-Za-z0-9._-]+/g, '_')}`);
      console.log(`run directory ${out}`);
      await runPipeline('recsysllm', out, f.resume === true, (hooks, resume) => runRecSysLLM(raw, data, opts, out, hooks, resume), renderRecSysReport);
    });
}
