/**
 * One lock file per run directory (docs/HOSTILE.md, "Run directories"), so
 * two runs of the same directory never write over each other:
 *
 *   <run dir>/run.lock   { pid, host, started, command }
 *
 * Created exclusively (the content is written to a temp file that is then
 * hard-linked to run.lock: link(2) fails when run.lock exists, like an
 * O_EXCL create, and a reader never sees a half-written lock). A lock held
 * by a live process, or by another host, is an error naming that process; a
 * lock of a dead pid on this host is stale and taken over with a message.
 *
 * Released (deleted, when it is still ours) by `release()`, and by the
 * process's 'exit' event (normal end, errors that end in process.exit, a
 * second Ctrl-C); SIGTERM, and SIGINT when nothing else handles it, release
 * and exit with 128 + signal. A process holds one lock per directory; taking
 * it again in the same process (a test running two pipelines into one
 * directory) is allowed. Children started by the holder (`--isolate`) share
 * it through LLMREC_RUN_LOCK_OWNER=<holder pid>.
 */
import { linkSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'run.lock';
/** Set for child processes that work inside the holder's lock (`--isolate`). */
export const LOCK_OWNER_ENV = 'LLMREC_RUN_LOCK_OWNER';

export interface LockInfo {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  started: string;
  command: string;
}

export class RunLockError extends Error {}

/** Whether a process with this pid exists on this host (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock of `dir`, or null when there is none; a lock file that cannot be parsed is an error naming it. */
export function readLock(dir: string): LockInfo | null {
  const file = join(dir, LOCK_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new RunLockError(`${file}: cannot read the run lock (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid !== 'number' || typeof v.host !== 'string' || typeof v.started !== 'string') throw new Error('fields pid, host, started missing');
    return { pid: v.pid, host: v.host, started: v.started, command: typeof v.command === 'string' ? v.command : '' };
  } catch (e) {
    throw new RunLockError(`${file}: not a run lock of llmrec (${(e as Error).message}); if no run uses ${dir}, delete the file`);
  }
}

const held = new Map<string, RunLock>();
let handlersInstalled = false;

function releaseAll(): void {
  for (const l of [...held.values()]) l.release();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', releaseAll);
  process.on('SIGTERM', () => {
    releaseAll();
    process.exit(143);
  });
  const onSigint = () => {
    // The CLI's own SIGINT handler (stop after the batch, checkpoint) decides when to exit; the
    // 'exit' event then releases. Alone (a library user), SIGINT ends the process as it would have.
    if (process.listenerCount('SIGINT') === 1) {
      releaseAll();
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
}

/** A held lock (see the module comment). */
export class RunLock {
  readonly dir: string;
  readonly file: string;
  readonly info: LockInfo;
  /** Set when a stale lock of a dead process was taken over: what it was. */
  readonly tookOver: LockInfo | null;
  /** True when this process works inside its parent's lock (nothing to delete). */
  readonly shared: boolean;
  private released = false;

  constructor(dir: string, info: LockInfo, tookOver: LockInfo | null, shared: boolean) {
    this.dir = dir;
    this.file = join(dir, LOCK_FILE);
    this.info = info;
    this.tookOver = tookOver;
    this.shared = shared;
  }

  /** Deletes run.lock when it is still this process's lock (idempotent). */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.dir);
    if (this.shared) return;
    try {
      const cur = readLock(this.dir);
      if (cur && cur.pid === this.info.pid && cur.host === this.info.host && cur.started === this.info.started) rmSync(this.file, { force: true });
    } catch {
      // an unreadable lock is not ours: leave it
    }
  }
}

function describe(l: LockInfo): string {
  return `pid ${l.pid} on host ${l.host}, started ${l.started}${l.command ? ` (${l.command})` : ''}`;
}

/**
 * Takes the lock of `dir` (which must exist). `log` receives the take-over
 * message of a stale lock. Throws RunLockError when a live process holds it.
 */
export function acquireRunLock(dir: string, log: (s: string) => void = (s) => console.error(s)): RunLock {
  const mine = held.get(dir);
  if (mine) return mine;
  const file = join(dir, LOCK_FILE);
  const host = hostname();
  const info: LockInfo = { pid: process.pid, host, started: new Date().toISOString(), command: process.argv.slice(2).join(' ').slice(0, 300) };
  let tookOver: LockInfo | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
    writeFileSync(tmp, JSON.stringify(info) + '\n');
    try {
      linkSync(tmp, file);
      rmSync(tmp, { force: true });
      const lock = new RunLock(dir, info, tookOver, false);
      held.set(dir, lock);
      installHandlers();
      return lock;
    } catch (e) {
      rmSync(tmp, { force: true });
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RunLockError(`${file}: cannot create the run lock (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const other = readLock(dir);
    if (other === null) continue; // released meanwhile: try again
    const owner = Number(process.env[LOCK_OWNER_ENV]);
    if (other.host === host && (other.pid === process.pid || (other.pid === owner && pidAlive(owner)))) {
      const lock = new RunLock(dir, other, null, true);
      held.set(dir, lock);
      return lock;
    }
    if (other.host !== host) {
      throw new RunLockError(`run directory ${dir} is locked by ${describe(other)}, another host: if that run is gone, delete ${file}`);
    }
    if (pidAlive(other.pid)) {
      throw new RunLockError(`run directory ${dir} is in use by ${describe(other)}: wait for it to finish, or use another run directory`);
    }
    // Stale: the holder died (kill -9, power loss). Remove it only if it is still the same lock.
    let mtime: number;
    try { mtime = statSync(file).mtimeMs; } catch { continue; }
    const again = readLock(dir);
    if (again && again.pid === other.pid && again.started === other.started && statSync(file).mtimeMs === mtime) {
      rmSync(file, { force: true });
      tookOver = other;
      log(`run directory ${dir}: took over the stale lock of ${describe(other)} (that process no longer exists)`);
    }
  }
  throw new RunLockError(`${file}: could not take the run lock (it changed hands repeatedly)`);
}

/** The lock this process holds on `dir`, if any. */
export function heldLock(dir: string): RunLock | undefined {
  return held.get(dir);
}
