/**
 * The data flags of every command that loads data (benchmark, train, eval,
 * data stats, run <method>, lm pretrain, llmrank), in one place: each maps
 * to one field of the run configuration's `data` section (src/config/run.ts,
 * docs/DATA.md), and a flag given overrides the config file (one precedence
 * rule, src/config/layers.ts). Values are checked here only as far as the
 * command line needs (a column index vs a name, yes/no); the schema
 * validates the rest with the field named.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { given } from '../config/layers.js';

export interface DataFlags {
  data?: string;
  format?: string;
  skipBadRows?: boolean;
  dataCache?: boolean | 'auto';
  userCol?: string | number;
  itemCol?: string | number;
  ratingCol?: string | number | null;
  timeCol?: string | number | null;
  timeUnit?: string;
  delimiter?: string;
  header?: boolean;
  encoding?: string;
  quotes?: boolean;
  items?: string;
  itemIdCol?: string | number;
  titleCol?: string | number;
  itemAttributes?: Array<string | number>;
  itemsDelimiter?: string;
  itemsHeader?: boolean;
  itemsEncoding?: string;
  itemsQuotes?: boolean;
  itemsRequired?: boolean;
}

/** A column flag: digits are a 0-based index, anything else a header name. */
export function columnFlag(v: string): string | number {
  const t = v.trim();
  if (t === '') throw new InvalidArgumentError('expected a column name or a 0-based index');
  return /^\d+$/.test(t) ? Number(t) : t;
}

/** A column flag that may also be 'none' (no such column even if the header has one). */
const optionalColumnFlag = (v: string): string | number | null => (v.trim() === 'none' ? null : columnFlag(v));

/** yes/no (also true/false, 1/0). */
export function yesNo(v: string): boolean {
  const t = v.trim().toLowerCase();
  if (['yes', 'true', '1', 'on'].includes(t)) return true;
  if (['no', 'false', '0', 'off'].includes(t)) return false;
  throw new InvalidArgumentError(`expected yes or no, got '${v}'`);
}

/** A delimiter: 'tab' / '\t' for a tab, 'comma', 'semicolon', 'pipe', 'space', or the characters themselves. */
export function delimiterFlag(v: string): string {
  const named: Record<string, string> = { tab: '\t', '\\t': '\t', comma: ',', semicolon: ';', pipe: '|', space: ' ' };
  const d = named[v.toLowerCase()] ?? v;
  if (d.length === 0 || d.length > 8) throw new InvalidArgumentError(`expected a delimiter of 1 to 8 characters (or tab, comma, semicolon, pipe, space), got '${v}'`);
  return d;
}

function cacheFlag(v: string): boolean | 'auto' {
  return v.trim().toLowerCase() === 'auto' ? 'auto' : yesNo(v);
}

const list = (v: string): Array<string | number> => v.split(',').map((s) => s.trim()).filter(Boolean).map(columnFlag);

export interface DataOptionsSpec {
  /** Help text of --data. */
  dataHelp?: string;
  /** --data is required (llmrank). */
  required?: boolean;
}

/** Adds the data flags to a command. */
export function addDataOptions(cmd: Command, spec: DataOptionsSpec = {}): Command {
  const dataHelp = spec.dataHelp ?? "dataset: a name under LLMREC_DATA_DIR, a path (folder, or a CSV/TSV/TXT/JSONL/Parquet file), or 'synthetic-shop'";
  if (spec.required) cmd.requiredOption('--data <name|path>', dataHelp);
  else cmd.option('--data <name|path>', dataHelp);
  return cmd
    .option('--format <format>', 'force a loader format instead of detecting it (e.g. generic, parquet, ml-100k)')
    .option('--skip-bad-rows', 'skip malformed rows (counted and reported) instead of failing')
    .option('--data-cache <yes|no|auto>', 'keep parsed rows in the typed on-disk cache (default auto: large sources)', cacheFlag)
    .option('--user-col <name|index>', 'user column of an interaction file (default: from the header: user, user_id, userId, ...)', columnFlag)
    .option('--item-col <name|index>', 'item column (default: from the header: item, item_id, movieId, asin, ...)', columnFlag)
    .option('--rating-col <name|index|none>', 'rating column (default: from the header: rating, score, ...; none: ignore it)', optionalColumnFlag)
    .option('--time-col <name|index|none>', 'time column (default: from the header: timestamp, time, ts, date, ...; none: ignore it)', optionalColumnFlag)
    .option('--time-unit <unit>', 'unit of the time column: s, ms, us, iso or auto (default: auto for a column found from the header, else s)')
    .option('--delimiter <d>', "field delimiter (',', tab, ';', '|', ...; default: from the extension or the header line)", delimiterFlag)
    .option('--header <yes|no>', 'whether the first line is a header (default yes)', yesNo)
    .option('--encoding <enc>', 'text encoding: utf8 (default) or latin1')
    .option('--quotes <yes|no>', "honour RFC 4180 double quotes (default: in ',' files only)", yesNo)
    .option('--items <file>', 'item file with titles (CSV/TSV/JSONL/Parquet) for the interactions\' items')
    .option('--item-id-col <name|index>', 'item id column of --items (default: from its header)', columnFlag)
    .option('--title-col <name|index>', 'title column of --items (default: from its header: title, name, ...)', columnFlag)
    .option('--item-attributes <list>', 'attribute columns of --items, comma-separated (e.g. genre,brand)', list)
    .option('--items-delimiter <d>', 'field delimiter of --items', delimiterFlag)
    .option('--items-header <yes|no>', 'whether --items starts with a header (default yes)', yesNo)
    .option('--items-encoding <enc>', 'text encoding of --items: utf8 (default) or latin1')
    .option('--items-quotes <yes|no>', "honour double quotes in --items (default: in ',' files only)", yesNo)
    .option('--items-required', 'every interaction must refer to an item of --items');
}

/** The `data` section of the flags given (for the flags layer of the configuration); {} when none. */
export function dataSection(f: DataFlags): Record<string, unknown> {
  const columns = given({ user: f.userCol, item: f.itemCol, rating: f.ratingCol, time: f.timeCol });
  const itemFileFlags = given({ item: f.itemIdCol, title: f.titleCol, attributes: f.itemAttributes, delimiter: f.itemsDelimiter, header: f.itemsHeader,
    encoding: f.itemsEncoding, quotes: f.itemsQuotes, required: f.itemsRequired });
  if (f.items === undefined && Object.keys(itemFileFlags).length > 0) {
    // Item-file flags without --items refine the config file's item file (merged by the precedence rule).
    return given({ ...sectionBase(f, columns), items: itemFileFlags });
  }
  return given({ ...sectionBase(f, columns), items: f.items !== undefined ? { path: f.items, ...itemFileFlags } : undefined });
}

function sectionBase(f: DataFlags, columns: Record<string, unknown>): Record<string, unknown> {
  return {
    name: f.data,
    format: f.format,
    skipBadRows: f.skipBadRows,
    cache: f.dataCache,
    columns: Object.keys(columns).length > 0 ? columns : undefined,
    timeUnit: f.timeUnit,
    delimiter: f.delimiter,
    header: f.header,
    encoding: f.encoding,
    quotes: f.quotes,
  };
}
