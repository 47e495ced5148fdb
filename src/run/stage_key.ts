/**
 * Stage keys (docs/DESIGN.md, "The run layer"): the options a stage's outputs
 * were made with, kept beside them in their folder as stage-key.json.
 *
 * A run directory refuses a resume with other options (dir.ts), except for the
 * keys a pipeline declares mutable. Some mutable keys only add rows (recipes);
 * others change how one stage trains (the GANPrompt pipeline's LoRA and
 * mapping settings). Outputs made with the latter carry a stage key: on resume
 * a folder whose key differs from the one this run would write is moved aside
 * and made again, and every other output is reused. A key includes the keys
 * of the outputs it was made from, so what depends on a changed output is
 * redone too.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { differences } from './dir.js';
import { readJson, writeJson } from './files.js';

export const STAGE_KEY_FILE = 'stage-key.json';

/** The key as it reads back from its file (undefined fields dropped), so that equal keys compare equal. */
const asStored = (key: unknown): unknown => JSON.parse(JSON.stringify(key)) as unknown;

/**
 * Where the outputs in `dir` were made with other options than `key` ([] when
 * they match, or when there are no outputs). A folder without a key file was
 * made before stage keys, with the options of the run's previous opening:
 * `previous` (the key those options give); without it the folder is taken as
 * matching, which is what a resume did before stage keys. Only reads.
 */
export function staleStageKey(dir: string, key: unknown, previous?: unknown): string[] {
  if (!existsSync(dir)) return [];
  const file = join(dir, STAGE_KEY_FILE);
  const stored = existsSync(file) ? readJson<unknown>(file) : previous;
  if (stored === undefined) return [];
  return differences(asStored(stored), asStored(key));
}

/**
 * Replaces `dir` by an empty folder holding only `key`. The old folder is
 * renamed first (one atomic step), the new one made, then the old one deleted:
 * a process killed on the way leaves `<dir>.old-<pid>`, which a later opening
 * of the run directory deletes (dir.ts, cleanStaleTemps), and never a
 * half-deleted folder that would be read as outputs.
 */
export function resetStageDir(dir: string, key: unknown): void {
  const old = `${dir}.old-${process.pid}`;
  const moved = existsSync(dir);
  if (moved) {
    rmSync(old, { recursive: true, force: true });
    renameSync(dir, old);
  }
  writeStageKey(dir, key);
  if (moved) rmSync(old, { recursive: true, force: true });
}

/**
 * The one call a stage makes before it reads or writes its folder: on
 * resume, outputs in `dir` made with other options than `key` are moved
 * aside (the stage is then made again, and `log` says which field changed);
 * `key` is written there in every case. `previous`: the key of outputs made
 * before stage keys (see staleStageKey).
 */
export function openStageDir(dir: string, key: unknown, o: { resume: boolean; previous?: unknown; what: string; log: (s: string) => void }): void {
  const stale = o.resume ? staleStageKey(dir, key, o.previous) : [];
  if (stale.length) {
    o.log(`${o.what} was made with other options (${stale.join('; ')}): made again`);
    resetStageDir(dir, key);
  } else {
    writeStageKey(dir, key);
  }
}

/** Writes `dir/stage-key.json` (atomically), creating `dir`. */
export function writeStageKey(dir: string, key: unknown): void {
  mkdirSync(dir, { recursive: true });
  writeJson(join(dir, STAGE_KEY_FILE), key);
}
