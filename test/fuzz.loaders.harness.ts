/**
 * Fuzzing of the data loaders (issue 15; results in docs/HOSTILE.md).
 *
 * For every loader a seeded generator writes a small valid dataset; a case
 * mutates its interactions file (field values from a hostile list, line
 * endings, BOM, blank lines, whitespace, duplicated / dropped / swapped lines,
 * truncation, byte flips and inserts, gzip, gzip then truncation, several at
 * once) and loads it. An oracle, written apart from the loaders from their
 * documented formats, says what the mutated bytes mean: the rows
 * (user, item, time, rating) a correct loader returns, or 'reject'. Each case
 * is then classified:
 *
 *   clean error       the loader threw a DataError and the oracle rejects
 *   accepted-correct  the loader returned exactly the oracle's rows
 *   silent wrong      the loader returned rows the oracle rejects or that differ
 *   refused valid     the loader threw a DataError but the oracle accepts
 *   crash / hang      any other exception, or the case took longer than the bound
 *
 * Used by test/fuzz.loaders.test.ts (a few hundred cases per loader) and
 * `npm run fuzz` (scripts/fuzz.ts, thousands).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  DataError,
  loadAmazon2023,
  loadAmazonReviews,
  loadGeneric,
  loadMl100k,
  loadMovielensCsv,
  loadMovielensDat,
  loadRecbole,
  loadS3Rec,
  parsePythonLiteral,
} from '../src/data/loaders/index.js';
import type { RawDataset } from '../src/data/types.js';

// ----------------------------------------------------------------- random

/** mulberry32: a small seeded generator (the fuzz must be reproducible from its seed). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
}

// ----------------------------------------------------------------- oracle helpers

/** One interaction as the oracle and the comparison see it. */
export type Row = [user: string, item: string, time: number | null, rating: number | null];
export type Verdict = Row[] | 'reject';

/** Thrown inside an oracle: the input must be refused. */
class Reject extends Error {}
const reject = (why: string): never => {
  throw new Reject(why);
};

const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder('utf-8', { ignoreBOM: true });

/** A decoded line: its text and whether its bytes were valid UTF-8. */
interface Line {
  text: string;
  bad: boolean;
}

/** The file's lines as the formats define them: gunzip if gzip, split at LF / CRLF / CR, BOM dropped, UTF-8 checked per line. */
export function oracleLines(bytes: Buffer): Line[] {
  let b = bytes;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    try {
      b = gunzipSync(b);
    } catch {
      reject('corrupt gzip');
    }
  }
  if (b.length === 0) reject('empty');
  const out: Line[] = [];
  let start = 0;
  const push = (end: number): void => {
    const part = b.subarray(start, end);
    let text: string;
    let bad = false;
    try {
      text = fatal.decode(part);
    } catch {
      text = lenient.decode(part);
      bad = true;
    }
    out.push({ text, bad });
  };
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0a || b[i] === 0x0d) {
      push(i);
      if (b[i] === 0x0d && b[i + 1] === 0x0a) i++;
      start = i + 1;
    }
  }
  if (start < b.length) push(b.length);
  if (out.length > 0 && out[0].text.startsWith('\uFEFF')) out[0].text = out[0].text.slice(1);
  return out;
}

const blank = (s: string): boolean => s.trim() === '';
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function decimal(s: string | undefined): number {
  if (s === undefined) return reject('missing number');
  const t = s.trim();
  if (!DECIMAL.test(t)) reject(`not a decimal: ${t}`);
  const v = Number(t);
  if (!Number.isFinite(v)) reject('overflow');
  return v;
}
const F32_MAX = 3.4028234663852886e38;
function rating(v: number): number {
  if (!Number.isFinite(v) || Math.abs(v) > F32_MAX) reject('rating out of float32 range');
  return Math.fround(v);
}
function seconds(v: number): number {
  if (!Number.isFinite(v) || Math.abs(v) > 8.64e12) reject('time out of range');
  return v;
}
function textId(s: string | undefined): string {
  if (s === undefined) return reject('missing id');
  const t = s.trim();
  if (t === '') reject('empty id');
  return t;
}

type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

function jsonIdOf(v: JsonValue | undefined): string {
  if (v === undefined || v === null) return reject('missing id');
  if (typeof v === 'number') {
    // A number id is exact only as a safe integer (or a non-integer): 2^53 and beyond were already rounded.
    if (!Number.isFinite(v) || (Number.isInteger(v) && !Number.isSafeInteger(v))) reject('inexact numeric id');
    return String(v);
  }
  if (typeof v !== 'string') return reject('id of wrong type');
  return textId(v);
}
function jsonNum(v: JsonValue | undefined): number {
  if (v === undefined || v === null) return reject('missing number');
  if (typeof v === 'number') return Number.isFinite(v) ? v : reject('non-finite');
  if (typeof v === 'string') return decimal(v);
  return reject('number of wrong type');
}
function jsonObject(text: string, loose: boolean): Record<string, JsonValue> {
  let v: JsonValue;
  try {
    v = JSON.parse(text) as JsonValue;
  } catch {
    if (!loose) return reject('not JSON');
    try {
      v = parsePythonLiteral(text) as JsonValue;
    } catch {
      return reject('neither JSON nor a Python literal');
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) reject('not an object');
  return v as Record<string, JsonValue>;
}

/** RFC 4180 records of a delimited file (quotes only at the start of a field; text after a closing quote kept). */
function csvRecords(lines: Line[], delim: string, quotes: boolean): Array<{ fields: string[]; bad: boolean }> {
  const out: Array<{ fields: string[]; bad: boolean }> = [];
  let i = 0;
  while (i < lines.length) {
    if (blank(lines[i].text)) {
      i++;
      continue;
    }
    if (!quotes) {
      out.push({ fields: lines[i].text.split(delim), bad: lines[i].bad });
      i++;
      continue;
    }
    // Character state machine over the record, pulling further lines while inside quotes.
    let text = lines[i].text;
    let bad = lines[i].bad;
    i++;
    const fields: string[] = [];
    let cur = '';
    let p = 0;
    let atStart = true;
    let inQuotes = false;
    for (;;) {
      if (p >= text.length) {
        if (!inQuotes) break;
        if (i >= lines.length) reject('unterminated quote');
        text += '\n' + lines[i].text;
        bad ||= lines[i].bad;
        i++;
        cur += '\n';
        p++;
        continue;
      }
      const c = text[p];
      if (inQuotes) {
        if (c === '"') {
          if (text[p + 1] === '"') {
            cur += '"';
            p += 2;
          } else {
            inQuotes = false;
            p++;
          }
        } else {
          cur += c;
          p++;
        }
        continue;
      }
      if (atStart && c === '"') {
        inQuotes = true;
        atStart = false;
        p++;
        continue;
      }
      if (text.startsWith(delim, p)) {
        fields.push(cur);
        cur = '';
        atStart = true;
        p += delim.length;
        continue;
      }
      cur += c;
      atStart = false;
      p++;
    }
    fields.push(cur);
    out.push({ fields, bad });
  }
  return out;
}

// ----------------------------------------------------------------- targets

/** A dataset folder: file name -> bytes. */
export type Files = Record<string, Buffer>;

export interface Target {
  name: string;
  /** A valid dataset; `main` is the file the mutations touch. */
  make(rng: Rng): { files: Files; main: string };
  load(dir: string, main: string): Promise<RawDataset>;
  /** What the (mutated) main file means, given the untouched side files. */
  oracle(main: Buffer, files: Files): Verdict;
  /** How a data line is made of fields, for field-level mutations. */
  fields: { kind: 'delimited'; delim: string; header: boolean } | { kind: 'json'; keys: string[] } | { kind: 'tokens' };
}

const RATINGS = [1, 2, 3, 4, 5, 0.5, 3.5, 4.5];
const time = (rng: Rng): number => 880_000_000 + rng.int(800_000_000);
const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

interface BaseRow {
  user: string;
  item: string;
  time: number;
  rating: number;
}
function baseRows(rng: Rng, users: (i: number) => string, items: (i: number) => string, n = 6 + rng.int(10)): BaseRow[] {
  return Array.from({ length: n }, () => ({ user: users(1 + rng.int(6)), item: items(1 + rng.int(8)), time: time(rng), rating: rng.pick(RATINGS) }));
}
const num = (i: number): string => String(i);
const asin = (i: number): string => `B00${String(i).padStart(7, '0')}`;
const reviewer = (i: number): string => `A${(i * 7919).toString(36).toUpperCase()}X`;

function delimitedOracle(
  main: Buffer,
  o: { delim: string; quotes: boolean; header: string[] | null; user: number | string; item: number | string; rating?: number | string; time?: number | string; timeUnit?: 's' | 'ms' | 'iso'; table?: Set<string>; checkAll: boolean; caseInsensitive?: boolean; exactWidth: boolean },
): Row[] {
  const recs = csvRecords(oracleLines(main), o.delim, o.quotes);
  let idx: { u: number; i: number; r: number; t: number } | null = null;
  let width = 0;
  const resolve = (h: string[] | null, c: number | string | undefined): number => {
    if (c === undefined) return -1;
    if (typeof c === 'number') return c;
    if (h === null) return reject('named column without header');
    const names = h.map((x) => x.trim());
    let k: number;
    if (o.caseInsensitive) k = names.map((x) => x.toLowerCase()).indexOf(c.toLowerCase());
    else {
      k = names.indexOf(c);
      if (k < 0) k = names.findIndex((x) => x.split(':')[0] === c);
    }
    if (k < 0) reject(`no column ${c}`);
    return k;
  };
  if (o.header === null) idx = { u: resolve(null, o.user), i: resolve(null, o.item), r: resolve(null, o.rating), t: resolve(null, o.time) };
  const rows: Row[] = [];
  for (const { fields: f, bad } of recs) {
    if (idx === null) {
      idx = { u: resolve(f, o.user), i: resolve(f, o.item), r: resolve(f, o.rating), t: resolve(f, o.time) };
      width = f.length;
      continue;
    }
    if (width === 0) width = f.length;
    else if (o.exactWidth && f.length !== width) reject('field count differs');
    const used = [idx.u, idx.i, idx.r, idx.t].filter((k) => k >= 0);
    for (const k of used) if (f[k] === undefined) reject('missing field');
    if (bad) {
      // Bad bytes are refused when they are in a field that is read.
      const inUsed = used.some((k) => f[k].includes('\uFFFD'));
      if (inUsed || o.checkAll) reject('invalid UTF-8');
    }
    const user = textId(f[idx.u]);
    const item = textId(f[idx.i]);
    const r = idx.r >= 0 ? rating(decimal(f[idx.r])) : null;
    let t: number | null = null;
    if (idx.t >= 0) {
      const raw = f[idx.t];
      if (o.timeUnit === 'iso') {
        const s = raw.trim();
        if (!/^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) reject('not ISO');
        const ms = Date.parse(s);
        if (!Number.isFinite(ms)) reject('bad date');
        t = seconds(ms / 1000);
      } else t = seconds(o.timeUnit === 'ms' ? decimal(raw) / 1000 : decimal(raw));
    }
    if (o.table !== undefined && !o.table.has(item)) reject('item not in table');
    rows.push([user, item, t, r]);
  }
  if (o.header !== null && idx === null) reject('no header');
  if (rows.length === 0) reject('no rows');
  return rows;
}

function jsonOracle(main: Buffer, o: { user: string; item: string; rating?: string; time?: string; ms: boolean; loose: boolean; scalarTime?: boolean }): Row[] {
  const rows: Row[] = [];
  for (const { text, bad } of oracleLines(main)) {
    if (blank(text)) continue;
    const obj = jsonObject(text, o.loose);
    const user = jsonIdOf(obj[o.user]);
    const item = jsonIdOf(obj[o.item]);
    const r = o.rating !== undefined ? rating(jsonNum(obj[o.rating])) : null;
    let t: number | null = null;
    if (o.time !== undefined) {
      const v = obj[o.time];
      if (o.scalarTime && v !== undefined && v !== null && typeof v !== 'number' && typeof v !== 'string') reject('time of wrong type');
      const n = jsonNum(v);
      t = seconds(o.ms ? n / 1000 : n);
    }
    if (bad) reject('invalid UTF-8');
    rows.push([user, item, t, r]);
  }
  if (rows.length === 0) reject('no rows');
  return rows;
}

/** Ids of a side table's first column (the generators write them clean). */
function tableIds(text: string, sep: string, header: boolean): Set<string> {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return new Set(lines.slice(header ? 1 : 0).map((l) => l.split(sep)[0].trim()));
}

export const TARGETS: Target[] = [
  {
    name: 'ml-100k',
    make(rng) {
      const rows = baseRows(rng, num, num);
      const items = Array.from({ length: 8 }, (_, i) => `${i + 1}|Movie ${i + 1} (199${i})|01-Jan-199${i}||http://x/${i + 1}|${Array.from({ length: 19 }, (_, g) => (g === i % 19 ? 1 : 0)).join('|')}`);
      return {
        main: 'u.data',
        files: { 'u.data': buf(rows.map((r) => `${r.user}\t${r.item}\t${r.rating}\t${r.time}\n`).join('')), 'u.item': buf(items.join('\n') + '\n') },
      };
    },
    load: (dir) => loadMl100k(dir),
    oracle: (main, files) => delimitedOracle(main, { delim: '\t', quotes: false, header: null, user: 0, item: 1, rating: 2, time: 3, table: tableIds(files['u.item'].toString(), '|', false), checkAll: true, exactWidth: true }),
    fields: { kind: 'delimited', delim: '\t', header: false },
  },
  {
    name: 'ml-dat',
    make(rng) {
      const rows = baseRows(rng, num, num);
      const movies = Array.from({ length: 8 }, (_, i) => `${i + 1}::Movie ${i + 1} (199${i})::Drama|Comedy`);
      return {
        main: 'ratings.dat',
        files: { 'ratings.dat': buf(rows.map((r) => `${r.user}::${r.item}::${r.rating}::${r.time}\n`).join('')), 'movies.dat': buf(movies.join('\n') + '\n') },
      };
    },
    load: (dir) => loadMovielensDat(dir),
    oracle: (main, files) => delimitedOracle(main, { delim: '::', quotes: false, header: null, user: 0, item: 1, rating: 2, time: 3, table: tableIds(files['movies.dat'].toString(), '::', false), checkAll: true, exactWidth: true }),
    fields: { kind: 'delimited', delim: '::', header: false },
  },
  {
    name: 'ml-latest',
    make(rng) {
      const rows = baseRows(rng, num, num);
      const movies = ['movieId,title,genres', ...Array.from({ length: 8 }, (_, i) => `${i + 1},"Movie, The ${i + 1} (199${i})",Drama|Comedy`)];
      return {
        main: 'ratings.csv',
        files: {
          'ratings.csv': buf('userId,movieId,rating,timestamp\n' + rows.map((r) => `${r.user},${r.item},${r.rating},${r.time}\n`).join('')),
          'movies.csv': buf(movies.join('\n') + '\n'),
        },
      };
    },
    load: (dir) => loadMovielensCsv(dir),
    oracle: (main, files) =>
      delimitedOracle(main, {
        delim: ',', quotes: true, header: ['userId', 'movieId', 'rating', 'timestamp'], user: 'userId', item: 'movieId', rating: 'rating', time: 'timestamp',
        caseInsensitive: true, table: tableIds(files['movies.csv'].toString(), ',', true), checkAll: true, exactWidth: true,
      }),
    fields: { kind: 'delimited', delim: ',', header: true },
  },
  {
    name: 's3rec',
    make(rng) {
      const lines = Array.from({ length: 3 + rng.int(6) }, (_, u) => [u + 1, ...Array.from({ length: 1 + rng.int(6) }, () => 1 + rng.int(9))].join(' '));
      return { main: 'Seq.txt', files: { 'Seq.txt': buf(lines.join('\n') + '\n'), 'Seq_item2attributes.json': buf('{"1": [1, 2], "2": [3]}') } };
    },
    load: (dir) => loadS3Rec(dir),
    oracle(main) {
      const rows: Row[] = [];
      for (const { text, bad } of oracleLines(main)) {
        if (blank(text)) continue;
        if (bad) reject('invalid UTF-8');
        const tok = text.trim().split(/\s+/);
        if (tok.length < 2) reject('no items');
        for (const it of tok.slice(1)) rows.push([tok[0], it, null, null]);
      }
      if (rows.length === 0) reject('no rows');
      return rows;
    },
    fields: { kind: 'tokens' },
  },
  {
    name: 'amazon-2014',
    make(rng) {
      const rows = baseRows(rng, reviewer, asin);
      const lines = rows.map((r) => JSON.stringify({ reviewerID: r.user, asin: r.item, reviewText: 'Fine.', overall: r.rating, summary: 'ok', unixReviewTime: r.time }));
      const meta = Array.from({ length: 8 }, (_, i) => `{'asin': '${asin(i + 1)}', 'title': 'Thing ${i + 1}', 'categories': [['Beauty']]}`);
      return { main: 'reviews_Mini_5.json', files: { 'reviews_Mini_5.json': buf(lines.join('\n') + '\n'), 'meta_Mini.json': buf(meta.join('\n') + '\n') } };
    },
    load: (dir) => loadAmazonReviews(dir),
    oracle: (main) => jsonOracle(main, { user: 'reviewerID', item: 'asin', rating: 'overall', time: 'unixReviewTime', ms: false, loose: true }),
    fields: { kind: 'json', keys: ['reviewerID', 'asin', 'overall', 'unixReviewTime'] },
  },
  {
    name: 'amazon-2023',
    make(rng) {
      const rows = baseRows(rng, reviewer, asin);
      const lines = rows.map((r) => JSON.stringify({ rating: r.rating, title: 'T', text: 'x', asin: r.item, parent_asin: r.item, user_id: r.user, timestamp: r.time * 1000 + rng.int(1000), verified_purchase: true }));
      return { main: 'Mini.jsonl', files: { 'Mini.jsonl': buf(lines.join('\n') + '\n') } };
    },
    load: (dir) => loadAmazon2023(dir, { meta: null }),
    oracle: (main) => jsonOracle(main, { user: 'user_id', item: 'parent_asin', rating: 'rating', time: 'timestamp', ms: true, loose: false }),
    fields: { kind: 'json', keys: ['user_id', 'parent_asin', 'rating', 'timestamp'] },
  },
  {
    name: 'recbole',
    make(rng) {
      const rows = baseRows(rng, num, num);
      return { main: 'tiny.inter', files: { 'tiny.inter': buf('user_id:token\titem_id:token\trating:float\ttimestamp:float\n' + rows.map((r) => `${r.user}\t${r.item}\t${r.rating}\t${r.time}\n`).join('')) } };
    },
    load: (dir) => loadRecbole(dir),
    oracle(main) {
      // The columns a header names decide whether the dataset has ratings / times (loadRecbole).
      const first = oracleLines(main).find((l) => !blank(l.text));
      const cols = (first?.text ?? '').split('\t').map((h) => h.trim().split(':')[0]);
      return delimitedOracle(main, {
        delim: '\t', quotes: false, header: [], user: 'user_id', item: 'item_id',
        rating: cols.includes('rating') ? 'rating' : undefined, time: cols.includes('timestamp') ? 'timestamp' : undefined, timeUnit: 's', checkAll: false, exactWidth: true,
      });
    },
    fields: { kind: 'delimited', delim: '\t', header: true },
  },
  {
    name: 'generic-csv',
    make(rng) {
      const rows = baseRows(rng, (i) => `u${i}`, (i) => `i${i}`);
      const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
      return { main: 'events.csv', files: { 'events.csv': buf('uid,iid,stars,when\n' + rows.map((r) => `${r.user},${r.item},${r.rating},${iso(r.time)}\n`).join('')) } };
    },
    load: (dir) => loadGeneric(join(dir, 'events.csv'), { columns: { user: 'uid', item: 'iid', rating: 'stars', time: 'when', timeUnit: 'iso' } }),
    oracle: (main) => delimitedOracle(main, { delim: ',', quotes: true, header: [], user: 'uid', item: 'iid', rating: 'stars', time: 'when', timeUnit: 'iso', checkAll: false, exactWidth: true }),
    fields: { kind: 'delimited', delim: ',', header: true },
  },
  {
    name: 'generic-tsv',
    make(rng) {
      const rows = baseRows(rng, num, (i) => String(i * 10));
      return { main: 'plain.tsv', files: { 'plain.tsv': buf(rows.map((r) => `${r.user}\t${r.item}\t${r.rating}\n`).join('')) } };
    },
    load: (dir) => loadGeneric(join(dir, 'plain.tsv'), { columns: { user: 0, item: 1, rating: 2 }, header: false }),
    oracle: (main) => delimitedOracle(main, { delim: '\t', quotes: false, header: null, user: 0, item: 1, rating: 2, checkAll: false, exactWidth: true }),
    fields: { kind: 'delimited', delim: '\t', header: false },
  },
  {
    name: 'generic-jsonl',
    make(rng) {
      const rows = baseRows(rng, (i) => `user${i}`, (i) => String(100 + i));
      // Item ids as JSON numbers (the merge-above-2^53 case), times in ms.
      const lines = rows.map((r) => `{"user": ${JSON.stringify(r.user)}, "item": ${r.item}, "ts": ${r.time * 1000}}`);
      return { main: 'events.jsonl', files: { 'events.jsonl': buf(lines.join('\n') + '\n') } };
    },
    load: (dir) => loadGeneric(join(dir, 'events.jsonl'), { columns: { user: 'user', item: 'item', time: 'ts', timeUnit: 'ms' } }),
    oracle: (main) => jsonOracle(main, { user: 'user', item: 'item', time: 'ts', ms: true, loose: false, scalarTime: true }),
    fields: { kind: 'json', keys: ['user', 'item', 'ts'] },
  },
];

// ----------------------------------------------------------------- mutations

/** Field values that broke or could break number and id parsing (text form). */
export const HOSTILE_TEXT = [
  '1e400', '-1e400', '1e39', '-1e39', '3.4e38', '1e-400', 'NaN', 'Infinity', '-Infinity', '', ' ', '0x1F', '1,5', '4.5.1', '+4', '-0', '4.', '.5',
  '\uFF11', '\u00A04', '1 2', 'abc', '"', '"a"', '""', '\\', '9007199254740993', '12345678901234567891', '1e15', '-1e13', '8.64e12', '8.7e12',
  'x'.repeat(300), '\u0000', '\uFFFD', '\u{1F600}', '4\r', '\t4',
];
/** The same as raw JSON tokens. */
export const HOSTILE_JSON = [
  '1e400', '-1e400', '1e39', '-1e39', '12345678901234567891', '9007199254740993', '9007199254740992', '-9007199254740993', '9007199254740991', '1.5', '-0', '0',
  'null', 'true', 'false', '[]', '{}', '[1]', '""', '" "', '"1e400"', '"NaN"', '"12345678901234567891"', '"\\u0000"', '1e-400', '"4,5"', '"\\ud800"', '8.7e15', '"  x  "',
];
const BYTES = [0x00, 0xff, 0xfe, 0xc3, 0x80, 0xe2, 0x0d, 0x0a, 0x09, 0x20, 0x2c, 0x22, 0x27, 0x3a, 0x7b, 0x7d, 0x5c, 0x31];

/** Lines of a text with their terminators removed (the generators write LF). */
const splitLF = (s: string): string[] => {
  const l = s.split('\n');
  if (l[l.length - 1] === '') l.pop();
  return l;
};

type Mutation = (b: Buffer, rng: Rng, t: Target) => Buffer;

function mutateField(b: Buffer, rng: Rng, t: Target): Buffer {
  const lines = splitLF(b.toString('utf8'));
  const first = t.fields.kind === 'delimited' && t.fields.header ? 1 : 0;
  if (lines.length <= first) return b;
  const k = first + rng.int(lines.length - first);
  const f = t.fields;
  if (f.kind === 'json') {
    const key = rng.pick(f.keys);
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(lines[k]) as Record<string, unknown>;
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error('not an object');
    } catch {
      // An earlier mutation broke the line: put the token at a random place instead.
      const at = rng.int(lines[k].length + 1);
      lines[k] = lines[k].slice(0, at) + rng.pick(HOSTILE_JSON) + lines[k].slice(at);
      return buf(lines.join('\n') + '\n');
    }
    const mark = '\u0001MARK\u0001';
    if (rng.int(8) === 0) delete obj[key];
    else obj[key] = mark;
    lines[k] = JSON.stringify(obj).replace(JSON.stringify(mark), rng.pick(HOSTILE_JSON));
  } else {
    const delim = f.kind === 'delimited' ? f.delim : ' ';
    const parts = lines[k].split(delim);
    const j = rng.int(parts.length);
    const op = rng.int(10);
    if (op === 0) parts.splice(j, 1);
    else if (op === 1) parts.splice(j, 0, rng.pick(HOSTILE_TEXT));
    else parts[j] = rng.pick(HOSTILE_TEXT);
    lines[k] = parts.join(delim);
  }
  return buf(lines.join('\n') + '\n');
}

export const MUTATIONS: Record<string, Mutation> = {
  field: mutateField,
  field2: (b, rng, t) => mutateField(mutateField(b, rng, t), rng, t),
  crlf: (b) => buf(b.toString('utf8').replace(/\n/g, '\r\n')),
  cr: (b) => buf(b.toString('utf8').replace(/\n/g, '\r')),
  bom: (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]),
  blankLines: (b, rng) => {
    const l = splitLF(b.toString('utf8'));
    const k = rng.int(l.length + 1);
    l.splice(k, 0, rng.pick(['', ' ', '\t', '  \t ']));
    return buf(l.join('\n') + '\n');
  },
  leadingSpace: (b, rng) => {
    const l = splitLF(b.toString('utf8'));
    const k = rng.int(l.length);
    l[k] = rng.pick([' ', '  ', '\t', '\u00A0']) + l[k];
    return buf(l.join('\n') + '\n');
  },
  trailingSpace: (b, rng) => {
    const l = splitLF(b.toString('utf8'));
    const k = rng.int(l.length);
    l[k] = l[k] + rng.pick([' ', '\t', '\r', ' \r']);
    return buf(l.join('\n') + '\n');
  },
  noFinalNewline: (b) => (b[b.length - 1] === 0x0a ? b.subarray(0, b.length - 1) : b),
  duplicateLine: (b, rng) => {
    const l = splitLF(b.toString('utf8'));
    const k = rng.int(l.length);
    l.splice(k, 0, l[k]);
    return buf(l.join('\n') + '\n');
  },
  dropLine: (b, rng) => {
    const l = splitLF(b.toString('utf8'));
    l.splice(rng.int(l.length), 1);
    return buf(l.join('\n') + (l.length > 0 ? '\n' : ''));
  },
  swapLines: (b, rng) => {
    const l = splitLF(b.toString('utf8'));
    const i = rng.int(l.length);
    const j = rng.int(l.length);
    [l[i], l[j]] = [l[j], l[i]];
    return buf(l.join('\n') + '\n');
  },
  truncate: (b, rng) => b.subarray(0, rng.int(b.length + 1)),
  flipByte: (b, rng) => {
    const c = Buffer.from(b);
    if (c.length > 0) c[rng.int(c.length)] = rng.next() < 0.5 ? rng.pick(BYTES) : rng.int(256);
    return c;
  },
  insertByte: (b, rng) => {
    const k = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, k), Buffer.from([rng.next() < 0.7 ? rng.pick(BYTES) : rng.int(256)]), b.subarray(k)]);
  },
  deleteByte: (b, rng) => {
    const k = rng.int(b.length);
    return Buffer.concat([b.subarray(0, k), b.subarray(k + 1)]);
  },
  gzip: (b) => gzipSync(b),
  gzipTruncated: (b, rng) => {
    const z = gzipSync(b);
    return z.subarray(0, 2 + rng.int(z.length - 2));
  },
};
const MUTATION_NAMES = Object.keys(MUTATIONS);

// ----------------------------------------------------------------- running

export type Outcome = 'clean error' | 'accepted-correct' | 'silent wrong' | 'refused valid' | 'crash/hang';

export interface CaseResult {
  target: string;
  seed: number;
  mutations: string[];
  outcome: Outcome;
  detail: string;
  ms: number;
}

function rowsOf(r: RawDataset): Row[] {
  const out: Row[] = [];
  for (let k = 0; k < r.user.length; k++) out.push([r.userIds[r.user[k]], r.itemIds[r.item[k]], r.time ? r.time[k] : null, r.rating ? r.rating[k] : null]);
  return out;
}

function sameRows(a: Row[], b: Row[]): string | null {
  if (a.length !== b.length) return `${a.length} rows, oracle ${b.length}`;
  for (let k = 0; k < a.length; k++) {
    for (let c = 0; c < 4; c++) {
      if (a[k][c] !== b[k][c]) return `row ${k} differs: ${JSON.stringify(a[k])} vs oracle ${JSON.stringify(b[k])}`;
    }
  }
  return null;
}

/** The bound on one case (tiny files: anything slower is a hang or a quadratic path). */
export const CASE_TIMEOUT_MS = 5000;

/** Runs one seeded case of one target in `root` (a scratch folder). */
export async function runCase(t: Target, seed: number, root: string): Promise<CaseResult> {
  const rng = new Rng(seed);
  const { files, main } = t.make(rng);
  const muts: string[] = [];
  let bytes = files[main];
  const n = 1 + (rng.next() < 0.25 ? 1 + rng.int(2) : 0);
  for (let k = 0; k < n; k++) {
    // gzip last, if at all: the other mutations work on text.
    const name = rng.pick(MUTATION_NAMES);
    muts.push(name);
  }
  muts.sort((a, b) => Number(a.startsWith('gzip')) - Number(b.startsWith('gzip')));
  for (const m of muts) bytes = MUTATIONS[m](bytes, rng, t);
  const dir = join(root, `${t.name}-${seed}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, b] of Object.entries({ ...files, [main]: bytes })) writeFileSync(join(dir, name), b);

  let verdict: Verdict;
  let why = '';
  try {
    verdict = t.oracle(bytes, files);
  } catch (e) {
    if (!(e instanceof Reject)) throw e;
    verdict = 'reject';
    why = e.message;
  }
  const t0 = performance.now();
  let outcome: Outcome;
  let detail: string;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`no result within ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
    });
    const raw = await Promise.race([t.load(dir, main), timeout]);
    const got = rowsOf(raw);
    if (verdict === 'reject') {
      outcome = 'silent wrong';
      detail = `accepted ${got.length} rows; oracle rejects (${why})`;
    } else {
      const diff = sameRows(got, verdict);
      outcome = diff === null ? 'accepted-correct' : 'silent wrong';
      detail = diff ?? '';
    }
  } catch (e) {
    if (e instanceof DataError) {
      outcome = verdict === 'reject' ? 'clean error' : 'refused valid';
      detail = e.message;
    } else {
      outcome = 'crash/hang';
      detail = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - t0;
  if (ms > CASE_TIMEOUT_MS && outcome !== 'crash/hang') {
    outcome = 'crash/hang';
    detail = `took ${ms.toFixed(0)} ms`;
  }
  rmSync(dir, { recursive: true, force: true });
  return { target: t.name, seed, mutations: muts, outcome, detail, ms };
}

export interface Tally {
  target: string;
  cases: number;
  'clean error': number;
  'accepted-correct': number;
  'silent wrong': number;
  'refused valid': number;
  'crash/hang': number;
  /** Slowest case, ms. */
  maxMs: number;
  /** The first few cases that are not clean errors or accepted-correct. */
  failures: CaseResult[];
}

/** Runs `cases` seeded cases (seeds base, base+1, ...) of each target. */
export async function fuzzLoaders(cases: number, baseSeed = 1, targets: Target[] = TARGETS): Promise<Tally[]> {
  const root = mkdtempSync(join(tmpdir(), 'llmrec-fuzz-'));
  const out: Tally[] = [];
  try {
    for (const t of targets) {
      const tally: Tally = { target: t.name, cases: 0, 'clean error': 0, 'accepted-correct': 0, 'silent wrong': 0, 'refused valid': 0, 'crash/hang': 0, maxMs: 0, failures: [] };
      for (let k = 0; k < cases; k++) {
        const r = await runCase(t, baseSeed + k, root);
        tally.cases++;
        tally[r.outcome]++;
        tally.maxMs = Math.max(tally.maxMs, r.ms);
        if (r.outcome !== 'clean error' && r.outcome !== 'accepted-correct' && tally.failures.length < 5) tally.failures.push(r);
      }
      out.push(tally);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return out;
}

/** The tally as a Markdown table. */
export function formatTallies(ts: Tally[]): string {
  const head = '| loader | cases | clean errors | accepted-correct | silent wrong | refused valid | crashes/hangs | slowest case (ms) |';
  const sep = '|---|---:|---:|---:|---:|---:|---:|---:|';
  const rows = ts.map((t) => `| ${t.target} | ${t.cases} | ${t['clean error']} | ${t['accepted-correct']} | ${t['silent wrong']} | ${t['refused valid']} | ${t['crash/hang']} | ${t.maxMs.toFixed(0)} |`);
  const tot = (k: keyof Tally): number => ts.reduce((a, t) => a + (t[k] as number), 0);
  rows.push(`| **all** | ${tot('cases')} | ${tot('clean error')} | ${tot('accepted-correct')} | ${tot('silent wrong')} | ${tot('refused valid')} | ${tot('crash/hang')} | ${Math.max(0, ...ts.map((t) => t.maxMs)).toFixed(0)} |`);
  return [head, sep, ...rows].join('\n');
}
