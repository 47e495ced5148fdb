/**
 * Your own interaction file without options (docs/DATA.md, "Header
 * recognition"): the roles of a header's columns (user, item, rating, time)
 * from the usual names, the delimiter of a header line, the columns of an
 * item file (id, title), and the unit of a time column read from its values.
 *
 * Names are compared after lower-casing, dropping a RecBole `:type` suffix
 * and removing '_', '-', '.' and spaces, so `user_id`, `userId`, `User ID`
 * and `user_id:token` are one name. Two columns of one role are ambiguous
 * and a missing user or item column is an error: both name the file, the
 * header line and the names each role accepts.
 */
import { basename } from 'node:path';
import { DataError } from '../errors.js';
import { RowError, clip } from './row_error.js';
import { checkTime, parseNumber } from './numbers.js';

/** Roles of interaction columns. */
export type Role = 'user' | 'item' | 'rating' | 'time';

/** The header names each role recognises (shown in errors and docs/DATA.md). */
export const HEADER_ALIASES: Readonly<Record<Role, readonly string[]>> = {
  user: ['user', 'user_id', 'userId', 'uid', 'customer_id', 'reviewerID', 'visitor_id', 'client_id'],
  item: ['item', 'item_id', 'itemId', 'iid', 'movieId', 'movie_id', 'product_id', 'productId', 'asin', 'parent_asin', 'song_id', 'track_id', 'book_id', 'business_id', 'article_id'],
  rating: ['rating', 'score', 'stars', 'overall', 'rate'],
  time: ['timestamp', 'time', 'ts', 'date', 'datetime', 'event_time', 'unixReviewTime'],
};

/** Names of an item file's title column. */
export const TITLE_ALIASES: readonly string[] = ['title', 'name', 'item_name', 'item_title', 'movie_title', 'product_title', 'product_name'];

/** Canonical form of a header name (see the module comment). */
export function normName(h: string): string {
  return h.trim().replace(/^"(.*)"$/, '$1').split(':')[0].toLowerCase().replace(/[\s_.-]+/g, '');
}

const ROLE_OF = new Map<string, Role>();
for (const [role, names] of Object.entries(HEADER_ALIASES) as Array<[Role, readonly string[]]>) for (const n of names) ROLE_OF.set(normName(n), role);
const TITLE_SET = new Set(TITLE_ALIASES.map(normName));

/** Delimiters tried on a header line, in order of preference on ties. */
export const HEADER_DELIMITERS = ['\t', ',', ';', '|'] as const;

/** The delimiter an extension implies, if any. */
export function extensionDelimiter(file: string): string | undefined {
  const ext = basename(file).toLowerCase().replace(/\.gz$/, '');
  if (ext.endsWith('.csv')) return ',';
  if (/\.(tsv|tab)$/.test(ext)) return '\t';
  return undefined;
}

function splitHeader(line: string, delimiter: string): string[] {
  return line.split(delimiter).map((h) => h.trim().replace(/^"(.*)"$/, '$1'));
}

/** Roles found in a header: each role's column indices. */
function rolesOf(fields: string[], extra?: Set<string>): { roles: Map<Role, number[]>; title: number[] } {
  const roles = new Map<Role, number[]>();
  const title: number[] = [];
  fields.forEach((f, i) => {
    const n = normName(f);
    const r = ROLE_OF.get(n);
    if (r !== undefined) roles.set(r, [...(roles.get(r) ?? []), i]);
    if (extra?.has(n)) title.push(i);
  });
  return { roles, title };
}

/**
 * The delimiter of a header line: `given`, else the one of the candidates that
 * splits the line into the most recognised columns (ties: the extension's,
 * then tab, ',', ';', '|'); falls back to the extension's or ','.
 */
export function sniffDelimiter(line: string, file: string, given?: string): string {
  if (given !== undefined) return given;
  const ext = extensionDelimiter(file);
  const order = ext !== undefined ? [ext, ...HEADER_DELIMITERS.filter((d) => d !== ext)] : [...HEADER_DELIMITERS];
  let best = ext ?? (line.includes('\t') ? '\t' : ',');
  let bestScore = 0;
  for (const d of order) {
    const f = splitHeader(line, d);
    if (f.length < 2) continue;
    const { roles, title } = rolesOf(f, TITLE_SET);
    const score = roles.size + (title.length > 0 ? 1 : 0);
    if (score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  return best;
}

/** Columns picked from a header: names as written in the file. */
export interface HeaderColumns {
  user: string;
  item: string;
  rating?: string;
  time?: string;
}

const show = (d: string): string => (d === '\t' ? 'tab' : `'${d}'`);

/**
 * The roles of a header's columns, or a DataError naming the file, the
 * header line and what is missing or ambiguous. `given` roles (explicit
 * columns) are not looked for; `null` switches a role off.
 */
export function headerColumns(file: string, lineNo: number | undefined, fields: string[], delimiter: string, given: Partial<Record<Role, unknown>> = {}): HeaderColumns {
  const { roles } = rolesOf(fields);
  const problems: string[] = [];
  const pick = (role: Role, required: boolean): string | undefined => {
    if (given[role] !== undefined) return undefined;
    const idx = roles.get(role) ?? [];
    if (idx.length > 1) problems.push(`${role} is ambiguous (columns ${idx.map((i) => `'${fields[i]}'`).join(' and ')}; pick one with --${role === 'time' ? 'time' : role}-col)`);
    else if (idx.length === 0 && required) problems.push(`no ${role} column (a header named one of: ${HEADER_ALIASES[role].join(', ')}; or pass --${role}-col NAME|INDEX)`);
    return idx.length === 1 ? fields[idx[0]] : undefined;
  };
  const user = pick('user', true);
  const item = pick('item', true);
  const rating = given.rating === null ? undefined : pick('rating', false);
  const time = given.time === null ? undefined : pick('time', false);
  if (problems.length > 0) {
    // delimiter '' : the names come from a schema (Parquet) or JSON keys, not a split line.
    const header = delimiter === '' ? fields.join(', ') : fields.join(delimiter === '\t' ? '\\t' : delimiter);
    const how = delimiter === '' ? '' : ` (split on ${show(delimiter)})`;
    throw new DataError(file, lineNo, undefined, `cannot tell the columns from the ${delimiter === '' ? 'column names' : 'header'} '${clip(header, 200)}'${how}: ${problems.join('; ')}`);
  }
  return { user: user ?? '', item: item ?? '', ...(rating !== undefined ? { rating } : {}), ...(time !== undefined ? { time } : {}) };
}

/** Whether a header line names at least a user and an item column (format detection). */
export function looksLikeHeader(line: string, file: string): boolean {
  const d = sniffDelimiter(line, file);
  const { roles } = rolesOf(splitHeader(line, d));
  return roles.has('user') && roles.has('item');
}

/** Whether a first line names any user or item column (then a failed detection is worth a header error). */
export function mentionsRoles(line: string, file: string): boolean {
  const d = sniffDelimiter(line, file);
  const { roles } = rolesOf(splitHeader(line, d));
  return roles.has('user') || roles.has('item');
}

/** Throws the DataError of `headerColumns` for a first line that does not name a user and an item column. */
export function explainHeader(file: string, line: string): void {
  const d = sniffDelimiter(line, file);
  headerColumns(file, 1, splitHeader(line, d), d);
}

/** The item-id and title columns of an item file's header (undefined: not recognised). */
export function itemFileColumns(fields: string[]): { item?: string; title?: string } {
  const { roles, title } = rolesOf(fields, TITLE_SET);
  const items = roles.get('item') ?? [];
  return { item: items.length === 1 ? fields[items[0]] : undefined, title: title.length === 1 ? fields[title[0]] : undefined };
}

/** Units of a time column: unix seconds, milliseconds, microseconds, ISO-8601 text, or read from the first value. */
export type TimeUnit = 's' | 'ms' | 'us' | 'iso' | 'auto';
export const TIME_UNITS: readonly TimeUnit[] = ['s', 'ms', 'us', 'iso', 'auto'];

/** An ISO-8601 date or date-time (as Date.parse reads it: date-only is UTC, a date-time without offset local time). */
export const ISO_DATE_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

const DIVISOR = { s: 1, ms: 1e3, us: 1e6 } as const;
const UNIT_NAME = { s: 'seconds', ms: 'milliseconds', us: 'microseconds', iso: 'ISO dates' } as const;

/**
 * The unit a unix time number is in, by magnitude: below 1e11 seconds (up to
 * the year 5138), below 1e14 milliseconds, below 1e17 microseconds.
 */
export function numericUnit(v: number): 's' | 'ms' | 'us' | null {
  const a = Math.abs(v);
  if (a < 1e11) return 's';
  if (a < 1e14) return 'ms';
  if (a < 1e17) return 'us';
  return null;
}

/**
 * Reads a time column into unix seconds. With 'auto' the first value fixes
 * the unit (ISO text, or a number's magnitude, see `numericUnit`) and every
 * later value must agree with it: a column mixing seconds and milliseconds is
 * a RowError naming the field, never silently mis-ordered.
 */
export class TimeReader {
  private unit: Exclude<TimeUnit, 'auto'> | null;
  private readonly auto: boolean;
  constructor(unit: TimeUnit = 's') {
    this.auto = unit === 'auto';
    this.unit = unit === 'auto' ? null : unit;
  }

  /** The unit in use (null while 'auto' has seen no value). */
  get resolved(): Exclude<TimeUnit, 'auto'> | null {
    return this.unit;
  }

  read(v: number | string | bigint | Date, field: string): number {
    if (v instanceof Date) {
      const t = v.getTime();
      if (!Number.isFinite(t)) throw new RowError(field, 'invalid date');
      return checkTime(t / 1000, field);
    }
    if (typeof v === 'bigint') v = Number(v);
    const first = this.unit === null;
    if (typeof v === 'string') {
      const t = v.trim();
      const looksIso = ISO_DATE_RE.test(t);
      if (this.unit === null) this.unit = looksIso ? 'iso' : numericUnit(parseNumber(t, field)) ?? 's';
      if (this.unit === 'iso') {
        // Strict ISO-8601 first: Date.parse alone also takes '4' (April 2001) or 'May 1 99'.
        if (!looksIso) throw new RowError(field, `expected an ISO-8601 date, got '${clip(v)}'`);
        const ms = Date.parse(t);
        if (!Number.isFinite(ms)) throw new RowError(field, `expected an ISO-8601 date, got '${clip(v)}'`);
        return checkTime(ms / 1000, field);
      }
      if (looksIso) throw new RowError(field, `date '${clip(v)}' in a time column read as unix ${this.unit} (set the time unit to 'iso')`);
      v = parseNumber(t, field);
    }
    if (!Number.isFinite(v)) throw new RowError(field, `expected a finite number, got ${v}`);
    if (this.unit === null) this.unit = numericUnit(v) ?? 's';
    if (this.unit === 'iso') throw new RowError(field, `expected an ISO-8601 date, got the number ${v}`);
    if (!first && this.auto) {
      // A later value of an 'auto' column must have the magnitude of the first.
      const u = numericUnit(v);
      if (u !== null && u !== this.unit && Math.abs(v) >= 1e9) {
        throw new RowError(field, `timestamp ${v} looks like unix ${UNIT_NAME[u]}, but earlier rows of this column were read as ${UNIT_NAME[this.unit]} (set the time unit explicitly)`);
      }
    }
    return checkTime(v / DIVISOR[this.unit], field);
  }
}
