/**
 * Stages of a pipeline (docs/DESIGN.md, "The run layer"): a pipeline is a list
 * of named stages run in order by `runStages`; each stage writes its outputs
 * into the run directory and, on resume, is skipped when they exist
 * (`cachedJson`). Wall seconds per stage and the process's peak RSS go into
 * the report.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { killPoint } from '../io/files.js';
import { readJson, writeJson, writeText } from './files.js';

/** Progress and interruption hooks every pipeline takes (the CLI fills them). */
export interface StageHooks {
  log?: (s: string) => void;
  signal?: AbortSignal;
  progress?: (what: string, done: number, total: number) => void;
}

export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Wall seconds per stage name (summed when a stage runs several times). */
export class StageTimer {
  readonly seconds: Record<string, number> = {};

  async timed<T>(name: string, f: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      this.seconds[name] = (this.seconds[name] ?? 0) + (performance.now() - t0) / 1000;
    }
  }
}

/** The outcome of a stage: go on, or stop the pipeline (interrupted by the signal, or nothing left to do). */
export type StageOutcome = 'done' | 'interrupted';

export interface Stage<C> {
  name: string;
  run(ctx: C): Promise<StageOutcome>;
}

/** Runs stages in order; stops at the first interrupted one. Returns whether the run was interrupted. */
export async function runStages<C>(stages: ReadonlyArray<Stage<C>>, ctx: C): Promise<boolean> {
  for (const s of stages) {
    if ((await s.run(ctx)) === 'interrupted') return true;
  }
  return false;
}

/**
 * A stage output kept as JSON: read from `file` when `reuse` and it exists,
 * otherwise computed and written (atomically) unless `compute` returns
 * undefined (interrupted: nothing to keep).
 */
export async function cachedJson<T>(file: string, reuse: boolean, compute: () => Promise<T | undefined>): Promise<T | undefined> {
  if (reuse && existsSync(file)) return readJson<T>(file);
  const v = await compute();
  if (v !== undefined) writeJson(file, v);
  return v;
}

/**
 * Writes a pipeline's report.json and report.md (rendered by `render`) into
 * `dir` atomically, with the peak RSS so far; called after every stage that
 * adds rows, so an interrupted run keeps them.
 */
export function writeRunReport<R extends { peakRssMiB: number }>(dir: string, report: R, render: (r: R) => string): R {
  report.peakRssMiB = peakRssMiB();
  writeJson(join(dir, 'report.json'), report);
  killPoint('report-write'); // kill -9 suite hook (src/io/files.ts)
  writeText(join(dir, 'report.md'), render(report));
  return report;
}
