/**
 * Where datasets live. One resolver for every data location:
 *
 *   dataRoot()              env LLMREC_DATA_DIR, else <repo root>/../shared/data
 *   resolveDataset(x)       an existing path is used as is, else <dataRoot>/<x>;
 *                           `$LLMREC_DATA_DIR/<rest>` (how run directories record
 *                           paths under the data root) is <dataRoot>/<rest>
 *   dataAvailable(name)     true when resolveDataset(name) would succeed (tests skip on false)
 *
 * The repo root is two levels above this file (src/data or dist/data), found
 * through import.meta.url, so it works from sources (tsx) and from the build.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: two levels above src/data (or dist/data). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Thrown when a dataset name or path resolves to nothing; lists every path tried. */
export class DatasetNotFoundError extends Error {
  readonly tried: string[];
  constructor(nameOrPath: string, tried: string[]) {
    super(
      `dataset '${nameOrPath}' not found; tried:\n` +
        tried.map((t) => `  - ${t}`).join('\n') +
        `\n(set LLMREC_DATA_DIR to the folder holding the datasets, or pass an existing path)`,
    );
    this.name = 'DatasetNotFoundError';
    this.tried = tried;
  }
}

/** The folder holding the datasets: env LLMREC_DATA_DIR, default <repo root>/../shared/data. */
export function dataRoot(): string {
  const env = process.env.LLMREC_DATA_DIR;
  return env !== undefined && env.trim() !== '' ? resolve(env) : resolve(repoRoot, '..', 'shared', 'data');
}

/** The marker of a path under the data root in recorded configurations (src/run/paths.ts writes it). */
export const DATA_DIR_PREFIX = '$LLMREC_DATA_DIR/';

/** Candidate paths for a dataset name or path, in the order they are tried. */
function candidates(nameOrPath: string): string[] {
  if (nameOrPath.startsWith(DATA_DIR_PREFIX)) return [resolve(dataRoot(), nameOrPath.slice(DATA_DIR_PREFIX.length))];
  const out = [resolve(nameOrPath)];
  if (!isAbsolute(nameOrPath)) {
    const underRoot = resolve(dataRoot(), nameOrPath);
    if (underRoot !== out[0]) out.push(underRoot);
  }
  return out;
}

/**
 * Path of a dataset folder or file: an existing path is used as is, otherwise
 * `<dataRoot>/<nameOrPath>`. Throws a DatasetNotFoundError listing what was tried.
 */
export function resolveDataset(nameOrPath: string): string {
  if (nameOrPath.trim() === '') throw new DatasetNotFoundError(nameOrPath, []);
  const tried = candidates(nameOrPath);
  for (const p of tried) if (existsSync(p)) return p;
  throw new DatasetNotFoundError(nameOrPath, tried);
}

/** Whether a dataset name or path resolves (tests use it to skip with a clear message). */
export function dataAvailable(nameOrPath: string): boolean {
  if (nameOrPath.trim() === '') return false;
  return candidates(nameOrPath).some((p) => existsSync(p));
}
