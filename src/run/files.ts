/**
 * Files of a run directory: JSON written atomically (a crash never leaves a
 * half-written file) and read with the file named in errors.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/fs.js';

export function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Pretty-printed JSON with a final newline, written atomically. */
export function writeJson(path: string, v: unknown): void {
  writeFileAtomic(path, JSON.stringify(v, null, 2) + '\n');
}

export function writeText(path: string, text: string): void {
  writeFileAtomic(path, text);
}
