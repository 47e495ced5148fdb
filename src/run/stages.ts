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
  /** Stop after this stage, its outputs written (`llmrec run ... --until`); a resume goes on from the next one. A name of the pipeline's stages. */
  until?: string;
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

/** How a pipeline's stages ended: every one ran, the signal interrupted one, or `until` stopped the run after its stage. */
export type StagesEnd = 'complete' | 'interrupted' | 'stopped';

/** The report.md lines of a run that `until` stopped (none otherwise). */
export function stoppedLines(stoppedAfter: string | undefined): string[] {
  return stoppedAfter === undefined ? [] : [`Stopped after stage '${stoppedAfter}' (\`--until\`): the later stages have not run; \`--resume\` goes on from the next one.`, ''];
}

/** Refuses an `until` that names none of the stages (before anything runs), listing them. */
export function checkUntil(stages: readonly string[], until: string | undefined): void {
  if (until !== undefined && !stages.includes(until)) {
    throw new Error(`--until: no stage '${until}' in this pipeline (its stages, in order: ${stages.join(', ')})`);
  }
}

/**
 * Runs stages in order; stops at the first interrupted one, or after the stage
 * named `until` ('stopped'; 'complete' when that is the last stage).
 */
export async function runStages<C>(stages: ReadonlyArray<Stage<C>>, ctx: C, until?: string): Promise<StagesEnd> {
  checkUntil(stages.map((s) => s.name), until);
  for (const [i, s] of stages.entries()) {
    if ((await s.run(ctx)) === 'interrupted') return 'interrupted';
    if (s.name === until && i < stages.length - 1) return 'stopped';
  }
  return 'complete';
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
