/**
 * The one loader of a run configuration's `data` section (src/config/run.ts
 * validates it; docs/DATA.md lists every option): the embedded synthetic
 * shop, or `loadDataset` with every loader option of the section. Used by
 * every command that loads data (benchmark, train, eval, data stats,
 * run <method>, lm pretrain, llmrank) and by `llmrec serve --run` when it
 * re-loads a run's dataset, so a run directory made from your own file loads
 * the same way again.
 *
 * Relative paths: `baseDir` (the folder of the config file they came from,
 * e.g. a run directory's config.json, which stores them relative to the run)
 * is tried first, then the working directory, then the data root
 * (resolve.ts); `$LLMREC_DATA_DIR/...` names a path under the data root.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { generateShop } from '../synthetic.js';
import type { ShopOptions } from '../synthetic/options.js';
import type { RawDataset } from '../types.js';
import type { TextEncoding } from './common.js';
import type { GenericColumns, GenericItemFile } from './columns.js';
import type { TimeUnit } from './header.js';
import { canonicalFormat, loadDataset } from './index.js';

/** The `data` section of a run configuration, as validated by src/config/run.ts. */
export interface DataSection {
  /** A dataset name under the data root, a path (file or folder), or 'synthetic-shop'. */
  name: string;
  format?: string;
  skipBadRows?: boolean;
  cache?: boolean | 'auto';
  synthetic?: ShopOptions;
  /** Columns of an interaction file (generic / Parquet); the ones not given are found from the header. */
  columns?: Omit<GenericColumns, 'timeUnit'>;
  timeUnit?: TimeUnit;
  delimiter?: string;
  header?: boolean;
  encoding?: TextEncoding;
  quotes?: boolean;
  /** An item file with titles (and attributes) for the interactions' items. */
  items?: GenericItemFile;
}

/** A relative path tried against `baseDir` first (see the module comment); other strings unchanged. */
export function resolveAgainst(p: string, baseDir: string | undefined): string {
  if (baseDir === undefined || isAbsolute(p) || p.startsWith('$LLMREC_DATA_DIR/')) return p;
  const there = resolve(baseDir, p);
  return existsSync(there) ? there : p;
}

/** The loader options of a data section (without the name). */
export function sectionLoadOptions(d: DataSection, baseDir?: string): Parameters<typeof loadDataset>[1] {
  const columns = d.columns !== undefined || d.timeUnit !== undefined ? { ...d.columns, ...(d.timeUnit !== undefined ? { timeUnit: d.timeUnit } : {}) } : undefined;
  const o = {
    format: d.format !== undefined ? canonicalFormat(d.format) : undefined,
    skipBadRows: d.skipBadRows,
    cache: d.cache,
    columns,
    delimiter: d.delimiter,
    header: d.header,
    encoding: d.encoding,
    quotes: d.quotes,
    items: d.items !== undefined ? { ...d.items, path: resolveAgainst(d.items.path, baseDir) } : undefined,
  };
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Loads the dataset a data section names (see the module comment). */
export async function loadDataSection(d: DataSection, baseDir?: string): Promise<RawDataset> {
  if (d.name === 'synthetic-shop') return generateShop(d.synthetic ?? {});
  return loadDataset(resolveAgainst(d.name, baseDir), sectionLoadOptions(d, baseDir));
}
