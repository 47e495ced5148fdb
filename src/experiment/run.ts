/**
 * An experiment run: load -> protocol -> fit each model -> evaluate -> report,
 * in a run directory that makes the run repeatable and resumable:
 *
 *   <runsDir>/<name>/
 *     config.json        the resolved configuration
 *     data.json          dataset statistics (raw and after the protocol)
 *     models/<label>/    checkpoints while training, the fitted model after
 *     models/<label>/test-<protocol>.users.json   the test rank and AUC of each user
 *     metrics.json       one row per (model, protocol): metrics + fit summary
 *     significance.json  each model paired against the reference models (paired.ts)
 *     results.md         the Markdown tables (Random and Pop rows always present)
 *
 * Interrupting (AbortSignal, e.g. Ctrl-C) stops after the current batch; the
 * model's trainer writes a checkpoint and the run returns `interrupted`.
 * `resume` continues: finished models are kept from metrics.json, the
 * interrupted one resumes from its checkpoint.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initEngine } from '../engine/index.js';
import { killPoint } from '../io/files.js';
import { applyAnyProtocol } from '../data/cold_start.js';
import { datasetStats } from '../data/stats.js';
import { loadDataSection } from '../data/loaders/section.js';
import type { DatasetStats, RawDataset, SplitDataset } from '../data/types.js';
import { evaluatePerUserInterruptible, evaluateRecommenderInterruptible } from '../eval/evaluate.js';
import { metricsOfPerUser } from '../eval/metrics.js';
import { type BenchmarkSignificance, benchmarkSignificance, pairedReferences, significanceLines, writePerUser, writeSignificance } from './paired.js';
import { groupSplit, type TargetGroup } from '../eval/cold_start.js';
import { metricsTable } from '../eval/report.js';
import type { MetricValues } from '../eval/types.js';
import { createRecommender, modelNames, trainsByEpochs } from '../models/registry.js';
import type { EpochReport, FitReport, Recommender } from '../models/types.js';
import { checkRunData, checkSafeName, commitRunDir, portablePath, prepareRunDir, readJson, runDataIdentity, runPath, sanitizeName, writeJson, writeText } from '../run/index.js';
import { checkFullRankingKs, type ModelSpec, type RunConfig, modelSpecs, parseRunConfig, portableRunConfig } from '../config/run.js';

export interface RunRow {
  model: string;
  name: string;
  protocol: 'sampled' | 'full';
  /** 'valid' rows exist only with cold-aware validation (protocol.coldStart.validShare > 0): the kept weights on the validation split. */
  split: 'test' | 'valid';
  /** Cold-start runs: the rows of one target group (absent: every row of the split). */
  group?: TargetGroup;
  metrics: MetricValues;
  fit: Omit<FitReport, 'epochs'> & { epochs: number; peakRssMiB: number; fitSeconds: number };
}

export interface RunHooks {
  log?: (line: string) => void;
  onEpoch?: (model: string, e: EpochReport) => void;
  onBatch?: (model: string, done: number, total: number, loss: number) => void;
  onModelStart?: (model: string, epochs: number, validMetric: string) => void;
  signal?: AbortSignal;
}

export interface RunResult {
  dir: string;
  rows: RunRow[];
  interrupted: boolean;
  stats: { raw: DatasetStats; split: DatasetStats };
}

/** Loads the configured dataset: the embedded synthetic shop or a loader with every option of the data section (src/data/loaders/section.ts). */
export async function loadConfiguredData(cfg: RunConfig): Promise<RawDataset> {
  return loadDataSection(cfg.data);
}

/** The protocol of the config (the cold-start protocol when protocol.coldStart is set). */
export function prepareSplit(raw: RawDataset, cfg: RunConfig): SplitDataset {
  return applyAnyProtocol(raw, { ...cfg.protocol });
}

/** The run directory's name: `--name` (a safe name, src/run/names.ts) or the dataset's name + the time. */
export function runName(cfg: RunConfig): string {
  if (cfg.output.name !== undefined) return checkSafeName(cfg.output.name, '--name (output.name)');
  return `${sanitizeName(cfg.data.name)}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
}

/** Every model name of the config is in the models registry: checked before any data is loaded or model trained. */
export function checkModelNames(cfg: RunConfig): void {
  const known = modelNames();
  cfg.models.forEach((m, i) => {
    const name = typeof m === 'string' ? m : m.name;
    if (!known.includes(name)) throw new Error(`models[${i}]: unknown model '${name}' (known: ${known.join(', ')})`);
  });
}

function readRows(file: string): RunRow[] {
  if (!existsSync(file)) return [];
  const v = readJson<{ rows?: unknown }>(file);
  if (v === null || typeof v !== 'object' || !Array.isArray(v.rows)) throw new Error(`${file}: field 'rows' missing or not a list (damaged run directory?)`);
  return v.rows as RunRow[];
}

/** Fits one model of the run (resuming its checkpoint), saves it and evaluates it under every configured protocol. */
async function fitAndEvaluate(cfg: RunConfig, data: SplitDataset, spec: ModelSpec, dir: string, resuming: boolean, hooks: RunHooks): Promise<{ rows: RunRow[]; interrupted: boolean }> {
  const model = createRecommender(spec.name, spec.config);
  const ckpt = runPath(dir, ['models', 'models folder'], [spec.label, 'model label']);
  hooks.onModelStart?.(spec.label, spec.train.epochs ?? cfg.train.epochs, spec.train.validMetric ?? cfg.train.validMetric);
  try {
    const fitStart = performance.now();
    const fit = await model.fit(data, {
      ...cfg.train,
      ...Object.fromEntries(Object.entries(spec.train).filter(([, v]) => v !== undefined)),
      checkpointDir: ckpt,
      resume: resuming && existsSync(ckpt),
      signal: hooks.signal,
      onEpoch: (e) => hooks.onEpoch?.(spec.label, e),
      onBatch: (d, t, l) => hooks.onBatch?.(spec.label, d, t, l),
    });
    const fitSeconds = (performance.now() - fitStart) / 1000;
    // Process-wide peak (the wasm heap never shrinks): per model when one model runs per process.
    const peakRss = process.resourceUsage().maxRSS * 1024;
    if (fit.interrupted) {
      hooks.log?.(`${spec.label}: interrupted; checkpoint in ${ckpt}; continue with --resume ${dir}`);
      return { rows: [], interrupted: true };
    }
    await model.save(ckpt);
    const { epochs, ...fitRest } = fit;
    const fitRow = { ...fitRest, epochs: epochs.length, peakRssMiB: Math.round(peakRss / 2 ** 20), fitSeconds: Math.round(fitSeconds * 10) / 10 };
    const rows = await evaluateRows(cfg, data, spec, model, dir, fitRow, hooks.signal);
    if (rows === null) {
      hooks.log?.(`${spec.label}: interrupted while its rows were evaluated (test, and the cold-start and validation rows when the protocol has them); the trained model is in ${ckpt}; continue with --resume ${dir}`);
      return { rows: [], interrupted: true };
    }
    return { rows, interrupted: false };
  } finally {
    model.dispose();
  }
}

/**
 * The rows of a fitted model under every configured protocol: test (per user
 * first, for the paired tests of paired.ts; the means are
 * evaluateRecommender's), and with a cold-start protocol test by target
 * group and, when the cold-aware validation is on, validation overall and
 * by group (the numbers a choice between runs may use, never test's). Each
 * evaluation stops within one batch of users once `signal` is aborted: null.
 */
async function evaluateRows(cfg: RunConfig, data: SplitDataset, spec: ModelSpec, model: Recommender, dir: string, fit: RunRow['fit'], signal?: AbortSignal): Promise<RunRow[] | null> {
  const rows: RunRow[] = [];
  for (const protocol of cfg.eval.protocols) {
    const opts = { protocol, ks: protocol === 'full' ? cfg.eval.fullKs : cfg.eval.ks, batchSize: cfg.eval.batchSize };
    const per = await evaluatePerUserInterruptible(model, data, 'test', opts, signal);
    if (per === null) return null;
    writePerUser(dir, spec.label, protocol, per);
    rows.push({ model: spec.label, name: spec.name, protocol, split: 'test', metrics: { ...metricsOfPerUser(per, opts.ks), count: per.rank.length }, fit });
    if (!data.coldStart) continue;
    const parts: [split: 'test' | 'valid', group?: TargetGroup][] = [['test', 'warm'], ['test', 'cold']];
    if (data.coldStart.validColdItems.length > 0) parts.push(['valid'], ['valid', 'warm'], ['valid', 'cold']);
    for (const [split, group] of parts) {
      const part = group ? groupSplit(data, group, split) : data;
      const metrics = part ? await evaluateRecommenderInterruptible(model, part, split, opts, signal) : { count: 0 };
      if (metrics === null) return null;
      rows.push({ model: spec.label, name: spec.name, protocol, split, ...(group ? { group } : {}), metrics, fit });
    }
  }
  return rows;
}

/** Loads the data and applies the protocol (writes nothing: a resume checks the data before any write). */
async function loadRunData(cfg: RunConfig, log: (l: string) => void): Promise<{ raw: RawDataset; data: SplitDataset; stats: RunResult['stats']; coldStart?: Record<string, unknown> }> {
  const t0 = performance.now();
  const raw = await loadConfiguredData(cfg);
  const data = prepareSplit(raw, cfg);
  const stats = { raw: datasetStats(raw), split: datasetStats(data) };
  const cs = data.coldStart;
  const coldStart = cs ? {
    share: cs.share, seed: cs.seed, requireText: cs.requireText, coldItems: cs.coldItems.length, itemsWithoutText: cs.itemsWithoutText,
    coldTestRows: cs.coldTestRows, warmTestRows: cs.warmTestRows, usersWithoutEvalRow: cs.usersWithoutEvalRow, removedInteractions: cs.removedInteractions,
    ...(cs.validColdItems.length > 0 ? { validShare: data.config.coldStart?.validShare, validColdItems: cs.validColdItems.length, validColdTestRows: cs.validColdTestRows, coldValidRows: cs.coldValidRows, warmValidRows: cs.warmValidRows } : {}),
  } : undefined;
  log(`data ${raw.name}: ${stats.split.users} users, ${stats.split.items} items, ${stats.split.interactions} interactions after the protocol ` +
    `(raw ${stats.raw.interactions}${raw.skippedRows ? `, ${raw.skippedRows} bad rows skipped` : ''}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { raw, data, stats, ...(coldStart ? { coldStart } : {}) };
}

/**
 * Runs (or resumes, when `resumeDir` is given) an experiment. `only` restricts
 * this call to some model labels of the config (the others are neither run nor
 * dropped: `--isolate` runs each model in its own process this way).
 */
export async function runExperiment(cfg: RunConfig, hooks: RunHooks = {}, resumeDir?: string, only?: string[]): Promise<RunResult> {
  const log = hooks.log ?? ((l: string) => console.log(l));
  await initEngine();
  // Names (run name, labels, models) first: nothing is written or loaded before they are checked.
  const dir = resolve(resumeDir ?? runPath(cfg.output.runsDir, [runName(cfg), '--name (output.name)']));
  const specs = modelSpecs(cfg);
  checkModelNames(cfg);
  pairedReferences(cfg, specs); // eval.pairedAgainst names models of the config
  for (const o of only ?? []) {
    if (!specs.some((sp) => sp.label === o)) throw new Error(`--only ${o}: no model with that label in the run's config (${specs.map((sp) => sp.label).join(', ')})`);
  }
  if (!resumeDir && existsSync(join(dir, 'metrics.json'))) {
    throw new Error(`run directory ${dir} already holds results: continue it with --resume ${dir}, or choose another --name`);
  }
  // The run directory (src/run/dir.ts): options checked, lock taken, killed writes cleaned; the
  // data is loaded and its identity checked against run.json before the first write.
  const dirOptions = { file: 'config.json', mutable: ['models', 'output'], resume: resumeDir != null, log };
  const lock = prepareRunDir(dir, portableRunConfig(cfg, dir), dirOptions);
  try {
    return await runInDir(cfg, dir, specs, dirOptions, hooks, log, resumeDir != null, only);
  } finally {
    lock.release();
  }
}

async function runInDir(cfg: RunConfig, dir: string, specs: ModelSpec[], dirOptions: Parameters<typeof commitRunDir>[2], hooks: RunHooks, log: (l: string) => void, resuming: boolean, only?: string[]): Promise<RunResult> {
  const metricsFile = join(dir, 'metrics.json');
  readRows(metricsFile); // a damaged metrics.json is reported before the data is loaded
  const { raw, data, stats, coldStart } = await loadRunData(cfg, log);
  if (cfg.eval.protocols.includes('full')) checkFullRankingKs(cfg.eval.fullKs, data.numItems);
  if (cfg.train.validProtocol === 'full') checkFullRankingKs([Number(/@(\d+)$/.exec(cfg.train.validMetric)?.[1] ?? 0)], data.numItems, 'train.validMetric');
  const identity = runDataIdentity(data);
  checkRunData(dir, identity, resuming);
  commitRunDir(dir, portableRunConfig(cfg, dir), { ...dirOptions, data: identity });
  mkdirSync(join(dir, 'models'), { recursive: true });
  writeJson(join(dir, 'data.json'), { name: raw.name, source: portablePath(raw.source, dir), skippedRows: raw.skippedRows, ...stats, ...(coldStart ? { coldStart } : {}) });
  const rows = readRows(metricsFile);
  const done = new Set(rows.map((r) => r.model));
  let interrupted = false;
  for (const spec of specs) {
    if (only && !only.includes(spec.label)) continue;
    if (done.has(spec.label)) {
      log(`${spec.label}: already evaluated in this run, kept`);
      continue;
    }
    const res = await fitAndEvaluate(cfg, data, spec, dir, resuming, { ...hooks, log });
    if (res.interrupted) { interrupted = true; break; }
    // Re-read before writing: other processes (`--only` runs of the same run
    // directory) may have added their models' rows meanwhile.
    const merged = [...readRows(metricsFile).filter((r) => r.model !== spec.label), ...res.rows];
    rows.splice(0, rows.length, ...merged);
    writeJson(metricsFile, { dataset: raw.name, rows });
    killPoint('report-write'); // kill -9 suite hook (src/io/files.ts): metrics.json written, results.md not
    log(`${spec.label}: ${res.rows.filter((r) => r.split === 'test').map((r) => `${r.protocol}${r.group ? ` ${r.group}` : ''} ${Object.entries(r.metrics).filter(([k]) => k !== 'count').slice(0, 4).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')}`).join(' | ')}`);
  }
  const significance = benchmarkSignificance(dir, cfg, [...new Set(rows.map((r) => r.model))]);
  writeSignificance(dir, significance);
  writeText(join(dir, 'results.md'), renderResults(raw.name, cfg, stats, rows, significance));
  return { dir, rows, interrupted, stats };
}

/** The Markdown report of a run: data statistics and one table per protocol. */
export function renderResults(dataset: string, cfg: RunConfig, stats: RunResult['stats'], unordered: RunRow[], significance: BenchmarkSignificance | null = null): string {
  // Rows in the config's model order, whatever order they finished in.
  const order = modelSpecs(cfg).map((sp) => sp.label);
  const rank = (r: RunRow) => { const i = order.indexOf(r.model); return i < 0 ? order.length : i; };
  const rows = [...unordered].sort((a, b) => rank(a) - rank(b));
  const out: string[] = [`# ${dataset}`, ''];
  const s = stats.split;
  out.push(`After the protocol (rating > ${cfg.protocol.ratingThreshold ?? 'none'}, ${cfg.protocol.kCore}-core, leave-one-out, L = ${cfg.protocol.maxHistory}): ` +
    `${s.users} users, ${s.items} items, ${s.interactions} interactions, sparsity ${(s.sparsity * 100).toFixed(2)}%, mean history ${s.meanHistory.toFixed(2)}.`, '');
  const cold = cfg.protocol.coldStart;
  if (cold) {
    out.push(`Cold-start protocol (docs/METHODS.md §1.4): ${Math.round(cold.share * 100)}% of the items${cold.requireText ? ' with text' : ''} (seed ${cold.seed}) ` +
      'are withheld from training and appear only as test targets; candidates are all items, warm and cold. Id-only models score a cold item with ' +
      'its id embedding, which training never used as a positive (only pushed down as a negative), Pop with a count of 0 (pessimistic ties: ranked last).', '');
    if ((cold.validShare ?? 0) > 0) {
      out.push(`Cold-aware validation: another ${Math.round((cold.validShare ?? 0) * 100)}% of the items are withheld from training and appear only as ` +
        'validation targets (and as test targets: such test users are in neither test group, only in the tables of all users); ' +
        'the validation tables below split the validation users the same way, ' +
        'for choices between runs; no choice uses the test tables.', '');
    }
  }
  for (const split of ['test', 'valid'] as const) {
    for (const protocol of cfg.eval.protocols) {
      const ks = protocol === 'full' ? cfg.eval.fullKs : cfg.eval.ks;
      const cols = [...(protocol === 'sampled' ? ['auc'] : []), ...ks.map((k) => `hr@${k}`), ...ks.filter((k) => k > 1).map((k) => `ndcg@${k}`),
        ...ks.filter((k) => k > 1).map((k) => `mrr@${k}`), ...(cold ? ['count'] : [])];
      const title = protocol === 'sampled' ? `1 positive + ${cfg.protocol.numNegatives} sampled negatives` : 'full ranking (history excluded)';
      for (const group of [undefined, 'warm', 'cold'] as const) {
        const pr = rows.filter((r) => (r.split ?? 'test') === split && r.protocol === protocol && r.group === group);
        if (pr.length === 0) continue;
        out.push(`## ${split === 'test' ? 'Test' : 'Validation'}, ${title}${group ? `, ${group}-target users` : ''}`, '');
        out.push(metricsTable(pr.map((r) => ({ model: r.model, metrics: r.metrics })), cols), '');
      }
    }
  }
  out.push(...significanceLines(significance));
  const fitRows = rows.filter((r, i) => rows.findIndex((x) => x.model === r.model) === i);
  const specs = new Map(modelSpecs(cfg).map((sp) => [sp.label, sp]));
  out.push('## Training', '',
    'Epochs are numbered from 0, as in the training log; a model stops after `patience` epochs without a strict improvement of ' +
    `the validation metric, or at its epoch cap, and keeps its best validation epoch's weights.`, '',
    '| model | epochs run | cap | patience | best epoch | last epoch | best valid | stop | s/epoch | fit s | peak RSS MiB |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|');
  const capped: string[] = [];
  for (const r of fitRows) {
    const sp = specs.get(r.model);
    const st = trainingStop(r, sp ? { epochs: sp.train.epochs ?? cfg.train.epochs, patience: sp.train.patience ?? cfg.train.patience } : undefined);
    if (st.capWhileImproving) capped.push(r.model);
    const metric = sp?.train.validMetric ?? cfg.train.validMetric;
    const bv = r.fit.bestValid[metric];
    out.push(`| ${r.model} | ${r.fit.epochs} | ${st.cap ?? ''} | ${st.patience ?? ''} | ${r.fit.epochs > 0 ? r.fit.bestEpoch : ''} | ${r.fit.epochs > 0 ? r.fit.epochs - 1 : ''} | ` +
      `${typeof bv === 'number' ? `${metric} ${bv.toFixed(4)}` : ''} | ${st.text} | ${r.fit.secondsPerEpoch.toFixed(2)} | ${r.fit.fitSeconds} | ${r.fit.peakRssMiB} |`);
  }
  out.push('');
  if (capped.length > 0) {
    out.push(`**Cap reached while improving:** ${capped.join(', ')}: the best validation epoch is the last one, so the model may be undertrained; ` +
      'raise its `epochs` (and resume) before comparing against it.', '');
  }
  return out.join('\n');
}

/** How a model's training ended, for the Training table of results.md. */
export interface TrainingStop {
  /** Epoch cap and patience (undefined: the model is not in the config, or does not train by epochs). */
  cap?: number;
  patience?: number;
  /** The best validation epoch is the last one and the cap stopped the training. */
  capWhileImproving: boolean;
  text: string;
}

/** What trainingStop needs of a model's training: its name and how many epochs ran, the best one, and why it ended. */
export interface TrainingEnd {
  name: string;
  fit: { epochs: number; bestEpoch: number; stoppedEarly: boolean; interrupted: boolean };
}

/**
 * Classifies the end of a model's training from its fit summary and its cap and
 * patience (undefined: unknown); the one wording of the benchmark's Training
 * table and of the staged methods' reports (GANPrompt's collaborative model).
 */
export function trainingStop(r: TrainingEnd, limits: { epochs: number; patience: number } | undefined): TrainingStop {
  const known = modelNames().includes(r.name);
  if (known && !trainsByEpochs(r.name)) return { capWhileImproving: false, text: 'no training' };
  const { epochs: run, bestEpoch, stoppedEarly, interrupted } = r.fit;
  const cap = limits?.epochs;
  const patience = limits?.patience;
  if (interrupted) return { cap, patience, capWhileImproving: false, text: 'interrupted' };
  if (run === 0) return { cap, patience, capWhileImproving: false, text: 'no training (0 epochs: zero-shot or loaded)' };
  if (stoppedEarly) return { cap, patience, capWhileImproving: false, text: `${cap !== undefined && run >= cap ? 'patience ran out at the cap' : 'early stop'} (best + ${run - 1 - bestEpoch})` };
  if (bestEpoch === run - 1 && (cap === undefined || run >= cap)) return { cap, patience, capWhileImproving: true, text: '**cap reached while improving**' };
  if (cap !== undefined && run >= cap) return { cap, patience, capWhileImproving: false, text: `cap reached (best + ${run - 1 - bestEpoch})` };
  return { cap, patience, capWhileImproving: false, text: `ended (best + ${run - 1 - bestEpoch})` };
}

/** Re-renders results.md of a run directory from its config.json, data.json, metrics.json and per-user files (significance.json written again). */
export function rerenderRun(dir: string): string {
  const read = (f: string) => readJson<unknown>(join(dir, f));
  const cfg = parseRunConfig(read('config.json'), join(dir, 'config.json'));
  const data = read('data.json') as { name: string; raw: DatasetStats; split: DatasetStats };
  const { rows } = read('metrics.json') as { rows: RunRow[] };
  // The paired tests again from the per-user files (models evaluated before they existed are named as not tested).
  const significance = benchmarkSignificance(dir, cfg, [...new Set(rows.map((r) => r.model))]);
  writeSignificance(dir, significance);
  const md = renderResults(data.name, cfg, { raw: data.raw, split: data.split }, rows, significance);
  writeText(join(dir, 'results.md'), md);
  return md;
}
