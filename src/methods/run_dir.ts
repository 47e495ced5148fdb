/**
 * What every staged pipeline (`llmrec run ...`) does with its run directory:
 * JSON files written atomically and read with the file named in errors, the
 * options file checked on resume, per-stage wall times, the peak RSS.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';

export function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
}

export function writeJson(path: string, v: unknown): void {
  writeFileAtomic(path, JSON.stringify(v, null, 2) + '\n');
}

export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * Creates `dir` and writes `options.json`. On resume an existing file must
 * hold the same options except the `mutable` keys (which may change between
 * runs: they add rows or change the evaluation size).
 */
export function openRunDir(dir: string, options: Record<string, unknown>, mutable: readonly string[], resume: boolean): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'options.json');
  if (resume && existsSync(file)) {
    const strip = (x: Record<string, unknown>) => JSON.stringify({ ...x, ...Object.fromEntries(mutable.map((k) => [k, null])) });
    if (strip(readJson(file)) !== strip(options)) throw new Error(`resume: ${file} holds different options than this run; start a new run directory or pass the same options`);
  }
  writeJson(file, options);
}

/** Wall seconds per stage name (summed when a stage runs several times). */
export function stageTimer(): { seconds: Record<string, number>; timed: <T>(name: string, f: () => Promise<T> | T) => Promise<T> } {
  const seconds: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      seconds[name] = (seconds[name] ?? 0) + (performance.now() - t0) / 1000;
    }
  };
  return { seconds, timed };
}
