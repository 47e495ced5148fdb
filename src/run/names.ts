/**
 * Safe names (docs/HOSTILE.md, "Run directories"): every string from the
 * user that becomes one path component inside a run directory (`--name` /
 * output.name, model labels, prompt-template ids, stage folders) must be a
 * safe name, or the command stops with an error naming the flag or field,
 * before anything is written. A safe name is one plain file name on every
 * system the runs may be copied to:
 *
 *   1-128 characters from A-Z a-z 0-9 . _ - + = @ , not starting with '.'
 *   or '-' (no '.', '..', hidden files, option-like names), not ending with
 *   '.', and not a Windows device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9,
 *   with or without an extension).
 *
 * Separators ('/', '\'), NUL, spaces and every other character are refused
 * rather than replaced: a replaced name could collide with another run's.
 * `runPath` joins checked components under a root and checks the result is
 * inside it. `sanitizeName` is for names llmrec makes itself from a dataset
 * name (default run names), where replacing is the right thing.
 */
import { isAbsolute, join, relative, resolve } from 'node:path';
import { z } from 'zod';

export const SAFE_NAME_MAX = 128;
const SAFE_CHARS = /^[A-Za-z0-9._\-+=@]+$/;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/** A path component from the user that is not a safe name (see the module comment). */
export class UnsafeNameError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'UnsafeNameError';
    this.field = field;
  }
}

/** Why `name` is not a safe name, or null when it is one. */
export function unsafeNameReason(name: string): string | null {
  if (name.length === 0) return 'it is empty';
  if (name.length > SAFE_NAME_MAX) return `it has ${name.length} characters, more than ${SAFE_NAME_MAX}`;
  if (name.includes('\0')) return 'it contains a NUL character';
  if (name.includes('/') || name.includes('\\')) return 'it contains a path separator';
  if (name === '.' || name === '..') return `'${name}' names a folder, not a new entry`;
  if (!SAFE_CHARS.test(name)) {
    const bad = [...name].find((c) => !SAFE_CHARS.test(c)) ?? '';
    return `it contains ${JSON.stringify(bad)}; allowed are letters, digits and . _ - + = @`;
  }
  if (name.startsWith('.') || name.startsWith('-')) return `it starts with '${name[0]}'`;
  if (name.endsWith('.')) return "it ends with '.'";
  if (WINDOWS_RESERVED.test(name)) return 'it is a reserved device name on Windows';
  return null;
}

/** A name as shown in messages: JSON-quoted (NUL and control characters visible), shortened. */
export function showName(name: string): string {
  const q = JSON.stringify(name);
  return q.length > 60 ? `${q.slice(0, 40)}..." (${name.length} characters)` : q;
}

/** Returns `name` when it is a safe name; otherwise an UnsafeNameError naming `field` (a flag or config field). */
export function checkSafeName(name: string, field: string): string {
  const why = unsafeNameReason(name);
  if (why !== null) {
    throw new UnsafeNameError(field, `${field} ${showName(name)} is not a safe name for a file or folder: ${why} `
      + `(a safe name has 1-${SAFE_NAME_MAX} characters from A-Z a-z 0-9 . _ - + = @, does not start with '.' or '-' and is not a Windows device name)`);
  }
  return name;
}

/** The zod form of `checkSafeName` for config schemas (the field path is added by the formatter). */
export const SafeNameSchema = z.string().superRefine((v, ctx) => {
  const why = unsafeNameReason(v);
  if (why !== null) ctx.addIssue({ code: 'custom', message: `${showName(v)} is not a safe name for a file or folder: ${why}` });
});

/**
 * `root/<parts...>` where each part is checked as a safe name (`[name, field]`
 * pairs); the result is checked to lie inside `root` (defence in depth).
 */
export function runPath(root: string, ...parts: Array<readonly [name: string, field: string]>): string {
  for (const [name, field] of parts) checkSafeName(name, field);
  const p = join(root, ...parts.map(([n]) => n));
  const rel = relative(resolve(root), resolve(p));
  if (rel.startsWith('..') || isAbsolute(rel)) throw new UnsafeNameError(parts.map(([, f]) => f).join(', '), `${p} lies outside ${root}`);
  return p;
}

/**
 * A safe name made of any string (a dataset name or path, for default run
 * names): runs of other characters become '_', leading '.'/'-'/'_' and trailing
 * '.' are dropped, at most 100 characters, never empty or a device name.
 */
export function sanitizeName(name: string, fallback = 'data'): string {
  let s = name.replace(/[^A-Za-z0-9._\-+=@]+/g, '_').replace(/^[._-]+/, '').slice(0, 100).replace(/\.+$/, '');
  if (s === '' || WINDOWS_RESERVED.test(s)) s = s === '' ? fallback : `${s}_`;
  return s;
}
