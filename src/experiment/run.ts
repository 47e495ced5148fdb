/**
 * An experiment run: load -> protocol -> fit each model -> evaluate -> report,
 * in a run directory that makes the run repeatable and resumable:
 *
 *   <runsDir>/<name>/
 *     config.json        the resolved configuration
 *     data.json          dataset statistics (raw and after the protocol)
 *     models/<label>/    checkpoints while training, the fitted model after
 *     metrics.json       one row per (model, protocol): metrics + fit summary
 *     results.md         the Markdown tables (Random and Pop rows always present)
 *
 * Interrupting (AbortSignal, e.g. Ctrl-C) stops after the current batch; the
 * model's trainer writes a checkpoint and the run returns `interrupted`.
 * `resume` continues: finished models are kept from metrics.json, the
 * interrupted one resumes from its checkpoint.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initEngine } from '../engine/index.js';
import { applyAnyProtocol } from '../data/cold_start.js';
import { datasetStats } from '../data/stats.js';
import { generateShop } from '../data/synthetic.js';
import { canonicalFormat, loadDataset } from '../data/loaders/index.js';
import type { DatasetStats, RawDataset, SplitDataset } from '../data/types.js';
import { evaluateRecommender } from '../eval/evaluate.js';
import { evaluateGroup, type TargetGroup } from '../eval/cold_start.js';
import { metricsTable } from '../eval/report.js';
import type { MetricValues } from '../eval/types.js';
import { createRecommender } from '../models/registry.js';
import type { EpochReport, FitReport } from '../models/types.js';
import { portablePath, writeJson, writeText } from '../run/index.js';
import { type ModelSpec, type RunConfig, modelSpecs, parseRunConfig } from '../config/run.js';

export interface RunRow {
  model: string;
  name: string;
  protocol: 'sampled' | 'full';
  split: 'test';
  /** Cold-start runs: the rows of one target group (absent: every test row). */
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

/** Loads the configured dataset: the embedded synthetic shop or a loader (name or path). */
export async function loadConfiguredData(cfg: RunConfig): Promise<RawDataset> {
  if (cfg.data.name === 'synthetic-shop') return generateShop(cfg.data.synthetic);
  return loadDataset(cfg.data.name, {
    format: cfg.data.format ? canonicalFormat(cfg.data.format) : undefined, skipBadRows: cfg.data.skipBadRows, cache: cfg.data.cache,
  });
}

/** The protocol of the config (the cold-start protocol when protocol.coldStart is set). */
export function prepareSplit(raw: RawDataset, cfg: RunConfig): SplitDataset {
  return applyAnyProtocol(raw, { ...cfg.protocol });
}

export function runName(cfg: RunConfig): string {
  if (cfg.output.name) return cfg.output.name;
  const base = cfg.data.name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '') || 'data';
  return `${base}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
}

function readRows(file: string): RunRow[] {
  if (!existsSync(file)) return [];
  const v = JSON.parse(readFileSync(file, 'utf8')) as { rows?: RunRow[] };
  return v.rows ?? [];
}

/** Fits one model of the run (resuming its checkpoint), saves it and evaluates it under every configured protocol. */
async function fitAndEvaluate(cfg: RunConfig, data: SplitDataset, spec: ModelSpec, dir: string, resuming: boolean, hooks: RunHooks): Promise<{ rows: RunRow[]; interrupted: boolean }> {
  const model = createRecommender(spec.name, spec.config);
  const ckpt = join(dir, 'models', spec.label);
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
    const rows: RunRow[] = [];
    for (const protocol of cfg.eval.protocols) {
      const ks = protocol === 'full' ? cfg.eval.fullKs : cfg.eval.ks;
      const metrics = evaluateRecommender(model, data, 'test', { protocol, ks, batchSize: cfg.eval.batchSize });
      const { epochs, ...fitRest } = fit;
      const fitRow = { ...fitRest, epochs: epochs.length, peakRssMiB: Math.round(peakRss / 2 ** 20), fitSeconds: Math.round(fitSeconds * 10) / 10 };
      rows.push({ model: spec.label, name: spec.name, protocol, split: 'test', metrics, fit: fitRow });
      if (data.coldStart) {
        for (const group of ['warm', 'cold'] as const) {
          rows.push({ model: spec.label, name: spec.name, protocol, split: 'test', group, metrics: evaluateGroup(model, data, group, { protocol, ks, batchSize: cfg.eval.batchSize }), fit: fitRow });
        }
      }
    }
    return { rows, interrupted: false };
  } finally {
    model.dispose();
  }
}

/** Loads the data, applies the protocol and writes data.json (the source as a portable path, never this machine's). */
async function loadRunData(cfg: RunConfig, dir: string, log: (l: string) => void): Promise<{ raw: RawDataset; data: SplitDataset; stats: RunResult['stats'] }> {
  const t0 = performance.now();
  const raw = await loadConfiguredData(cfg);
  const data = prepareSplit(raw, cfg);
  const stats = { raw: datasetStats(raw), split: datasetStats(data) };
  const cs = data.coldStart;
  const coldStart = cs ? {
    share: cs.share, seed: cs.seed, requireText: cs.requireText, coldItems: cs.coldItems.length, itemsWithoutText: cs.itemsWithoutText,
    coldTestRows: cs.coldTestRows, warmTestRows: cs.warmTestRows, usersWithoutEvalRow: cs.usersWithoutEvalRow, removedInteractions: cs.removedInteractions,
  } : undefined;
  writeJson(join(dir, 'data.json'), { name: raw.name, source: portablePath(raw.source, dir), skippedRows: raw.skippedRows, ...stats, ...(coldStart ? { coldStart } : {}) });
  log(`data ${raw.name}: ${stats.split.users} users, ${stats.split.items} items, ${stats.split.interactions} interactions after the protocol ` +
    `(raw ${stats.raw.interactions}${raw.skippedRows ? `, ${raw.skippedRows} bad rows skipped` : ''}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { raw, data, stats };
}

/**
 * Runs (or resumes, when `resumeDir` is given) an experiment. `only` restricts
 * this call to some model labels of the config (the others are neither run nor
 * dropped: `--isolate` runs each model in its own process this way).
 */
export async function runExperiment(cfg: RunConfig, hooks: RunHooks = {}, resumeDir?: string, only?: string[]): Promise<RunResult> {
  const log = hooks.log ?? ((l: string) => console.log(l));
  await initEngine();
  const dir = resolve(resumeDir ?? join(cfg.output.runsDir, runName(cfg)));
  if (!resumeDir && existsSync(join(dir, 'metrics.json'))) {
    throw new Error(`run directory ${dir} already holds results: continue it with --resume ${dir}, or choose another --name`);
  }
  const specs = modelSpecs(cfg);
  for (const o of only ?? []) {
    if (!specs.some((sp) => sp.label === o)) throw new Error(`--only ${o}: no model with that label in the run's config (${specs.map((sp) => sp.label).join(', ')})`);
  }
  mkdirSync(join(dir, 'models'), { recursive: true });
  writeJson(join(dir, 'config.json'), cfg);
  const { raw, data, stats } = await loadRunData(cfg, dir, log);
  const metricsFile = join(dir, 'metrics.json');
  const rows = readRows(metricsFile);
  const done = new Set(rows.map((r) => r.model));
  let interrupted = false;
  for (const spec of specs) {
    if (only && !only.includes(spec.label)) continue;
    if (done.has(spec.label)) {
      log(`${spec.label}: already evaluated in this run, kept`);
      continue;
    }
    const res = await fitAndEvaluate(cfg, data, spec, dir, resumeDir != null, { ...hooks, log });
    if (res.interrupted) { interrupted = true; break; }
    // Re-read before writing: other processes (`--only` runs of the same run
    // directory) may have added their models' rows meanwhile.
    const merged = [...readRows(metricsFile).filter((r) => r.model !== spec.label), ...res.rows];
    rows.splice(0, rows.length, ...merged);
    writeJson(metricsFile, { dataset: raw.name, rows });
    log(`${spec.label}: ${res.rows.map((r) => `${r.protocol} ${Object.entries(r.metrics).filter(([k]) => k !== 'count').slice(0, 4).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')}`).join(' | ')}`);
  }
  writeText(join(dir, 'results.md'), renderResults(raw.name, cfg, stats, rows));
  return { dir, rows, interrupted, stats };
}

/** The Markdown report of a run: data statistics and one table per protocol. */
export function renderResults(dataset: string, cfg: RunConfig, stats: RunResult['stats'], unordered: RunRow[]): string {
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
  }
  for (const protocol of cfg.eval.protocols) {
    const ks = protocol === 'full' ? cfg.eval.fullKs : cfg.eval.ks;
    const cols = [...(protocol === 'sampled' ? ['auc'] : []), ...ks.map((k) => `hr@${k}`), ...ks.filter((k) => k > 1).map((k) => `ndcg@${k}`),
      ...ks.filter((k) => k > 1).map((k) => `mrr@${k}`), ...(cold ? ['count'] : [])];
    const title = protocol === 'sampled' ? `1 positive + ${cfg.protocol.numNegatives} sampled negatives` : 'full ranking (history excluded)';
    for (const group of [undefined, 'warm', 'cold'] as const) {
      const pr = rows.filter((r) => r.protocol === protocol && r.group === group);
      if (pr.length === 0) continue;
      out.push(`## Test, ${title}${group ? `, ${group}-target users` : ''}`, '');
      out.push(metricsTable(pr.map((r) => ({ model: r.model, metrics: r.metrics })), cols), '');
    }
  }
  const fitRows = rows.filter((r, i) => rows.findIndex((x) => x.model === r.model) === i);
  out.push('## Training', '', '| model | epochs | best epoch | s/epoch | fit s | peak RSS MiB |', '|---|---|---|---|---|---|');
  for (const r of fitRows) out.push(`| ${r.model} | ${r.fit.epochs} | ${r.fit.bestEpoch} | ${r.fit.secondsPerEpoch.toFixed(2)} | ${r.fit.fitSeconds} | ${r.fit.peakRssMiB} |`);
  out.push('');
  return out.join('\n');
}

/** Re-renders results.md of a run directory from its config.json, data.json and metrics.json. */
export function rerenderRun(dir: string): string {
  const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown;
  const cfg = parseRunConfig(read('config.json'), join(dir, 'config.json'));
  const data = read('data.json') as { name: string; raw: DatasetStats; split: DatasetStats };
  const { rows } = read('metrics.json') as { rows: RunRow[] };
  const md = renderResults(data.name, cfg, { raw: data.raw, split: data.split }, rows);
  writeText(join(dir, 'results.md'), md);
  return md;
}
