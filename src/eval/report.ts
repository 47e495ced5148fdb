/**
 * Report helpers: a Markdown table of metric rows (4 decimals) and the rule
 * that every report carries the Random and Pop baselines (a model that does
 * not beat them is not learning; docs/METHODS.md §2.1; cf. LLMRank issue #8,
 * where an untrained "baseline" silently produced random-level numbers).
 */
import type { EvalRow } from './evaluate.js';
import type { PairedTest } from './significance.js';

/** A row of the table: { model, metrics } (what evaluateAll returns). */
export type ReportRow = EvalRow;

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function formatValue(column: string, v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (column === 'count' && Number.isInteger(v)) return String(v);
  return v.toFixed(4);
}

/**
 * Markdown table: one row per model, one column per metric name (e.g.
 * ['auc', 'hr@1', 'ndcg@5']), values with 4 decimals ('count' as an integer);
 * a metric missing from a row (or NaN) is shown as '-'.
 */
export function metricsTable(rows: readonly ReportRow[], columns: readonly string[]): string {
  const header = `| model | ${columns.map(cell).join(' | ')} |`;
  const sep = `|---|${columns.map(() => '---:').join('|')}|`;
  const body = rows.map((r) => `| ${cell(r.model)} | ${columns.map((c) => formatValue(c, r.metrics[c])).join(' | ')} |`);
  return [header, columns.length > 0 ? sep : '|---|', ...body].join('\n') + '\n';
}

/**
 * The cells of a paired test in a Markdown row: the two means, the signed
 * difference, its 95 % interval, p and the pairs used (4 decimals).
 */
export function pairedTestCells(t: PairedTest): string {
  const f4 = (x: number) => formatValue('', x);
  return `${f4(t.meanA)} | ${f4(t.meanB)} | ${t.meanDiff >= 0 ? '+' : ''}${f4(t.meanDiff)} | ${f4(t.ci95[0])} .. ${f4(t.ci95[1])} | ${f4(t.pValue)} | ${t.n}`;
}

/** Throws unless rows contain a 'random' and a 'pop' model (names compared case-insensitively). */
export function assertBaselinesPresent(rows: readonly ReportRow[]): void {
  const names = new Set(rows.map((r) => r.model.trim().toLowerCase()));
  const missing = ['random', 'pop'].filter((b) => !names.has(b));
  if (missing.length > 0) {
    throw new Error(`report: every report carries the Random and Pop baselines; missing: ${missing.join(', ')}`);
  }
}

/** Where one model of a run directory stands (for `eval --run` on an interrupted run). */
export interface ModelProgress {
  label: string;
  /** 'finished': saved and evaluated; 'saved': saved but not in metrics.json; 'training': a checkpoint only; 'not started'. */
  state: 'finished' | 'saved' | 'training' | 'not started';
  /** Epochs done, from the checkpoint (state 'training'). */
  epoch?: number;
}

/**
 * The models of a run in config order with their state: `finished` when a
 * row of metrics.json names the label and the model was saved, and so on.
 */
export function runProgress(labels: readonly string[], rowLabels: ReadonlySet<string>, saved: (label: string) => boolean, checkpointEpoch: (label: string) => number | null): ModelProgress[] {
  return labels.map((label) => {
    if (saved(label)) return { label, state: rowLabels.has(label) ? 'finished' : 'saved' };
    const epoch = checkpointEpoch(label);
    return epoch !== null ? { label, state: 'training', epoch } : { label, state: 'not started' };
  });
}

/** One line naming the unfinished models of a run (empty when every model finished). */
export function unfinishedNote(progress: readonly ModelProgress[]): string {
  const open = progress.filter((p) => p.state === 'training' || p.state === 'not started');
  if (open.length === 0) return '';
  const what = open.map((p) => (p.state === 'training' ? `${p.label} (interrupted after epoch ${p.epoch ?? 0}, checkpoint kept)` : `${p.label} (not started)`));
  return `unfinished models, not evaluated: ${what.join(', ')}; finish the run with --resume`;
}
