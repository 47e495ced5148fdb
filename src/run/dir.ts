/**
 * Opening a run directory (docs/DESIGN.md, "The run layer"; docs/HOSTILE.md,
 * "Run directories"). In this order:
 *
 *   1. checks that only read: on resume, the options file must hold the same
 *      options (except the mutable keys) and run.json the same data identity
 *      (dataset name + fingerprint, runData.ts); a refused resume leaves every
 *      file of the directory as it was, options file included;
 *   2. the directory is created and its lock taken (lock.ts): a second run of
 *      the same directory stops here with the other process named;
 *   3. temp files of atomic writes killed in an earlier run (`*.tmp-<pid>...`,
 *      `*.old-<pid>` whose folder was replaced) are deleted, counted in a message;
 *   4. the options file and run.json are written.
 *
 * `prepareRunDir` does 1-3 (for callers that must load data before they know
 * its identity), `commitRunDir` 4, `openRunDir` all of it.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readJson, writeJson } from './files.js';
import { acquireRunLock, LOCK_OWNER_ENV, pidAlive, type RunLock } from './lock.js';
import { sanitizeName } from './names.js';

/** What data a run directory was made with (run.json). */
export interface RunDataIdentity {
  /** The dataset's name, as the user knows it. */
  name: string;
  /** sha256 of the data after the protocol (runData.ts). */
  fingerprint: string;
}

export const RUN_FILE = 'run.json';

export interface OpenRunDirOptions {
  /** The file holding the options (default options.json). */
  file?: string;
  /** Keys that may change between runs of one directory (they add rows or change the evaluation size). */
  mutable?: readonly string[];
  resume: boolean;
  /** The data of this run: checked against run.json on resume, then recorded there. */
  data?: RunDataIdentity;
  /** Messages (stale lock taken over, temp files removed); default stderr. */
  log?: (s: string) => void;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The paths (a.b.c) where two JSON values differ, at most `max`, as "path: old in the run, new now". */
export function differences(a: unknown, b: unknown, path = '', out: string[] = [], max = 6): string[] {
  if (out.length >= max) return out;
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) differences(a[k], b[k], path ? `${path}.${k}` : k, out, max);
    return out;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path || '(root)'}: ${JSON.stringify(a) ?? 'absent'} in the run, ${JSON.stringify(b) ?? 'absent'} now`);
  return out;
}

/** Throws when `dir/<file>` exists and holds different options (except the mutable keys). Only reads. */
export function checkRunOptions(dir: string, options: Obj, o: OpenRunDirOptions): void {
  const file = join(dir, o.file ?? 'options.json');
  if (!o.resume || !existsSync(file)) return;
  const mutable = o.mutable ?? [];
  const strip = (x: Obj) => ({ ...x, ...Object.fromEntries(mutable.map((k) => [k, null])) });
  const stored = readJson<unknown>(file);
  if (!isObj(stored)) throw new Error(`${file}: not a JSON object of options (damaged run directory?)`);
  // Compared as JSON (undefined keys dropped), the way the file was written.
  const now = JSON.parse(JSON.stringify(strip(options))) as Obj;
  const diff = differences(strip(stored), now);
  if (diff.length) {
    throw new Error(`resume: ${file} holds different options than this run (${diff.join('; ')}); nothing was changed: start a new run directory or pass the same options`);
  }
}

/** Throws when run.json of `dir` records other data than `data` (on resume). Only reads. */
export function checkRunData(dir: string, data: RunDataIdentity | undefined, resume: boolean): void {
  if (!resume || !data) return;
  const file = join(dir, RUN_FILE);
  if (!existsSync(file)) return; // a run directory of an older llmrec, or one that never got its data loaded
  const stored = readJson<{ data?: Partial<RunDataIdentity> }>(file);
  const s = isObj(stored) && isObj(stored.data) ? stored.data : undefined;
  if (!s || typeof s.name !== 'string' || typeof s.fingerprint !== 'string') throw new Error(`${file}: field 'data' missing or not { name, fingerprint } (damaged run directory?)`);
  if (s.fingerprint !== data.fingerprint) {
    const same = s.name === data.name;
    throw new Error(`resume: ${dir} was made with dataset '${s.name}' (fingerprint ${s.fingerprint.slice(0, 12)}), this run loads `
      + `${same ? 'a different version of ' : ''}dataset '${data.name}' (fingerprint ${data.fingerprint.slice(0, 12)})`
      + `${same ? ' (its files or the protocol changed)' : ''}; nothing was changed: resume with the same data and protocol, or start a new run directory`);
  }
}

const TEMP_RE = /\.tmp-(\d+)(?:-\d+)?$/;
const OLD_RE = /^(.*)\.old-(\d+)$/;

/**
 * Deletes leftovers of atomic writes (src/util/fs.ts) killed in an earlier
 * process: `<name>.tmp-<pid>[-<time>]` files and folders, and `<name>.old-<pid>`
 * folders whose `<name>` exists (when it does not, the .old folder is the
 * surviving checkpoint the reader falls back to, and is kept). Only entries of
 * dead processes, or older than `since` (the pid was reused), and never this
 * process's or its lock owner's. Returns how many entries were deleted.
 */
export function cleanStaleTemps(dir: string, since: number, maxDepth = 6): number {
  const owner = Number(process.env[LOCK_OWNER_ENV]);
  const stale = (pid: number, mtimeMs: number) => pid !== process.pid && pid !== owner && (!pidAlive(pid) || mtimeMs < since);
  let removed = 0;
  const walk = (d: string, depth: number) => {
    let names: string[];
    try { names = readdirSync(d); } catch { return; }
    for (const name of names) {
      const p = join(d, name);
      let st;
      try { st = lstatSync(p); } catch { continue; }
      const tmp = TEMP_RE.exec(name);
      const old = OLD_RE.exec(name);
      if (tmp && stale(Number(tmp[1]), st.mtimeMs)) {
        rmSync(p, { recursive: true, force: true });
        removed++;
      } else if (old && st.isDirectory() && existsSync(join(d, old[1])) && stale(Number(old[2]), st.mtimeMs)) {
        rmSync(p, { recursive: true, force: true });
        removed++;
      } else if (st.isDirectory() && depth < maxDepth) {
        walk(p, depth + 1);
      }
    }
  };
  walk(dir, 0);
  return removed;
}

/**
 * Steps 1-3 of the module comment: read-only checks, then the directory, its
 * lock and the temp-file cleanup. Returns the lock (released at process exit
 * at the latest).
 */
export function prepareRunDir(dir: string, options: Obj, o: OpenRunDirOptions): RunLock {
  checkRunOptions(dir, options, o);
  checkRunData(dir, o.data, o.resume);
  mkdirSync(dir, { recursive: true });
  const log = o.log ?? ((s: string) => console.error(s));
  const lock = acquireRunLock(resolve(dir), log);
  try {
    // Again under the lock: another process may have written between the first check and the lock.
    checkRunOptions(dir, options, o);
    checkRunData(dir, o.data, o.resume);
    const n = cleanStaleTemps(dir, Date.parse(lock.info.started));
    if (n > 0) log(`run directory ${dir}: removed ${n} temp file${n === 1 ? '' : 's'} of an interrupted write (a killed earlier run)`);
  } catch (e) {
    lock.release();
    throw e;
  }
  return lock;
}

/** Step 4: writes the options file and, when given, run.json with the data identity. */
export function commitRunDir(dir: string, options: Obj, o: OpenRunDirOptions): void {
  writeJson(join(dir, o.file ?? 'options.json'), options);
  if (o.data) writeJson(join(dir, RUN_FILE), { format: 'llmrec-run', data: o.data });
}

/** Checks (before writing), locks, cleans and writes the options file (see the module comment). */
export function openRunDir(dir: string, options: Obj, o: OpenRunDirOptions): RunLock {
  const lock = prepareRunDir(dir, options, o);
  try {
    commitRunDir(dir, options, o);
  } catch (e) {
    lock.release();
    throw e;
  }
  return lock;
}

/** A directory name made of a dataset name (default run names): see `sanitizeName` in names.ts. */
export function safeName(name: string): string {
  return sanitizeName(name);
}
