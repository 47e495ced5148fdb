/**
 * Files of a run directory: JSON written atomically (a crash never leaves a
 * half-written file) and read with the file named in errors: a missing,
 * empty, truncated or otherwise damaged file is an error naming the file and
 * what is wrong (docs/HOSTILE.md, "Run directories").
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/fs.js';

/** Parses JSON text read from `path`; errors name the file (empty, truncated, not JSON). */
export function parseJsonFile<T>(path: string, text: string): T {
  if (text.trim() === '') throw new Error(`${path}: the file is empty (damaged run directory? an interrupted copy?)`);
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as T;
  } catch (e) {
    throw new Error(`${path}: not valid JSON, truncated or damaged (${(e as Error).message})`, { cause: e });
  }
}

export function readJson<T>(path: string): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: ${code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? (e as Error).message})`}`, { cause: e });
  }
  return parseJsonFile<T>(path, text);
}

/** Pretty-printed JSON with a final newline, written atomically. */
export function writeJson(path: string, v: unknown): void {
  writeFileAtomic(path, JSON.stringify(v, null, 2) + '\n');
}

export function writeText(path: string, text: string): void {
  writeFileAtomic(path, text);
}
