/**
 * `llmrec first-run` (`npm run main`, docs/FIRST-RUN.md): the five-minute first
 * run on the embedded shop. Two configured steps, each an existing command:
 *   1. `llmrec benchmark -c configs/first-run-benchmark.json` (Random, Pop and
 *      the collaborative models; fixed run directory from the config's
 *      output.name),
 *   2. `llmrec run ganprompt -c configs/first-run-ganprompt.json --collab-dir
 *      <benchmark>/models/<collab> --baselines <benchmark>/models/<b>...`
 *      (TALLRec, CoLLM, GANPrompt at small settings),
 * then prints the `llmrec serve` command for what they trained (the benchmark's
 * models and the method run's LLM recipes).
 * Both steps resume (run layer, docs/DESIGN.md): a second call keeps what is
 * finished and fails clearly when a config changed under an existing directory.
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { resolveRunConfig } from '../config/run.js';
import { runExperiment, runName } from '../experiment/run.js';
import { interruptSignal } from './experiment_commands.js';
import { runMethod, yesNoFlags, type YesNoFlags } from './run_commands.js';

interface FirstRunFlags {
  benchmarkConfig: string;
  ganpromptConfig: string;
  collab: string;
  baselines: string[];
  out: string;
}

async function firstRun(f: FirstRunFlags): Promise<void> {
  // Step 1: the benchmark (Random and Pop always, as `llmrec benchmark` does).
  const cfg = resolveRunConfig(f.benchmarkConfig, {});
  if (!cfg.output.name) throw new Error(`${f.benchmarkConfig}: field 'output.name' is required here (a fixed run directory the serve command can name)`);
  const labels = cfg.models.map((m) => (typeof m === 'string' ? m : (m.label ?? m.name)));
  for (const b of ['pop', 'random']) if (!labels.includes(b)) cfg.models.unshift(b);
  for (const l of [f.collab, ...f.baselines]) {
    if (!labels.includes(l)) throw new Error(`${f.benchmarkConfig}: no model labelled '${l}' (models: ${labels.join(', ')})`);
  }
  const benchDir = join(cfg.output.runsDir, runName(cfg));
  const resume = existsSync(join(benchDir, 'metrics.json'));
  console.log(`step 1/2: llmrec benchmark -c ${f.benchmarkConfig}${resume ? ` (resuming ${benchDir})` : ''}`);
  const signal = interruptSignal();
  const bench = await runExperiment(cfg, { signal, log: (l) => console.log(l) }, resume ? benchDir : undefined);
  if (bench.interrupted) {
    console.log('interrupted: run the same command again to continue');
    process.exitCode = 130;
    return;
  }
  console.log(`benchmark results in ${join(benchDir, 'results.md')}`);

  // Step 2: the yes/no LLM recommenders on the benchmark's saved models.
  const models = join(benchDir, 'models');
  const flags: YesNoFlags = { config: f.ganpromptConfig, out: f.out, resume: true, collabDir: join(models, f.collab), baselines: f.baselines.map((b) => join(models, b)) };
  console.log(`step 2/2: llmrec run ganprompt -c ${f.ganpromptConfig} --out ${f.out} --collab-dir ${flags.collabDir}${flags.baselines?.length ? ` --baselines ${flags.baselines.join(' ')}` : ''} --resume`);
  await runMethod('ganprompt', flags, yesNoFlags(flags));
  if (process.exitCode) return;

  const rel = (p: string) => relative(process.cwd(), p) || '.';
  console.log('');
  // The benchmark run (data, collaborative models) and the method run (its LLM recipes, for /v1/rerank);
  // --lm adds the method run's LM for the OpenAI-compatible endpoints (docs/SERVING.md, "LLM recipes").
  const args = `serve --run ${rel(bench.dir)} --run ${rel(f.out)} --lm ${rel(join(f.out, 'lm'))}`;
  console.log(`serve what this run trained: llmrec ${args}`);
  console.log(`  (from this checkout: node dist/cli/main.js ${args})`);
}

export function addFirstRunCommand(program: Command): void {
  program.command('first-run')
    .description('the first run (npm run main): collaborative models, then TALLRec, CoLLM and GANPrompt at small settings on the embedded shop; prints the serve command')
    .option('--benchmark-config <file>', 'benchmark config (output.name required)', 'configs/first-run-benchmark.json')
    .option('--ganprompt-config <file>', 'run ganprompt config', 'configs/first-run-ganprompt.json')
    .option('--collab <label>', "the benchmark's model used as GANPrompt's collaborative model", 'sasrec')
    .option('--baselines <labels...>', "the benchmark's models evaluated beside the LLMs", ['bprmf'])
    .option('--out <dir>', 'the ganprompt run directory', 'runs/first-run-ganprompt')
    .action(firstRun);
}
