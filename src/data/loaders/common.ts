/**
 * Shared machinery of the loaders: a streaming line reader (plain or gzip,
 * strict UTF-8 or latin-1, never the whole file in one string), the row loop
 * that turns a row's problem into a DataError (or a counted skip), a CSV
 * record splitter (RFC 4180 quotes, records spanning lines) and strict field
 * parsers (numbers, ids, JSON values) that name the field at fault.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DataError } from '../errors.js';
import { finiteNumber, jsonNumberId, parseNumber } from './numbers.js';
import { RowError, clip } from './row_error.js';

export { RowError, clip } from './row_error.js';

export { parseNumber } from './numbers.js';

/** Options every loader takes. */
export interface LoadOptions {
  /** Skip malformed rows (counted in RawDataset.skippedRows) instead of throwing on the first. */
  skipBadRows?: boolean;
  /** Dataset name in the result (default: the folder or file name). */
  name?: string;
}

/** Text encodings the reader knows: strict UTF-8 or ISO-8859-1 (every byte is a character). */
export type TextEncoding = 'utf8' | 'latin1';


/** Lines of one chunk of a file. */
export interface LineBatch {
  lines: string[];
  /** 1-based line number of lines[0]. */
  firstLine: number;
  /** Indices (into lines) of lines that are not valid UTF-8 (decoded with U+FFFD); utf8 only. */
  invalid: Set<number> | null;
}

const CHUNK = 1 << 20;

function fileError(file: string, detail: string): DataError {
  return new DataError(file, undefined, undefined, detail);
}

/** True when the file starts with the gzip magic bytes. */
export async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    return bytesRead === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Throws a DataError unless `file` is an existing regular file. */
export function requireFile(file: string, what = 'file'): void {
  if (!existsSync(file)) throw fileError(file, `${what} not found`);
  if (!statSync(file).isFile()) throw fileError(file, `${what} is not a regular file`);
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

function isValidUtf8(b: Uint8Array): boolean {
  try {
    utf8Fatal.decode(b);
    return true;
  } catch {
    return false;
  }
}

/**
 * Longest line the reader accepts (bytes, after decompression): env
 * LLMREC_MAX_LINE_BYTES, else 64 MiB. A longer line is a DataError naming
 * the file and line instead of an unbounded allocation (docs/HOSTILE.md).
 */
export function maxLineBytes(): number {
  const env = process.env.LLMREC_MAX_LINE_BYTES;
  if (env === undefined || env === '') return 64 * CHUNK;
  const n = Number(env);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`LLMREC_MAX_LINE_BYTES must be a positive integer, got '${env}'`);
  return n;
}

/**
 * Largest expansion of a gzip file that is accepted once more than 32 MiB
 * came out of it: text compresses 3-20x, a decompression bomb (zeros, one
 * repeated byte) 1000x. Above it the file is refused as a likely bomb.
 */
export const MAX_GZIP_RATIO = 200;
const GZIP_RATIO_FLOOR = 32 * CHUNK;

/** Index just past the last line terminator (LF, CR, CRLF) of `buf`, or -1; a CR at the very end is left for the next chunk (it may be a CRLF). */
function lastBreak(buf: Buffer): number {
  for (let i = buf.length - 1; i >= 0; i--) {
    const c = buf[i];
    if (c === 10) return i + 1;
    if (c === 13 && i < buf.length - 1) return i + 1;
  }
  return -1;
}

const LINE_BREAK = /\r\n|\r|\n/;

/**
 * Streams a text file (gzip detected by magic bytes) as batches of lines.
 * Lines end at LF, CRLF or a lone CR (old Mac files); a UTF-8 BOM is
 * dropped. A file with no bytes is a DataError, and so is a line longer
 * than `maxLineBytes()` or a gzip stream that expands more than
 * MAX_GZIP_RATIO times. Reading is linear in the file size however long the
 * lines are. UTF-8 is decoded strictly: lines with invalid bytes are
 * reported in `invalid` (the row parsers turn them into errors naming the
 * field).
 */
export async function* readLineBatches(file: string, encoding: TextEncoding = 'utf8'): AsyncGenerator<LineBatch> {
  requireFile(file);
  const gz = await isGzip(file);
  const compressed = gz ? statSync(file).size : 0;
  const maxLine = maxLineBytes();
  const raw = createReadStream(file, { highWaterMark: CHUNK });
  let source: Readable = raw;
  if (gz) {
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    raw.on('error', (e) => gunzip.destroy(e));
    source = raw.pipe(gunzip);
  }
  // The unfinished last line, as a list of chunks (joined once it ends: linear, not quadratic).
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let lineNo = 1;
  let total = 0;
  let first = true;
  const decode = (buf: Buffer): LineBatch => {
    let text = buf.toString(encoding);
    if (first) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const hasCr = text.includes('\r');
    const lines = hasCr ? text.split(LINE_BREAK) : text.split('\n');
    for (let i = 0; i < lines.length; i++) if (lines[i].length > maxLine) throw tooLong(lineNo + i);
    let invalid: Set<number> | null = null;
    if (encoding === 'utf8' && text.includes('\uFFFD')) {
      // Locate the lines whose bytes are not valid UTF-8 (a real U+FFFD is fine).
      // CR and LF are ASCII, never inside a multi-byte sequence: byte and text splits agree.
      let start = 0;
      for (let i = 0; i < lines.length; i++) {
        let end = start;
        while (end < buf.length && buf[end] !== 10 && buf[end] !== 13) end++;
        if (lines[i].includes('\uFFFD') && !isValidUtf8(buf.subarray(start, end))) (invalid ??= new Set()).add(i);
        start = end + (buf[end] === 13 && buf[end + 1] === 10 ? 2 : 1);
      }
    }
    const batch = { lines, firstLine: lineNo, invalid };
    lineNo += lines.length;
    return batch;
  };
  const tooLong = (line: number): DataError =>
    new DataError(file, line, undefined, `line is longer than ${maxLine} bytes (env LLMREC_MAX_LINE_BYTES; is this a text file of the expected format?)`);
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (gz && total > GZIP_RATIO_FLOOR && total > MAX_GZIP_RATIO * compressed) {
        throw fileError(file, `gzip data expands more than ${MAX_GZIP_RATIO} times (${total} bytes from ${compressed}): refused as a likely decompression bomb`);
      }
      const cut = lastBreak(chunk);
      if (cut < 0) {
        carry.push(chunk);
        carryBytes += chunk.length;
        if (carryBytes > maxLine) throw tooLong(lineNo);
        continue;
      }
      const head = chunk.subarray(0, cut);
      const buf = carry.length > 0 ? Buffer.concat([...carry, head]) : head;
      carry = cut < chunk.length ? [Buffer.from(chunk.subarray(cut))] : [];
      carryBytes = chunk.length - cut;
      // Drop the final terminator so that split() does not yield an empty last line.
      let end = buf.length;
      if (buf[end - 1] === 10) end--;
      if (end > 0 && buf[end - 1] === 13) end--;
      yield decode(buf.subarray(0, end));
    }
  } catch (e) {
    if (e instanceof DataError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw fileError(file, gz ? `cannot decompress gzip data: ${msg}` : `cannot read: ${msg}`);
  } finally {
    raw.destroy();
    if (source !== raw) source.destroy();
  }
  if (total === 0) throw fileError(file, 'file is empty');
  if (carryBytes > 0) {
    const buf = Buffer.concat(carry);
    // A lone CR held back at the very end of the file is a terminator.
    yield decode(buf[buf.length - 1] === 13 ? buf.subarray(0, buf.length - 1) : buf);
  }
}

/** The first non-blank line of a file (for format sniffing), or null. */
export async function firstLine(file: string, encoding: TextEncoding = 'utf8'): Promise<string | null> {
  for await (const batch of readLineBatches(file, encoding)) {
    for (const l of batch.lines) if (l.trim() !== '') return l;
  }
  return null;
}

/** Options of the row loop. */
export interface RowLoopOptions {
  encoding?: TextEncoding;
  skipBadRows?: boolean;
}

/**
 * Calls `fn` on every non-blank line (with its 1-based number). A RowError
 * thrown by `fn` becomes a DataError (file, line, field) or, with
 * skipBadRows, a skipped row; other errors (e.g. a DataError about a header)
 * propagate. Invalid UTF-8 lines are passed with `invalidUtf8` set so that
 * the parser can name the field holding the bad bytes (see `checkText`).
 * Returns the number of skipped rows.
 */
export async function forEachLine(
  file: string,
  opts: RowLoopOptions,
  fn: (line: string, lineNo: number, invalidUtf8: boolean) => void,
): Promise<number> {
  let skipped = 0;
  for await (const { lines, firstLine: first, invalid } of readLineBatches(file, opts.encoding ?? 'utf8')) {
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.length === 0 || line.trim().length === 0) continue;
      try {
        fn(line, first + i, invalid !== null && invalid.has(i));
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        if (opts.skipBadRows) skipped++;
        else throw new DataError(file, first + i, e.field, e.message);
      }
    }
  }
  return skipped;
}

/** Thrown when a line ends inside a quoted CSV field (the record continues on the next line). */
const UNTERMINATED = Symbol('unterminated');

/** Splits one CSV record (RFC 4180 quoting); UNTERMINATED when a quote is still open at the end. */
function splitCsv(text: string, delim: string): string[] | typeof UNTERMINATED {
  if (!text.includes('"')) return text.split(delim);
  const out: string[] = [];
  let i = 0;
  const n = text.length;
  for (;;) {
    if (i < n && text[i] === '"') {
      let val = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return UNTERMINATED;
        val += text.slice(i, q);
        if (text[q + 1] === '"') {
          val += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      // Anything between the closing quote and the delimiter is kept verbatim.
      const d = text.indexOf(delim, i);
      const end = d < 0 ? n : d;
      val += text.slice(i, end);
      out.push(val);
      if (d < 0) return out;
      i = d + delim.length;
    } else {
      const d = text.indexOf(delim, i);
      if (d < 0) {
        out.push(text.slice(i));
        return out;
      }
      out.push(text.slice(i, d));
      i = d + delim.length;
    }
  }
}

/**
 * Calls `fn` on every CSV/TSV record: fields split on `delimiter` with
 * RFC 4180 quotes (a quoted field may span lines; `lineNo` is the record's
 * first line). Error handling as in forEachLine.
 */
export async function forEachRecord(
  file: string,
  delimiter: string,
  opts: RowLoopOptions & { quotes?: boolean },
  fn: (fields: string[], lineNo: number, invalidUtf8: boolean) => void,
): Promise<number> {
  const quotes = opts.quotes ?? true;
  const maxLine = maxLineBytes();
  // A record whose quoted field spans lines: its lines so far. It can only end on a line holding a '"',
  // so other lines are appended without re-splitting (linear, however far an unclosed quote runs).
  let pending: string | null = null;
  let pendingParts: string[] = [];
  let pendingLength = 0;
  let pendingLine = 0;
  let pendingInvalid = false;
  let skipped = 0;
  const run = (fields: string[], lineNo: number, invalid: boolean): void => {
    try {
      fn(fields, lineNo, invalid);
    } catch (e) {
      if (!(e instanceof RowError)) throw e;
      if (opts.skipBadRows) skipped++;
      else throw new DataError(file, lineNo, e.field, e.message);
    }
  };
  for await (const { lines, firstLine: first, invalid } of readLineBatches(file, opts.encoding ?? 'utf8')) {
    for (let i = 0; i < lines.length; i++) {
      const bad = invalid !== null && invalid.has(i);
      if (pending !== null) {
        pendingParts.push(lines[i]);
        pendingLength += lines[i].length + 1;
        pendingInvalid ||= bad;
        if (pendingLength > maxLine) {
          throw new DataError(file, pendingLine, undefined, `quoted field runs over more than ${maxLine} characters (a " is never closed?)`);
        }
        if (!lines[i].includes('"')) continue;
        pending = pendingParts.join('\n');
        pendingParts = [pending];
        const f = splitCsv(pending, delimiter);
        if (f !== UNTERMINATED) {
          pending = null;
          pendingParts = [];
          run(f, pendingLine, pendingInvalid);
        }
        continue;
      }
      const line = lines[i];
      if (line.length === 0 || line.trim().length === 0) continue;
      const f = quotes ? splitCsv(line, delimiter) : line.split(delimiter);
      if (f === UNTERMINATED) {
        pending = line;
        pendingParts = [line];
        pendingLength = line.length;
        pendingLine = first + i;
        pendingInvalid = bad;
        continue;
      }
      run(f, first + i, bad);
    }
  }
  if (pending !== null) {
    if (opts.skipBadRows) skipped++;
    else throw new DataError(file, pendingLine, undefined, 'unterminated quoted field (a " is never closed)');
  }
  return skipped;
}

/** Throws a RowError naming the field when a line with invalid UTF-8 has its bad bytes in `value`. */
export function checkText(invalidUtf8: boolean, field: string, value: string): void {
  if (invalidUtf8 && value.includes('\uFFFD')) {
    throw new RowError(field, `invalid UTF-8 bytes in '${clip(value)}' (is the file latin-1? U+FFFD marks the bad bytes)`);
  }
}


/** A non-empty id (trimmed), else a RowError naming the field. */
export function parseId(s: string | undefined, field: string): string {
  if (s === undefined) throw new RowError(field, 'missing');
  const t = s.trim();
  if (t === '') throw new RowError(field, 'empty id');
  return t;
}

/** Checks that a split line has exactly the expected fields; names the first missing one. */
export function expectFields(fields: string[], names: readonly string[], sep: string): void {
  if (fields.length < names.length) {
    throw new RowError(
      names[fields.length],
      `missing (line has ${fields.length} of ${names.length} ${sep}-separated fields: ${names.join(' ')})`,
    );
  }
  if (fields.length > names.length) {
    throw new RowError(undefined, `line has ${fields.length} ${sep}-separated fields, expected ${names.length} (${names.join(' ')})`);
  }
}

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A required id-like value of a JSON object (string, or an integer written as a number). */
export function jsonId(obj: JsonObject, key: string): string {
  const v = obj[key];
  if (v === undefined || v === null) throw new RowError(key, 'missing');
  if (typeof v === 'number') return jsonNumberId(v, key);
  if (typeof v !== 'string') throw new RowError(key, `expected a string id, got ${JSON.stringify(v).slice(0, 40)}`);
  return parseId(v, key);
}

/** A required number of a JSON object (a number, or a string holding a strict number). */
export function jsonNumber(obj: JsonObject, key: string): number {
  const v = obj[key];
  if (v === undefined || v === null) throw new RowError(key, 'missing');
  if (typeof v === 'number') return finiteNumber(v, key);
  if (typeof v === 'string') return parseNumber(v, key);
  throw new RowError(key, `expected a number, got ${JSON.stringify(v).slice(0, 40)}`);
}

/** An optional string-ish value of a JSON object ('' when absent or null). */
export function jsonText(obj: JsonObject, key: string): string {
  const v = obj[key];
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new RowError(key, `expected text, got ${Array.isArray(v) ? 'a list' : 'an object'}`);
}

/** Names the key of an object whose string value holds U+FFFD from invalid UTF-8 bytes. */
export function checkJsonText(invalidUtf8: boolean, obj: JsonObject): void {
  if (!invalidUtf8) return;
  for (const [k, v] of Object.entries(obj)) {
    if (JSON.stringify(v).includes('\uFFFD')) checkText(true, k, typeof v === 'string' ? v : JSON.stringify(v));
  }
  throw new RowError(undefined, 'invalid UTF-8 bytes on this line');
}

/** Parses a JSON line into an object, else a RowError. */
export function parseJsonObject(line: string): JsonObject {
  let v: Json;
  try {
    v = JSON.parse(line) as Json;
  } catch (e) {
    throw new RowError(undefined, `invalid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(v)) throw new RowError(undefined, 'expected a JSON object on each line');
  return v;
}

/** Reads and parses a whole (small) JSON file, e.g. datamaps.json; DataError on failure. */
export async function readJsonFile(file: string): Promise<Json> {
  let text = '';
  for await (const { lines, invalid } of readLineBatches(file, 'utf8')) {
    if (invalid !== null) throw new DataError(file, undefined, undefined, 'invalid UTF-8');
    text += (text === '' ? '' : '\n') + lines.join('\n');
  }
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    throw new DataError(file, undefined, undefined, `invalid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Reads a small text file whole and picks its encoding: strict UTF-8 when
 * the bytes are valid UTF-8, else latin-1. Used for MovieLens item tables,
 * which are latin-1 in the originals but UTF-8 in some re-encoded copies.
 */
export async function sniffEncoding(file: string): Promise<TextEncoding> {
  requireFile(file);
  if (await isGzip(file)) return 'utf8';
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size > 64 * CHUNK) return 'utf8'; // large files: assume UTF-8, strict decoding still reports bad bytes
    const b = Buffer.alloc(size);
    await fh.read(b, 0, size, 0);
    return isValidUtf8(b) ? 'utf8' : 'latin1';
  } finally {
    await fh.close();
  }
}

/** The encoding to read a file with: the given one, or (undefined / 'auto') the one `sniffEncoding` picks. */
export async function resolveEncoding(file: string, encoding: TextEncoding | 'auto' | undefined): Promise<TextEncoding> {
  return encoding === undefined || encoding === 'auto' ? await sniffEncoding(file) : encoding;
}

/** Names of the entries of a folder (empty when it is not a folder). */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** `join(dir, name)` when that file exists, else null. */
export function fileIn(dir: string, name: string): string | null {
  const p = join(dir, name);
  return existsSync(p) && statSync(p).isFile() ? p : null;
}

/** Default dataset name: the folder name (or the file name without extensions). */
export function defaultName(path: string, isDir: boolean): string {
  const b = basename(path);
  return isDir ? b : b.replace(/(\.[A-Za-z0-9]+)+$/, '');
}

/** A loader target: the dataset folder and its main file (a folder path picks `defaultFile` in it). */
export function target(path: string, defaultFile: string): { dir: string; file: string; isDir: boolean } {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  if (isDir) return { dir: path, file: join(path, defaultFile), isDir };
  return { dir: dirname(path), file: path, isDir };
}
