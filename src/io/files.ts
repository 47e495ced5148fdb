/**
 * Reading files that may be hostile: a model folder or a dataset can hold a
 * symlink to /dev/zero (endless), a FIFO (a read blocks forever), a folder
 * where a file is expected, or a file far larger than what it claims to be.
 * `regularFileSize` and `readRegularFile` accept only regular files (a
 * symlink is followed, and must end at a regular file), refuse them above a
 * stated byte bound before reading, and open with O_NONBLOCK so a FIFO that
 * appears between the check and the open cannot block. Errors name the file
 * and what kind of entry it is, never its contents (see docs/HOSTILE.md).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/** A file that is not a readable regular file within the bound. */
export class FileKindError extends Error {
  readonly file: string;
  constructor(file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'FileKindError';
    this.file = file;
  }
}

/** What kind of entry a stat result is, in words. */
export function entryKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/**
 * The size of `file` when it is a regular file (after following symlinks);
 * otherwise a FileKindError: missing, dangling symlink, folder, FIFO, device.
 * `what` names the role of the file in the message ('weights file', ...).
 */
export function regularFileSize(file: string, what = 'file', maxBytes = Number.MAX_SAFE_INTEGER): number {
  const l = lstatSync(file, { throwIfNoEntry: false });
  if (l === undefined) throw new FileKindError(file, `${what} not found`);
  const st = statSync(file, { throwIfNoEntry: false });
  if (st === undefined) throw new FileKindError(file, `${what} is a dangling symbolic link`);
  if (!st.isFile()) {
    const via = l.isSymbolicLink() ? 'a symbolic link to ' : '';
    throw new FileKindError(file, `${what} is ${via}${entryKind(st)}, expected a regular file`);
  }
  if (st.size > maxBytes) throw new FileKindError(file, `${what} has ${st.size} bytes, more than the limit of ${maxBytes}`);
  return st.size;
}

/**
 * Reads a whole regular file (see `regularFileSize`), at most `maxBytes`.
 * The open file is checked again with fstat (the path may have been swapped
 * after the first check) and exactly the stated size is read.
 */
export function readRegularFile(file: string, what = 'file', maxBytes = Number.MAX_SAFE_INTEGER): Buffer {
  regularFileSize(file, what, maxBytes);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new FileKindError(file, `cannot open ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileKindError(file, `${what} is ${entryKind(st)}, expected a regular file`);
    if (st.size > maxBytes) throw new FileKindError(file, `${what} has ${st.size} bytes, more than the limit of ${maxBytes}`);
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) throw new FileKindError(file, `${what} shrank while being read (${off} of ${st.size} bytes)`);
      off += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** `readRegularFile` as UTF-8 text. */
export function readRegularText(file: string, what = 'file', maxBytes = Number.MAX_SAFE_INTEGER): string {
  return readRegularFile(file, what, maxBytes).toString('utf8');
}

/**
 * Test hook of the kill -9 suite (test/kill.test.ts, docs/HOSTILE.md): when
 * LLMREC_TEST_KILL_AT is `<point>:<n>`, the n-th time (1-based) this process
 * reaches `killPoint(<point>)` it sends SIGKILL to itself, so the write in
 * progress is cut exactly there (no handler, no cleanup: as with kill -9).
 * Points: checkpoint-tmp (the temp checkpoint folder half written),
 * checkpoint-best (best.safetensors written into it, the rest not),
 * checkpoint-before-rename (temp folder complete, not renamed),
 * checkpoint-after-rename (renamed, before anything else), report-write (the
 * run report half written: JSON written, Markdown not). Unset (always, outside
 * tests): a no-op.
 */
const killCounts = new Map<string, number>();
export function killPoint(point: string): void {
  const spec = process.env.LLMREC_TEST_KILL_AT;
  if (!spec) return;
  const i = spec.lastIndexOf(':');
  if (spec.slice(0, i) !== point) return;
  const n = (killCounts.get(point) ?? 0) + 1;
  killCounts.set(point, n);
  if (n === Number(spec.slice(i + 1))) process.kill(process.pid, 'SIGKILL');
}
