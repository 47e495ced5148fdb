/**
 * The loader registry: format name -> loader, format detection, and
 * `loadDataset(nameOrPath, opts)`, the one entry point of the parser layer.
 * Names resolve through resolve.ts (`ml-100k` -> <dataRoot>/ml-100k).
 *
 * Why no DuckDB: ingest is a streaming line reader (node:fs read streams,
 * node:zlib gunzip for .gz, our own line splitting) that interns string ids
 * into grow-able Int32Array/Float64Array/Float32Array buffers. For these
 * formats that is equally capable and has no native dependency:
 * - memory is bounded by the output (typed-array rows + the id strings),
 *   never by the file: a multi-GB JSONL is read in 1 MiB chunks, and meta
 *   lines of items that were never reviewed are skipped before parsing;
 * - half of the formats are not tables a SQL reader understands directly:
 *   S3-Rec sequence lines (`user item item ...`), `::`-separated latin-1
 *   MovieLens files, Python-dict-literal Amazon 2014 metadata;
 * - errors must name file:line:field and bad rows must be skippable and
 *   counted, which is natural in a line loop and awkward to recover from a
 *   SQL engine's CSV/JSON reader;
 * - the result must end up in JS typed arrays anyway, so an embedded
 *   database would add a ~60 MB per-platform native binary (a failure point
 *   for offline / unusual installs) plus a copy out of its result sets.
 * Measured throughput (one core): ~1.1 M rows/s for delimited files and
 * ~100 MB/s of JSON lines (JSON.parse bound, ~0.2 M Amazon-2023 reviews/s),
 * i.e. a few minutes for the largest Amazon 2023 category: fine for a
 * one-off ingest, and every row is fully validated.
 */
import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { DataError } from '../errors.js';
import { resolveDataset } from '../resolve.js';
import { cacheFile, readCachedDataset, sourceBytes, writeCachedDataset } from '../cache.js';
import type { RawDataset } from '../types.js';
import { type Amazon2023Options, loadAmazon2023 } from './amazon2023.js';
import { type AmazonReviewsOptions, findReviewsFile, loadAmazonReviews, parseRecord } from './amazon_reviews.js';
import { type LoadOptions, firstLine, listDir } from './common.js';
import { type GenericOptions, loadGeneric, loadRecbole } from './generic.js';
import { explainHeader, looksLikeHeader, mentionsRoles } from './header.js';
import { isParquet } from './parquet.js';
import { type Ml100kOptions, loadMl100k } from './ml100k.js';
import { type MlDatOptions, loadMovielensDat } from './mldat.js';
import { loadMovielensCsv } from './mllatest.js';
import { type S3RecOptions, findSequenceFile, loadS3Rec } from './s3rec.js';

export { DataError } from '../errors.js';
export { dataAvailable, dataRoot, resolveDataset } from '../resolve.js';
export type { LoadOptions, TextEncoding } from './common.js';
export { readMl100kItems, ML100K_GENRES } from './ml100k.js';
export { readMovielensDatItems } from './mldat.js';
export { readMovielensCsvItems } from './mllatest.js';
export { readItemFile } from './generic.js';
export type { Column, GenericColumns, GenericItemFile, FileLayout } from './columns.js';
export { HEADER_ALIASES, TITLE_ALIASES, TIME_UNITS, type TimeUnit } from './header.js';
export { parsePythonLiteral } from './pyliteral.js';
export type { Ml100kOptions, MlDatOptions, S3RecOptions, AmazonReviewsOptions, Amazon2023Options, GenericOptions };
export { loadMl100k, loadMovielensDat, loadMovielensCsv, loadS3Rec, loadAmazonReviews, loadAmazon2023, loadGeneric, loadRecbole };

/** The formats the registry knows. */
export type DatasetFormat = 'ml-100k' | 'ml-dat' | 'ml-latest' | 'generic' | 'parquet' | 's3rec' | 'amazon-reviews' | 'amazon-2023' | 'recbole';

/** Other accepted names for formats. */
export const FORMAT_ALIASES = {
  'ml-1m': 'ml-dat',
  'ml-10m': 'ml-dat',
  'ml-20m': 'ml-latest',
  'ml-25m': 'ml-latest',
  'ml-32m': 'ml-latest',
  p5: 's3rec',
  'amazon-2014': 'amazon-reviews',
  'amazon-2018': 'amazon-reviews',
  csv: 'generic',
  tsv: 'generic',
  jsonl: 'generic',
  txt: 'generic',
  pq: 'parquet',
} as const satisfies Readonly<Record<string, DatasetFormat>>;

/** Options of loadDataset: the union of every loader's options, plus an explicit format. */
export type LoadDatasetOptions = LoadOptions &
  Ml100kOptions &
  MlDatOptions &
  S3RecOptions &
  AmazonReviewsOptions &
  Amazon2023Options &
  Partial<GenericOptions> & {
    /** Skip detection (a name of DatasetFormat or FORMAT_ALIASES). */
    format?: DatasetFormat | keyof typeof FORMAT_ALIASES;
    /**
     * Keep the parsed rows in the on-disk typed cache (data/cache.ts): true,
     * false, or 'auto' (default: only sources above CACHE_MIN_BYTES).
     */
    cache?: boolean | 'auto';
  };

/** Sources at least this large are cached by default (parsing them takes seconds or more). */
export const CACHE_MIN_BYTES = 64 * 2 ** 20;

export interface LoaderEntry {
  description: string;
  /** Whether a folder (given its sorted entry names) holds this format. */
  detectDir?: (names: string[], dir: string) => Promise<boolean>;
  /** Whether a single file is of this format. */
  detectFile?: (file: string) => Promise<boolean>;
  load: (path: string, opts: LoadDatasetOptions) => Promise<RawDataset>;
}

const JSONL_RE = /\.(json|jsonl|ndjson)(\.gz)?$/i;
/** Delimited text files whose header line may name their columns (header.ts). */
const DELIMITED_RE = /\.(csv|tsv|tab|txt)(\.gz)?$/i;

async function firstLineMentionsRoles(file: string): Promise<boolean> {
  try {
    const line = await firstLine(file);
    return line !== null && mentionsRoles(line, file);
  } catch {
    return false;
  }
}

/** Whether a delimited file's first line is a header naming a user and an item column. */
async function hasRoleHeader(file: string): Promise<boolean> {
  if (!DELIMITED_RE.test(file)) return false;
  try {
    const line = await firstLine(file);
    return line !== null && looksLikeHeader(line, file);
  } catch {
    return false;
  }
}

/** Keys of the first record of a JSON-lines file (loose parsing), or null. */
async function firstKeys(file: string): Promise<Set<string> | null> {
  try {
    const line = await firstLine(file);
    return line === null ? null : new Set(Object.keys(parseRecord(line, true)));
  } catch {
    return null;
  }
}

async function reviewsKeys(names: string[], dir: string): Promise<Set<string> | null> {
  if (!names.some((n) => JSONL_RE.test(n) && !n.startsWith('meta_'))) return null;
  try {
    return await firstKeys(await findReviewsFile(dir));
  } catch {
    return null;
  }
}

const is2014 = (k: Set<string> | null): boolean => k !== null && k.has('reviewerID') && k.has('asin');
const is2023 = (k: Set<string> | null): boolean => k !== null && k.has('user_id') && (k.has('parent_asin') || k.has('asin'));

/** The registration table; detection tries the entries in this order. */
export const LOADERS: Readonly<Record<DatasetFormat, LoaderEntry>> = {
  'ml-100k': {
    description: 'MovieLens-100K: u.data (tab) + u.item (|, latin-1) + u.genre',
    detectDir: async (names) => names.includes('u.data'),
    detectFile: async (file) => /^(u\.data|u\d\.(base|test)|u[ab]\.(base|test))$/.test(basename(file)),
    load: (path, opts) => loadMl100k(path, opts),
  },
  'ml-dat': {
    description: 'MovieLens-1M/10M: ratings.dat + movies.dat (::, latin-1)',
    detectDir: async (names) => names.includes('ratings.dat') || names.includes('movies.dat'),
    detectFile: async (file) => basename(file) === 'ratings.dat',
    load: (path, opts) => loadMovielensDat(path, opts),
  },
  'ml-latest': {
    description: 'MovieLens latest/20M/25M/32M: ratings.csv + movies.csv (header, quoted titles)',
    detectDir: async (names) => names.includes('ratings.csv'),
    detectFile: async (file) => basename(file) === 'ratings.csv',
    load: (path, opts) => loadMovielensCsv(path, opts),
  },
  generic: {
    description: 'CSV/TSV/TXT (gz too) whose header names user and item columns (user/user_id/userId, item/item_id/movieId/asin, rating/score, timestamp/time/ts/date, ...), or any CSV/TSV/JSONL with a column mapping (opts.columns)',
    detectFile: hasRoleHeader,
    load: (path, opts) => loadGeneric(path, opts),
  },
  parquet: {
    description: 'Parquet (.parquet/.pq or PAR1 magic) with the column mapping of the generic loader, columns found from the names by default',
    detectFile: isParquet,
    load: (path, opts) => loadGeneric(path, opts),
  },
  s3rec: {
    description: 'S3-Rec/P5 sequences: <Name>.txt (user item item ...) + datamaps.json / *_item2attributes.json / titles',
    detectDir: async (_names, dir) => (await findSequenceFile(dir)) !== null,
    // A .txt whose first line names user/item columns is a delimited file with a header (generic), never a sequence file.
    detectFile: async (file) => file.endsWith('.txt') && !(await firstLineMentionsRoles(file)),
    load: (path, opts) => loadS3Rec(path, opts),
  },
  'amazon-reviews': {
    description: 'Amazon reviews 2014/2018: JSON lines (reviewerID, asin, overall, unixReviewTime) + meta_*.json(.gz)',
    detectDir: async (names, dir) => is2014(await reviewsKeys(names, dir)),
    detectFile: async (file) => JSONL_RE.test(file) && is2014(await firstKeys(file)),
    load: (path, opts) => loadAmazonReviews(path, opts),
  },
  'amazon-2023': {
    description: 'Amazon reviews 2023: JSONL (user_id, parent_asin, rating, timestamp ms) + meta_*.jsonl',
    detectDir: async (names, dir) => is2023(await reviewsKeys(names, dir)),
    detectFile: async (file) => JSONL_RE.test(file) && is2023(await firstKeys(file)),
    load: (path, opts) => loadAmazon2023(path, opts),
  },
  recbole: {
    description: 'RecBole atomic files: <name>.inter (+ <name>.item), tab-separated, name:type headers',
    detectDir: async (names) => names.filter((n) => n.endsWith('.inter')).length === 1,
    detectFile: async (file) => file.endsWith('.inter'),
    load: (path, opts) => loadRecbole(path, opts),
  },
};

/** Canonical format name of a format or alias; throws on unknown names. */
export function canonicalFormat(format: string): DatasetFormat {
  if (Object.hasOwn(LOADERS, format)) return format as DatasetFormat;
  const a = (FORMAT_ALIASES as Readonly<Record<string, DatasetFormat | undefined>>)[format];
  if (a !== undefined) return a;
  throw new Error(`unknown dataset format '${format}'; known: ${[...Object.keys(LOADERS), ...Object.keys(FORMAT_ALIASES)].join(', ')}`);
}

const isDirectory = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

/** Detects the format of a dataset folder or file; DataError when none fits. */
export async function detectFormat(path: string): Promise<DatasetFormat> {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const names = isDir ? await listDir(path) : [];
  for (const [format, entry] of Object.entries(LOADERS) as Array<[DatasetFormat, LoaderEntry]>) {
    if (isDir ? await entry.detectDir?.(names, path) : await entry.detectFile?.(path)) return format;
  }
  // A delimited file with a header that names no user or item column: say what the header lacks.
  if (!isDir && DELIMITED_RE.test(path)) {
    const line = await firstLine(path);
    if (line !== null) explainHeader(path, line);
  }
  const seen = isDir ? `found: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', ...' : ''}` : 'unrecognised file name/content';
  throw new DataError(path, undefined, undefined, `cannot tell the dataset format (${seen}); pass { format: ${Object.keys(LOADERS).map((f) => `'${f}'`).join(' | ')} }`);
}

/**
 * Loads a dataset by name (resolved under the data root) or path (folder or
 * file), detecting its format unless `opts.format` is given (a given
 * `opts.columns` without a format means 'generic').
 */
export async function loadDataset(nameOrPath: string, opts: LoadDatasetOptions = {}): Promise<RawDataset> {
  const path = resolveDataset(nameOrPath);
  const genericOnly = opts.columns !== undefined || opts.items !== undefined || opts.delimiter !== undefined || opts.header !== undefined;
  const format = opts.format !== undefined ? canonicalFormat(opts.format) : genericOnly && !isDirectory(path) ? 'generic' : await detectFormat(path);
  const { cache = 'auto', ...loaderOpts } = opts;
  const useCache = cache === true || (cache === 'auto' && sourceBytes(path) >= CACHE_MIN_BYTES);
  if (!useCache) return LOADERS[format].load(path, loaderOpts);
  const file = cacheFile(path, { format, ...loaderOpts });
  const hit = readCachedDataset(file);
  if (hit) return hit;
  const raw = await LOADERS[format].load(path, loaderOpts);
  writeCachedDataset(file, raw);
  return raw;
}
