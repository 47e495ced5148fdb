/**
 * The one number parser of the loaders (docs/HOSTILE.md). Every rating,
 * timestamp, count and JSON id of every loader goes through here, so a value
 * that cannot be stored exactly is a RowError naming the field instead of a
 * silently wrong dataset:
 * - text numbers are strict decimals (no '', hex, 'Infinity', 'NaN', '1,5');
 *   a decimal that overflows a double ('1e400') is refused;
 * - ratings must fit a float32 (RawDataset.rating is a Float32Array: '1e39'
 *   would become Infinity);
 * - timestamps must lie within the range of a JavaScript Date (+-8.64e12 s);
 * - a JSON id written as a number must be a safe integer (2^53 and beyond
 *   collapse: 12345678901234567891 and ...892 parse to the same double), or a
 *   finite number whose decimal form round-trips.
 */
import { RowError, clip } from './row_error.js';

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** Largest |unix time| in seconds a Date can hold (8.64e15 ms). */
export const MAX_UNIX_SECONDS = 8.64e12;

/** A strict, finite decimal number, else a RowError naming the field. */
export function parseNumber(s: string | undefined, field: string): number {
  if (s === undefined) throw new RowError(field, 'missing');
  const t = s.trim();
  if (!NUMBER_RE.test(t)) throw new RowError(field, `expected a number, got '${clip(s)}'`);
  const v = Number(t);
  if (!Number.isFinite(v)) throw new RowError(field, `number '${clip(t)}' is out of range (not a finite double)`);
  return v;
}

/** A finite number already parsed (JSON), else a RowError naming the field. */
export function finiteNumber(v: number, field: string): number {
  if (!Number.isFinite(v)) throw new RowError(field, `expected a finite number, got ${v}`);
  return v;
}

/** A rating: finite and within float32 range (ratings are stored as float32). */
export function checkRating(v: number, field: string): number {
  finiteNumber(v, field);
  if (Math.abs(v) > FLOAT32_MAX) throw new RowError(field, `rating ${v} is out of range (a float32 holds at most ${FLOAT32_MAX.toPrecision(5)})`);
  return v;
}

/** A timestamp in unix seconds: finite and within the range of a Date. */
export function checkTime(v: number, field: string): number {
  finiteNumber(v, field);
  if (Math.abs(v) > MAX_UNIX_SECONDS) throw new RowError(field, `timestamp ${v} is out of range (a date holds at most ${MAX_UNIX_SECONDS} s)`);
  return v;
}

/** A rating from text (strict decimal, float32 range). */
export function parseRating(s: string | undefined, field: string): number {
  return checkRating(parseNumber(s, field), field);
}

/** A timestamp from text, in seconds ('ms': the text holds milliseconds). */
export function parseTime(s: string | undefined, field: string, unit: 's' | 'ms' = 's'): number {
  const v = parseNumber(s, field);
  return checkTime(unit === 'ms' ? v / 1000 : v, field);
}

/**
 * The id string of a JSON number: a safe integer, or a non-integer whose
 * shortest decimal form is its value. Integers of 2^53 and beyond are
 * refused: JSON.parse already rounded them, so distinct ids would merge.
 */
export function jsonNumberId(v: number, field: string): string {
  if (!Number.isFinite(v)) throw new RowError(field, `expected an id, got ${v}`);
  if (Number.isInteger(v) && !Number.isSafeInteger(v)) {
    throw new RowError(field, `numeric id ${v} is beyond 2^53 and cannot be represented exactly (write the id as a JSON string)`);
  }
  return String(v);
}
