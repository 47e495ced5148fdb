/**
 * The benchmark / train run configuration (`llmrec benchmark|train|eval|data
 * stats`, and the data + protocol part of `llmrec run <method>`): one zod
 * schema for config files and flags. Unknown keys are errors (a typo must not
 * be silently ignored). The resolved config is written into every run
 * directory (config.json), so a run can be repeated exactly.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { parseWith } from '../util/validate.js';
import { checkSafeName, SafeNameSchema } from '../run/names.js';
import { ModelNameSchema } from './models.js';
import { DATA_DIR_PREFIX, dataRoot } from '../data/resolve.js';
import { FORMAT_ALIASES, LOADERS, TIME_UNITS } from '../data/loaders/index.js';
import { ConfigError, readConfigFile, resolveLayers } from './layers.js';

/**
 * Bounds of the synthetic shop's sizes (issue 15): a config asking for more
 * is refused at once, naming the field and the bound, instead of running
 * out of memory minutes later. 1e6 users x 20 interactions take minutes and
 * about 1 GB; larger studies belong to real data.
 */
export const SYNTHETIC_BOUNDS = { users: 1_000_000, items: 1_000_000, length: 10_000, meanLength: 1_000, interactions: 50_000_000, days: 36_500 } as const;

const prob = () => z.number().min(0).max(1);
/** Options of the embedded synthetic shop (src/data/synthetic/options.ts); unknown keys are errors. */
export const SyntheticSchema = z.strictObject({
  seed: z.number().int().min(-(2 ** 53) + 1).max(2 ** 53 - 1).optional(),
  users: z.number().int().min(1).max(SYNTHETIC_BOUNDS.users).optional(),
  items: z.number().int().min(1).max(SYNTHETIC_BOUNDS.items).optional(),
  meanLength: z.number().positive().max(SYNTHETIC_BOUNDS.meanLength).optional(),
  minLength: z.number().int().min(1).max(SYNTHETIC_BOUNDS.length).optional(),
  maxLength: z.number().int().min(1).max(SYNTHETIC_BOUNDS.length).optional(),
  categories: z.number().int().min(1).max(8).optional(),
  zipfExponent: z.number().min(0).max(10).optional(),
  tasteConcentration: z.number().positive().max(1000).optional(),
  brandConcentration: z.number().positive().max(1000).optional(),
  pSequentialInSession: prob().optional(),
  pSequentialNewSession: prob().optional(),
  pSessionContinue: z.number().min(0).lt(1).optional(),
  pRepeat: prob().optional(),
  tieRate: prob().optional(),
  startDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD').optional(),
  startSpanDays: z.number().min(0).max(SYNTHETIC_BOUNDS.days).optional(),
  meanSessionGapDays: z.number().positive().max(SYNTHETIC_BOUNDS.days).optional(),
  order: z.enum(['time', 'user']).optional(),
  reviews: z.boolean().optional(),
}).superRefine((o, ctx) => {
  // The expected row count (users x mean length) is bounded too: each bound alone allows 1e9 rows.
  const rows = (o.users ?? 1500) * (o.meanLength ?? 16.8);
  if (rows > SYNTHETIC_BOUNDS.interactions) {
    ctx.addIssue({ code: 'custom', path: ['users'], message: `users x meanLength = ${rows.toExponential(2)} expected interactions, above the bound ${SYNTHETIC_BOUNDS.interactions.toExponential(0)}` });
  }
});

/** A column of an interaction or item file: a header name (or JSON key), or a 0-based index. */
const ColumnSchema = z.union([z.string().min(1).max(256), z.number().int().min(0).max(9999)]);
const Encoding = z.enum(['utf8', 'latin1']);
const Delimiter = z.string().min(1).max(8);

/** An item file with titles (src/data/loaders/columns.ts GenericItemFile). */
const ItemFileSchema = z.strictObject({
  path: z.string().min(1),
  /** Item id column (default: found from the header: item, item_id, movieId, asin, ...). */
  item: ColumnSchema.optional(),
  /** Title column (default: found from the header: title, name, item_name, movie_title, ...). */
  title: ColumnSchema.optional(),
  /** Attribute columns: a list, or { name: column }. */
  attributes: z.union([z.array(ColumnSchema).max(256), z.record(z.string().min(1), ColumnSchema)]).optional(),
  delimiter: Delimiter.optional(),
  header: z.boolean().optional(),
  encoding: Encoding.optional(),
  quotes: z.boolean().optional(),
  /** Every interaction must refer to an item of this file. */
  required: z.boolean().optional(),
});

const knownFormat = (f: string): boolean => Object.hasOwn(LOADERS, f) || Object.hasOwn(FORMAT_ALIASES, f);

/** The `data` section (docs/DATA.md): every option of the loaders, validated; loaded by src/data/loaders/section.ts. */
export const DataSectionSchema = z.strictObject({
  /** A dataset name under LLMREC_DATA_DIR, a path (file or folder), or 'synthetic-shop' (embedded generator). */
  name: z.string().min(1).default('synthetic-shop'),
  format: z.string().refine(knownFormat, { message: `unknown format; known: ${[...Object.keys(LOADERS), ...Object.keys(FORMAT_ALIASES)].join(', ')}` }).optional(),
  skipBadRows: z.boolean().default(false),
  /** Keep parsed rows in the typed on-disk cache: true, false or 'auto' (large sources only). */
  cache: z.union([z.boolean(), z.literal('auto')]).default('auto'),
  /** Options of the synthetic generator (users, items, seed, ...), bounded (SYNTHETIC_BOUNDS). */
  synthetic: SyntheticSchema.default({}),
  /** Columns of an interaction file; the ones not given are found from the header (null: no rating / time column). */
  columns: z.strictObject({
    user: ColumnSchema.optional(),
    item: ColumnSchema.optional(),
    rating: ColumnSchema.nullable().optional(),
    time: ColumnSchema.nullable().optional(),
  }).optional(),
  /** Unit of the time column: s, ms, us, iso, or auto (read from the values). */
  timeUnit: z.enum(TIME_UNITS as ['s', 'ms', 'us', 'iso', 'auto']).optional(),
  delimiter: Delimiter.optional(),
  /** Whether the first line is a header (default true). */
  header: z.boolean().optional(),
  encoding: Encoding.optional(),
  /** Honour RFC 4180 double quotes (default: in ',' files only). */
  quotes: z.boolean().optional(),
  items: ItemFileSchema.optional(),
});
export type DataSectionConfig = z.infer<typeof DataSectionSchema>;

export const ProtocolSchema = z.strictObject({
  ratingThreshold: z.number().nullable().default(3),
  kCore: z.number().int().min(0).default(5),
  maxHistory: z.number().int().min(1).default(10),
  numNegatives: z.number().int().min(0).default(9),
  seed: z.number().int().default(2024),
  dedupeConsecutive: z.boolean().default(false),
  /** The cold-start protocol (src/data/cold_start.ts, docs/METHODS.md §1.4); absent: off. */
  coldStart: z.strictObject({
    share: z.number().gt(0).lt(1).default(0.1),
    seed: z.number().int().default(2024),
    requireText: z.boolean().default(true),
    /** Cold-aware validation: share of the items withheld as validation-cold items (absent or 0: off). */
    validShare: z.number().min(0).lt(1).optional(),
  }).optional(),
});

const TrainOverride = z.strictObject({
  epochs: z.number().int().min(1).optional(),
  batchSize: z.number().int().min(1).optional(),
  lr: z.number().positive().optional(),
  weightDecay: z.number().min(0).optional(),
  patience: z.number().int().min(1).optional(),
  validMetric: z.string().optional(),
  validProtocol: z.enum(['sampled', 'full']).optional(),
  groupByLength: z.number().int().min(0).optional(),
  lrDecay: z.number().gt(0).lt(1).optional(),
  lrDecayPatience: z.number().int().min(1).optional(),
});

const ModelEntry = z.union([
  ModelNameSchema,
  z.strictObject({
    name: ModelNameSchema,
    /** Also the folder name of the model in the run directory: a safe name (src/run/names.ts). */
    label: SafeNameSchema.optional(),
    config: z.record(z.string(), z.unknown()).default({}),
    /** Training options for this model only (override `train`). */
    train: TrainOverride.optional(),
  }),
]);

const Train = z.strictObject({
  epochs: z.number().int().min(1).default(30),
  batchSize: z.number().int().min(1).default(256),
  lr: z.number().positive().default(1e-3),
  weightDecay: z.number().min(0).default(0),
  patience: z.number().int().min(1).default(5),
  validMetric: z.string().default('ndcg@5'),
  validProtocol: z.enum(['sampled', 'full']).default('sampled'),
  /** Mega-batches of this many batches sorted by history length (src/data/batches.ts); 0: off. */
  groupByLength: z.number().int().min(0).default(0),
  /** Learning-rate decay on a validation plateau (FitOptions.lrDecay); absent: constant lr. */
  lrDecay: z.number().gt(0).lt(1).optional(),
  lrDecayPatience: z.number().int().min(1).optional(),
  seed: z.number().int().default(2024),
});

const Eval = z.strictObject({
  protocols: z.array(z.enum(['sampled', 'full'])).min(1).default(['sampled']),
  /** Cut-offs of the sampled protocol (must be below the number of candidates to mean anything). */
  ks: z.array(z.number().int().min(1)).min(1).default([1, 3, 5]),
  /** Cut-offs of the full-ranking protocol. */
  fullKs: z.array(z.number().int().min(1)).min(1).default([10, 20]),
  batchSize: z.number().int().min(1).default(256),
  /**
   * The models (labels) every other model is tested against, paired over the
   * same test users (src/experiment/paired.ts; docs/METHODS.md §2.6); absent:
   * the config's Pop models. Absent rather than defaulted, so that the
   * config.json of runs made before it stays equal on resume.
   */
  pairedAgainst: z.array(SafeNameSchema).optional(),
});

export const RunConfigSchema = z.strictObject({
  data: DataSectionSchema.prefault({}),
  protocol: ProtocolSchema.prefault({}),
  models: z.array(ModelEntry).min(1).default(['random', 'pop', 'bprmf', 'gru4rec', 'sasrec', 'caser', 'bert4rec', 'din']),
  train: Train.prefault({}),
  eval: Eval.prefault({}),
  output: z.strictObject({ runsDir: z.string().min(1).default('runs'), /** The run directory's name (`--name`): a safe name. */ name: SafeNameSchema.optional() }).prefault({}),
}).superRefine((c, ctx) => {
  // A cut-off above the number of candidates ranks every candidate: HR@k = 1 for any model.
  // Sampled protocol: 1 positive + numNegatives; full ranking: checked against the item
  // count once the data is loaded (checkFullRankingKs).
  const candidates = c.protocol.numNegatives + 1;
  const sampledHint = `the sampled protocol ranks ${candidates} candidates (1 positive + protocol.numNegatives ${c.protocol.numNegatives}; --negatives)`;
  if (c.eval.protocols.includes('sampled')) {
    c.eval.ks.forEach((k, i) => {
      if (k > candidates) ctx.addIssue({ code: 'custom', path: ['eval', 'ks', i], message: `k = ${k} is above the number of candidates: ${sampledHint}; allowed 1..${candidates}` });
    });
  }
  const validK = /@(\d+)$/.exec(c.train.validMetric);
  if (c.train.validProtocol === 'sampled' && validK && Number(validK[1]) > candidates) {
    ctx.addIssue({ code: 'custom', path: ['train', 'validMetric'], message: `'${c.train.validMetric}': k is above the number of candidates: ${sampledHint}; allowed 1..${candidates}` });
  }
});

/** Full-ranking cut-offs must not exceed the item count (known once the data is loaded). */
export function checkFullRankingKs(ks: readonly number[], numItems: number, field = 'eval.fullKs'): void {
  for (const k of ks) {
    if (k > numItems) throw new ConfigError(`${field}: k = ${k} is above the number of items (${numItems}) the full ranking ranks; allowed 1..${numItems}`);
  }
}

export type RunConfig = z.infer<typeof RunConfigSchema>;
export type ModelSpec = { name: string; label: string; config: Record<string, unknown>; train: z.infer<typeof TrainOverride> };

/** Validates a raw object; `where` names its origin (file path or 'command line') in errors. */
export function parseRunConfig(raw: unknown, where: string): RunConfig {
  return parseWith(RunConfigSchema, raw, 'invalid configuration', where, ConfigError);
}

/**
 * built-in defaults < method defaults < file < flags (see layers.ts), validated
 * once at the end. `methodDefaults` is what a command changes of the built-in
 * defaults (e.g. `run recsysllm`'s protocol). Relative data paths of the file
 * are taken relative to the file's folder when they exist there
 * (`rebaseDataPaths`), so a run directory's config.json re-loads its data
 * from anywhere.
 */
export function resolveRunConfig(file: string | undefined, flags: Record<string, unknown>, methodDefaults?: Record<string, unknown>): RunConfig {
  return resolveLayers(RunConfigSchema, 'invalid configuration', file, [methodDefaults, file ? readRunConfigFile(file) : undefined, flags]);
}

/** Reads a config file with its relative data paths rebased on its folder (`rebaseDataPaths`). */
export function readRunConfigFile(file: string): Record<string, unknown> {
  return rebaseDataPaths(readConfigFile(file), dirname(resolve(file)));
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Applies `f` to data.name and data.items.path of a raw config layer (other values untouched). */
function mapDataPaths(layer: Obj, f: (p: string) => string): Obj {
  const data = layer.data;
  if (!isObj(data)) return layer;
  const out: Obj = { ...data };
  if (typeof data.name === 'string' && data.name !== 'synthetic-shop') out.name = f(data.name);
  if (isObj(data.items) && typeof data.items.path === 'string') out.items = { ...data.items, path: f(data.items.path) };
  return { ...layer, data: out };
}

/**
 * Relative data paths (data.name, data.items.path) of a config file made
 * absolute against `baseDir` when they exist there; other relative strings
 * stay (dataset names under the data root, paths relative to the working
 * directory).
 */
export function rebaseDataPaths(layer: Obj, baseDir: string): Obj {
  return mapDataPaths(layer, (p) => {
    if (isAbsolute(p) || p.startsWith(DATA_DIR_PREFIX)) return p;
    const there = resolve(baseDir, p);
    return existsSync(there) ? there : p;
  });
}

/**
 * A run configuration as written into a run directory's config.json: data
 * paths that exist are recorded as `$LLMREC_DATA_DIR/<rest>` under the data
 * root, else relative to the run directory (as src/run/paths.ts records
 * paths), so the run re-loads its data wherever the run and the data move
 * together; dataset names stay names.
 */
export function portableRunConfig(cfg: RunConfig, runDir: string): RunConfig {
  const run = resolve(runDir);
  const mapped = mapDataPaths(cfg as unknown as Obj, (p) => {
    if (p.startsWith(DATA_DIR_PREFIX) || !existsSync(p)) return p;
    const abs = resolve(p);
    const underData = relative(dataRoot(), abs);
    if (underData !== '' && !underData.startsWith('..') && !isAbsolute(underData)) return DATA_DIR_PREFIX + underData.split(sep).join('/');
    return relative(run, abs).split(sep).join('/') || '.';
  });
  return mapped as unknown as RunConfig;
}

/** Normalises model entries to { name, label, config }; labels must be unique. */
export function modelSpecs(cfg: RunConfig): ModelSpec[] {
  const specs = cfg.models.map((m) => (typeof m === 'string'
    ? { name: m, label: m, config: {}, train: {} }
    : { name: m.name, label: m.label ?? m.name, config: m.config, train: m.train ?? {} }));
  const seen = new Set<string>();
  specs.forEach((s, i) => {
    try {
      checkSafeName(s.label, `models[${i}] label`);
    } catch (e) {
      throw new ConfigError(`${(e as Error).message} (the label names the model's folder in the run directory; give the entry a "label")`);
    }
  });
  for (const s of specs) {
    if (seen.has(s.label)) throw new ConfigError(`models: label '${s.label}' appears twice (give one a distinct "label")`);
    seen.add(s.label);
  }
  return specs;
}
