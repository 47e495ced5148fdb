/**
 * `llmrec run <method>`: flags -> configuration (src/config/method.ts: built-in
 * defaults < method defaults < config file < flags) -> the method's registry
 * entry (src/methods/registry.ts) -> its run, with Ctrl-C, progress lines and
 * the report or the resume hint at the end.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { initEngine } from '../engine/index.js';
import { loadConfiguredData, prepareSplit } from '../experiment/run.js';
import { given, ratingThresholdFlag } from '../config/layers.js';
import { resolveMethodConfig, type MethodFlags } from '../config/method.js';
import { RECIPES } from '../config/ganprompt.js';
import { VARIANTS } from '../config/recsysllm.js';
import { checkUntil, safeName, type StageHooks } from '../run/index.js';
import { methodEntry } from '../methods/registry.js';
import { FAMILIES } from '../methods/recsysllm/tasks.js';
import { int, interruptSignal } from './experiment_commands.js';
import { type DataFlags, addDataOptions, dataSection } from './data_flags.js';

/** Flags every `run <method>` takes. */
export interface CommonRunFlags extends DataFlags {
  config?: string;
  out?: string;
  resume?: boolean;
  evalUsers?: number;
  ratingThreshold?: string;
  kCore?: number;
  seed?: number;
  /** Stop after this stage (a staged method's; the run resumes from the next one). */
  until?: string;
}

export interface YesNoFlags extends CommonRunFlags {
  lm?: string;
  collab?: string;
  collabDir?: string;
  baselines?: string[];
  trainUsers?: number;
  recipes?: string[];
}

interface RecSysFlags extends CommonRunFlags {
  pretrainSteps?: number;
  finetuneSteps?: number;
  variants?: string[];
  families?: string[];
  baselines?: string[];
  baselineDirs?: string[];
}

/** The data/protocol part of the flags (the same for every method). */
function runPart(f: CommonRunFlags): Record<string, unknown> {
  return { data: dataSection(f), protocol: given({ ratingThreshold: ratingThresholdFlag(f.ratingThreshold), kCore: f.kCore, seed: f.seed }) };
}

export function yesNoFlags(f: YesNoFlags): MethodFlags {
  return {
    run: runPart(f),
    options: {
      seed: f.seed,
      lm: given({ dir: f.lm }),
      collab: given({ model: f.collab, dir: f.collabDir }),
      baselines: f.baselines,
      eval: given({ users: f.evalUsers }),
      loraStage: given({ users: f.trainUsers }),
      mappingStage: given({ users: f.trainUsers }),
      recipes: f.recipes,
    },
  };
}

function recSysFlags(f: RecSysFlags): MethodFlags {
  return {
    run: runPart(f),
    options: {
      seed: f.seed,
      eval: given({ users: f.evalUsers }),
      pretrain: given({ steps: f.pretrainSteps }),
      finetune: given({ steps: f.finetuneSteps }),
      variants: f.variants,
      families: f.families,
      baselines: given({ models: f.baselines, dirs: f.baselineDirs }),
    },
  };
}

/** Resolves the configuration, loads the data and runs the method's registry entry in its run directory. */
export async function runMethod(name: string, f: CommonRunFlags, flags: MethodFlags): Promise<void> {
  const entry = methodEntry(name);
  if (f.until !== undefined) {
    if (!entry.stages) throw new Error(`--until: 'llmrec run ${name}' is not a staged run`);
    checkUntil(entry.stages, f.until);
  }
  // Validated before the (long) data load; errors name the file and field.
  const { run: cfg, options } = resolveMethodConfig(entry.config, f.config, flags);
  await initEngine();
  const raw = await loadConfiguredData(cfg);
  const data = prepareSplit(raw, cfg);
  const out = f.out ?? join(cfg.output.runsDir, `${name}-${safeName(data.name)}`);
  console.log(`run directory ${out}`);
  const t0 = performance.now();
  let last = 0;
  const hooks: StageHooks = {
    until: f.until,
    signal: interruptSignal(),
    log: (s) => console.log(s),
    progress: (what, done, total) => {
      if (performance.now() - last > 30000 || done === total) {
        last = performance.now();
        console.log(`  [${what}] ${done}/${total}`);
      }
    },
  };
  const result = await entry.run({ raw, data }, options, out, hooks, f.resume === true);
  if (result.stoppedAfter !== undefined) {
    console.log(`stopped after stage '${result.stoppedAfter}' (--until); report so far in ${join(out, 'report.md')}; continue with: llmrec run ${name} --resume --out ${out} (same options)`);
    return;
  }
  if (result.interrupted) {
    console.log(`interrupted; continue with: llmrec run ${name} --resume --out ${out} (same options)`);
    process.exitCode = 130;
    return;
  }
  console.log(result.markdown);
  console.log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s; report in ${join(out, 'report.md')}`);
}

function commonOptions(cmd: Command, name: string, evalUsersDefault: number): Command {
  return addDataOptions(cmd, { dataHelp: "dataset: a name, a path (folder, or a CSV/TSV/TXT/JSONL/Parquet file), default the embedded 'synthetic-shop'" })
    .option('-c, --config <file>', `JSON file: { data?, protocol?, ${name}? } (${name} options, see docs); flags override it`)
    .option('--out <dir>', `run directory (default runs/${name}-<dataset>)`)
    .option('--resume', 'continue the run in --out (finished stages are skipped)')
    .option('--eval-users <n>', `test users evaluated (seeded sample; default ${evalUsersDefault})`, int)
    .option('--until <stage>', `stop after this stage, its outputs written; --resume goes on from the next (${methodEntry(name).stages?.join(', ')})`);
}

function protocolOptions(cmd: Command, thresholdHelp: string): Command {
  return cmd
    .option('--rating-threshold <r>', thresholdHelp)
    .option('--k-core <k>', 'k-core filter (default 5)', int)
    .option('--seed <n>', 'seed (default 2024)', int);
}

/** `run ganprompt`, `run tallrec`, `run collm`: the yes/no LLM pipeline with one method's recipes. */
function addYesNoCommand(run: Command, name: 'ganprompt' | 'tallrec' | 'collm'): void {
  const cmd = commonOptions(run.command(name).description(methodEntry(name).description), name, 1000)
    .option('--lm <dir>', 'a pretrained causal LM folder (default: train the small LM on the data)')
    .option('--collab <model>', 'collaborative model to train (default sasrec)')
    .option('--collab-dir <dir>', 'a saved collaborative model folder instead of training one')
    .option('--baselines <dirs...>', 'saved baseline model folders to evaluate on the same users')
    .option('--train-users <n>', 'validation users whose questions train the LoRA and mapping steps (default 3000)', int);
  if (name === 'ganprompt') cmd.option('--recipes <names...>', `which models to build (default all: ${RECIPES.join(' ')})`);
  protocolOptions(cmd, "keep ratings > r ('none' keeps all; default 3)")
    .action((f: YesNoFlags) => runMethod(name, f, yesNoFlags(f)));
}

export function addRunCommands(program: Command): void {
  const run = program.command('run').description('run a method end to end (staged, checkpointed, resumable)');
  addYesNoCommand(run, 'ganprompt');
  addYesNoCommand(run, 'tallrec');
  addYesNoCommand(run, 'collm');
  const rec = commonOptions(run.command('recsysllm').description(methodEntry('recsysllm').description), 'recsysllm', 500)
    .option('--pretrain-steps <n>', 'pre-training steps (default 3000)', int)
    .option('--finetune-steps <n>', 'multi-task fine-tuning steps (default 3000)', int)
    .option('--variants <names...>', `models to build (default: ${VARIANTS.join(' ')})`)
    .option('--families <names...>', `task families (default: every one the data supports: ${FAMILIES.join(' ')})`)
    .option('--baselines <models...>', 'collaborative models trained as baselines (Random and Pop always; default sasrec)')
    .option('--baseline-dirs <dirs...>', 'saved baseline model folders evaluated on the same users');
  protocolOptions(rec, "keep ratings > r ('none' keeps all, the default: P5 uses every review)")
    .action((f: RecSysFlags) => runMethod('recsysllm', f, recSysFlags(f)));
}
