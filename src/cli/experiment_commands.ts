/**
 * The experiment subcommands of the llmrec CLI:
 *   data stats   dataset statistics, raw and after the protocol
 *   train        fit the configured models, evaluate them, write a run directory
 *   benchmark    the same with Random and Pop always included (the main job)
 *   eval         re-evaluate the saved models of a run (another protocol, other k)
 * Every command takes `--config FILE` (JSON, validated by the schema in
 * config.ts) and flags that override it. Ctrl-C stops after the current batch
 * and leaves a checkpoint; `--resume RUN_DIR` continues.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { initEngine } from '../engine/index.js';
import { datasetStats, formatStats } from '../data/stats.js';
import { evaluateRecommender } from '../eval/evaluate.js';
import { evaluateGroup } from '../eval/cold_start.js';
import { assertBaselinesPresent, metricsTable, runProgress, unfinishedNote } from '../eval/report.js';
import { CHECKPOINT_FILES, findCheckpoint } from '../train/checkpoint.js';
import { checkSettingLabels, formatSettings, loadRecommender, parseModelSettings } from '../models/registry.js';
import type { EpochReport } from '../models/types.js';
import { checkModelNames, loadConfiguredData, prepareSplit, rerenderRun, runExperiment, runName } from '../experiment/run.js';
import { commitRunDir, LOCK_OWNER_ENV, prepareRunDir, readJson, runPath } from '../run/index.js';
import { checkFullRankingKs, type RunConfig, modelSpecs, portableRunConfig, resolveRunConfig } from '../config/run.js';
import { ratingThresholdFlag } from '../config/layers.js';
import { type DataFlags, addDataOptions, dataSection } from './data_flags.js';

/** Commander parsers for numeric flags (shared by every subcommand). */
export const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${v}'`);
  return n;
};
export const int = (v: string): number => {
  const n = num(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got '${v}'`);
  return n;
};
const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);
const intList = (v: string): number[] => list(v).map(int);

interface CommonFlags extends DataFlags {
  config?: string;
  kCore?: number; maxHistory?: number; ratingThreshold?: string; negatives?: number; seed?: number;
  models?: string[]; epochs?: number; batchSize?: number; lr?: number; patience?: number; validMetric?: string; validProtocol?: string;
  protocols?: string[]; ks?: number[]; fullKs?: number[]; runsDir?: string; name?: string;
}

function addCommonOptions(cmd: Command, withTraining: boolean): Command {
  cmd.option('-c, --config <file>', 'JSON config file (flags override it)');
  addDataOptions(cmd)
    .option('--k-core <k>', 'k-core filter (0 disables)', int)
    .option('--max-history <L>', 'max history length L', int)
    .option('--rating-threshold <r>', "keep ratings > r ('none' keeps all)")
    .option('--negatives <n>', 'sampled negatives per evaluation target', int)
    .option('--seed <n>', 'seed of the protocol and of training', int);
  if (withTraining) {
    cmd.option('--models <list>', 'models to run, comma-separated (e.g. pop,bprmf,sasrec)', list)
      .option('--epochs <n>', 'max epochs', int)
      .option('--batch-size <n>', 'batch size', int)
      .option('--lr <x>', 'learning rate', num)
      .option('--patience <n>', 'early-stopping patience (epochs)', int)
      .option('--valid-metric <m>', "validation metric for early stopping, e.g. 'ndcg@10'")
      .option('--valid-protocol <p>', "'sampled' or 'full'")
      .option('--protocols <list>', "test protocols: 'sampled', 'full' or both", list)
      .option('--ks <list>', 'cut-offs of the sampled protocol, e.g. 1,3,5', intList)
      .option('--full-ks <list>', 'cut-offs of the full-ranking protocol, e.g. 10,20', intList)
      .option('--runs-dir <dir>', 'where run directories go (default runs)')
      .option('--name <name>', 'run directory name (default: dataset + time)');
  }
  return cmd;
}

/** Flags -> a partial config object (only what was given), for resolveRunConfig. */
function flagsToConfig(f: CommonFlags): Record<string, unknown> {
  const threshold = ratingThresholdFlag(f.ratingThreshold);
  const clean = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return clean({
    data: dataSection(f),
    protocol: clean({ kCore: f.kCore, maxHistory: f.maxHistory, ratingThreshold: threshold, numNegatives: f.negatives, seed: f.seed }),
    train: clean({ epochs: f.epochs, batchSize: f.batchSize, lr: f.lr, patience: f.patience, validMetric: f.validMetric, validProtocol: f.validProtocol, seed: f.seed }),
    eval: clean({ protocols: f.protocols, ks: f.ks, fullKs: f.fullKs }),
    output: clean({ runsDir: f.runsDir, name: f.name }),
  });
}

/**
 * `--models a,b`: picks the config's entries by label (keeping their config and
 * training overrides); names the config does not list are added with defaults.
 */
export function selectModels(entries: RunConfig['models'], names: string[]): RunConfig['models'] {
  return names.map((n) => entries.find((m) => (typeof m === 'string' ? m : (m.label ?? m.name)) === n) ?? n);
}

/** Progress bars with ETA on a terminal; one log line per epoch otherwise. */
function progressHooks(signal: AbortSignal) {
  const tty = Boolean(process.stderr.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let maxEpochs = 0;
  let validMetric = 'auc';
  let epoch = 1;
  return {
    signal,
    log: (l: string) => { bar?.stop(); bar = null; console.log(l); },
    onModelStart: (model: string, epochs: number, metric: string) => { validMetric = metric; maxEpochs = epochs; epoch = 1; console.log(`${model}: training (up to ${epochs} epochs)`); },
    onBatch: (model: string, done: number, total: number, loss: number) => {
      if (!tty) return;
      if (!bar) {
        bar = new cliProgress.SingleBar({
          format: `${model} epoch {epoch}/${maxEpochs} [{bar}] {value}/{total} batches | loss {loss} | ETA {eta_formatted}`,
          stream: process.stderr, hideCursor: true, clearOnComplete: true,
        }, cliProgress.Presets.shades_classic);
        bar.start(total, 0, { epoch, loss: '-' });
      }
      bar.update(done, { epoch, loss: loss.toFixed(4) });
    },
    onEpoch: (model: string, e: EpochReport) => {
      bar?.stop();
      bar = null;
      epoch = e.epoch + 1;
      // The early-stopping metric first, then AUC.
      const keys = [validMetric, 'auc'].filter((k, i, a) => k in e.valid && a.indexOf(k) === i);
      const v = keys.map((k) => `${k} ${e.valid[k].toFixed(4)}`).join(' ');
      console.log(`${model} epoch ${e.epoch}: loss ${e.loss.toFixed(4)} | valid ${v}${e.lr !== undefined ? ` | lr ${e.lr.toPrecision(3)}` : ''} | ${e.seconds.toFixed(1)} s${e.best ? ' *' : ''}`);
    },
  };
}

/** SIGINT -> abort after the current batch (checkpoint saved); a second Ctrl-C exits at once. */
export function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  process.once('SIGINT', () => {
    console.error('\nllmrec: stopping after this batch and saving a checkpoint (Ctrl-C again to quit now)');
    ac.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  return ac.signal;
}

type RunFlags = CommonFlags & { resume?: string; only?: string[]; isolate?: boolean };

async function runCommand(command: string, flags: RunFlags, requireBaselines: boolean): Promise<void> {
  let cfg: RunConfig;
  if (flags.resume) {
    const file = join(flags.resume, 'config.json');
    if (!existsSync(file)) throw new Error(`--resume ${flags.resume}: no config.json there (not a run directory)`);
    cfg = resolveRunConfig(file, flagsToConfig(flags));
  } else {
    cfg = resolveRunConfig(flags.config, flagsToConfig(flags));
  }
  if (flags.models) cfg = { ...cfg, models: selectModels(cfg.models, flags.models) };
  if (requireBaselines) {
    const names = cfg.models.map((m) => (typeof m === 'string' ? m : m.name));
    for (const b of ['pop', 'random']) if (!names.includes(b)) cfg.models.unshift(b);
  }
  if (flags.isolate) return runIsolated(command, cfg, flags.resume, requireBaselines);
  const res = await runExperiment(cfg, progressHooks(interruptSignal()), flags.resume, flags.only);
  if (res.interrupted) {
    console.log(`interrupted: resume with  llmrec ${command} --resume ${res.dir}`);
    process.exitCode = 130;
    return;
  }
  if (requireBaselines && !flags.only) assertBaselinesPresent(res.rows);
  if (process.env.LLMREC_ISOLATED_CHILD === '1') return; // the parent prints the report once
  console.log('');
  console.log(readFileSync(join(res.dir, 'results.md'), 'utf8'));
  console.log(`run directory: ${res.dir}`);
}

/**
 * `--isolate`: each model in its own child process (`--resume DIR --only
 * LABEL`), so its time and peak memory are its own and a crash stays local.
 */
function runIsolated(command: string, cfg: RunConfig, resumeDir: string | undefined, requireBaselines: boolean): void {
  const dir = resolve(resumeDir ?? runPath(cfg.output.runsDir, [runName(cfg), '--name (output.name)']));
  const specs = modelSpecs(cfg);
  checkModelNames(cfg);
  // The parent holds the run directory's lock; the children work inside it (LLMREC_RUN_LOCK_OWNER).
  const dirOptions = { file: 'config.json', mutable: ['models', 'output'], resume: resumeDir !== undefined };
  const portable = portableRunConfig(cfg, dir);
  prepareRunDir(dir, portable, dirOptions);
  commitRunDir(dir, portable, dirOptions);
  // Ctrl-C reaches the child too (same process group): it checkpoints and exits
  // 130; the parent only has to survive the signal and report.
  process.on('SIGINT', () => {});
  for (const spec of specs) {
    const r = spawnSync(process.execPath, [process.argv[1], command, '--resume', dir, '--only', spec.label], {
      stdio: 'inherit', env: { ...process.env, LLMREC_ISOLATED_CHILD: '1', [LOCK_OWNER_ENV]: String(process.pid) },
    });
    if (r.status !== 0) {
      process.exitCode = r.status ?? 1;
      console.log(r.status === 130 ? `interrupted: resume with  llmrec ${command} --resume ${dir} --isolate` : `${spec.label}: child process failed (exit ${r.status}); run directory ${dir}`);
      return;
    }
  }
  if (requireBaselines) assertBaselinesPresent(readJson<{ rows: Array<{ model: string; metrics: Record<string, number> }> }>(join(dir, 'metrics.json')).rows);
  console.log('');
  console.log(readFileSync(join(dir, 'results.md'), 'utf8'));
  console.log(`run directory: ${dir}`);
}

/** `data stats`: raw statistics, and after the protocol when it can split the data. */
async function dataStats(f: CommonFlags & { json?: boolean }): Promise<void> {
  const cfg = resolveRunConfig(f.config, flagsToConfig(f));
  const raw = await loadConfiguredData(cfg);
  const rawStats = datasetStats(raw);
  // The raw statistics are shown even when the protocol leaves nothing to split.
  let splitStats: ReturnType<typeof datasetStats> | null = null;
  let protocolError: string | null = null;
  try {
    splitStats = datasetStats(prepareSplit(raw, cfg));
  } catch (e) {
    protocolError = (e as Error).message;
  }
  if (f.json) {
    console.log(JSON.stringify({ name: raw.name, source: raw.source, skippedRows: raw.skippedRows, raw: rawStats, split: splitStats, protocolError }, null, 2));
    return;
  }
  console.log(`${raw.name} (${raw.source})${raw.skippedRows ? `: ${raw.skippedRows} bad rows skipped` : ''}`);
  const label = `after the protocol (rating > ${cfg.protocol.ratingThreshold ?? 'none'}, ${cfg.protocol.kCore}-core)`;
  console.log(formatStats(splitStats ? [{ name: 'raw', stats: rawStats }, { name: label, stats: splitStats }] : [{ name: 'raw', stats: rawStats }]));
  if (protocolError) console.log(`${label}: ${protocolError}`);
}

/**
 * `eval`: re-evaluates the saved models of a run directory under other
 * protocols or cut-offs. An interrupted run is fine: its finished models are
 * evaluated and the unfinished ones listed (runProgress in src/eval/report.ts).
 */
async function evalRun(f: DataFlags & { run: string; protocols?: string[]; ks?: number[]; split: string; groups?: boolean; set?: string[]; json?: boolean }): Promise<void> {
  const file = join(f.run, 'config.json');
  if (!existsSync(file)) throw new Error(`--run ${f.run}: no config.json there (not a run directory)`);
  // The run's config.json is the file layer (its data paths relative to the run); data flags
  // override it, e.g. to point at the same data moved elsewhere.
  const cfg = resolveRunConfig(file, { data: dataSection(f) });
  if (f.split !== 'test' && f.split !== 'valid') throw new Error(`--split must be 'test' or 'valid', got '${f.split}'`);
  const protocols = (f.protocols ?? cfg.eval.protocols) as Array<'sampled' | 'full'>;
  for (const p of protocols) if (p !== 'sampled' && p !== 'full') throw new Error(`--protocols: '${String(p)}' is not 'sampled' or 'full'`);
  const candidates = cfg.protocol.numNegatives + 1;
  if (f.ks && protocols.includes('sampled')) {
    for (const k of f.ks) if (k < 1 || k > candidates) throw new Error(`--ks: k = ${k} is outside 1..${candidates} (the sampled protocol ranks 1 positive + ${cfg.protocol.numNegatives} negatives)`);
  }
  const specs = modelSpecs(cfg);
  // Inference settings (a trained TIGER's beam width): per label, applied when the model loads.
  const sets = parseModelSettings(f.set ?? [], '--set');
  checkSettingLabels(sets, specs.map((s) => s.label), '--set', `the run ${f.run}`);
  const metricsFile = join(f.run, 'metrics.json');
  const rowLabels = new Set(existsSync(metricsFile) ? readJson<{ rows?: Array<{ model: string }> }>(metricsFile).rows?.map((r) => r.model) ?? [] : []);
  const modelDir = (label: string) => runPath(f.run, ['models', 'models folder'], [label, 'model label']);
  const progress = runProgress(specs.map((s) => s.label), rowLabels, (l) => existsSync(join(modelDir(l), 'config.json')), (l) => {
    const ck = findCheckpoint(modelDir(l));
    return ck ? readJson<{ epoch?: number }>(join(ck, CHECKPOINT_FILES.state)).epoch ?? 0 : null;
  });
  const note = unfinishedNote(progress);
  const say = f.json ? (l: string) => console.error(l) : (l: string) => console.log(l);
  if (note) say(note);
  const ready = progress.filter((p) => p.state === 'finished' || p.state === 'saved');
  for (const label of sets.keys()) {
    if (!ready.some((p) => p.label === label)) throw new Error(`--set: the model '${label}' of ${f.run} is not trained yet (nothing to load)`);
  }
  if (ready.length === 0) {
    say(`${f.run}: no finished model to evaluate yet`);
    return;
  }
  await initEngine();
  const data = prepareSplit(await loadConfiguredData(cfg), cfg);
  const split = f.split as 'test' | 'valid';
  if (f.groups && !data.coldStart) throw new Error(`--groups: the run ${f.run} has no cold-start protocol (protocol.coldStart), so its rows have no warm and cold groups`);
  if (f.groups && split === 'valid' && data.coldStart!.validColdItems.length === 0) {
    say('(no cold-aware validation in this run: protocol.coldStart.validShare is 0, so every validation target is warm)');
  }
  for (const protocol of protocols) {
    const ks = f.ks ?? (protocol === 'full' ? cfg.eval.fullKs : cfg.eval.ks);
    if (protocol === 'full') checkFullRankingKs(ks, data.numItems, f.ks ? '--ks' : 'eval.fullKs');
    const rows = [];
    for (const p of ready) {
      const set = sets.get(p.label);
      const model = await loadRecommender(modelDir(p.label), set ? { set } : {});
      const opts = { protocol, ks, batchSize: cfg.eval.batchSize };
      try {
        const t0 = performance.now();
        const metrics = evaluateRecommender(model, data, split, opts);
        rows.push({ model: p.label, metrics, seconds: Math.round((performance.now() - t0) / 100) / 10 });
        // The warm and cold groups of the cold-start protocol (docs/METHODS.md §1.4), as a run reports them.
        if (f.groups) {
          for (const group of ['warm', 'cold'] as const) {
            const metrics = evaluateGroup(model, data, group, opts, split);
            rows.push({ model: `${p.label} (${group}, ${metrics.count} rows)`, metrics });
          }
        }
      } finally {
        model.dispose();
      }
    }
    if (f.json) {
      // One JSON line per protocol (for docs/results): the settings used and every row's metrics.
      console.log(JSON.stringify({ split: f.split, protocol, ks, set: Object.fromEntries(sets), rows }));
      continue;
    }
    const cols = [...(protocol === 'sampled' ? ['auc'] : []), ...ks.map((k) => `hr@${k}`), ...ks.map((k) => `ndcg@${k}`), ...ks.map((k) => `mrr@${k}`)];
    console.log(`\n## ${f.split}, ${protocol}${sets.size ? ` (${[...sets].map(([l, r]) => formatSettings(r, l)).join(', ')})` : ''}\n`);
    console.log(metricsTable(rows, cols));
  }
}

export function addExperimentCommands(program: Command): void {
  const data = program.command('data').description('datasets: statistics');
  addCommonOptions(data.command('stats').description('users, items, interactions, sparsity, mean history (raw and after the protocol)'), false)
    .option('--json', 'print JSON')
    .action(dataStats);

  addCommonOptions(program.command('train').description('fit the configured models and evaluate them; writes a run directory'), true)
    .option('--resume <runDir>', 'continue an interrupted run')
    .option('--only <labels>', 'run only these model labels of the config (others are kept as they are)', list)
    .option('--isolate', 'run each model in its own process (own time and peak memory)')
    .action((f: RunFlags) => runCommand('train', f, false));

  addCommonOptions(program.command('benchmark').description('train and evaluate every configured model beside Random and Pop (the main job)'), true)
    .option('--resume <runDir>', 'continue an interrupted run')
    .option('--only <labels>', 'run only these model labels of the config (others are kept as they are)', list)
    .option('--isolate', 'run each model in its own process (own time and peak memory)')
    .action((f: RunFlags) => runCommand('benchmark', f, true));

  program.command('report').description('re-render results.md of a run directory from its metrics.json')
    .requiredOption('--run <dir>', 'run directory')
    .action((f: { run: string }) => { console.log(rerenderRun(f.run)); });

  addDataOptions(program.command('eval').description('re-evaluate the saved models of a run directory (data flags override the run\'s data section, e.g. for moved data)'),
    { dataHelp: "the run's dataset at another place (default: the run's config.json data section)" })
    .requiredOption('--run <dir>', 'run directory')
    .option('--protocols <list>', "'sampled', 'full' or both", list)
    .option('--ks <list>', 'cut-offs', intList)
    .option('--split <split>', "'test' or 'valid'", 'test')
    .option('--groups', 'also the warm- and cold-target rows of a cold-start run (protocol.coldStart; with --split valid, its cold-aware validation rows)')
    .option('--set <label.key=value>', "an inference setting of one model, repeatable (e.g. tiger.beams=80: TIGER's beam width; only keys that change no weight)", (v: string, prev: string[] = []) => [...prev, v])
    .option('--json', 'print one JSON line per protocol instead of tables')
    .action(evalRun);
}
