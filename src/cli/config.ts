/**
 * Run configuration: one schema (zod) for config files and CLI flags.
 *
 * Resolution order: schema defaults < config file (JSON) < CLI flags. The
 * resolved config is written into every run directory (config.json), so a
 * run can be repeated exactly. Unknown keys are errors (a typo must not be
 * silently ignored), and every error names the file and the key path.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseWith } from '../util/validate.js';

const Protocol = z.strictObject({
  ratingThreshold: z.number().nullable().default(3),
  kCore: z.number().int().min(0).default(5),
  maxHistory: z.number().int().min(1).default(10),
  numNegatives: z.number().int().min(0).default(9),
  seed: z.number().int().default(2024),
  dedupeConsecutive: z.boolean().default(false),
});

const TrainOverride = z.strictObject({
  epochs: z.number().int().min(1).optional(),
  batchSize: z.number().int().min(1).optional(),
  lr: z.number().positive().optional(),
  weightDecay: z.number().min(0).optional(),
  patience: z.number().int().min(1).optional(),
  validMetric: z.string().optional(),
  validProtocol: z.enum(['sampled', 'full']).optional(),
});

const ModelEntry = z.union([
  z.string(),
  z.strictObject({
    name: z.string(),
    label: z.string().optional(),
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
  seed: z.number().int().default(2024),
});

const Eval = z.strictObject({
  protocols: z.array(z.enum(['sampled', 'full'])).min(1).default(['sampled']),
  /** Cut-offs of the sampled protocol (must be below the number of candidates to mean anything). */
  ks: z.array(z.number().int().min(1)).min(1).default([1, 3, 5]),
  /** Cut-offs of the full-ranking protocol. */
  fullKs: z.array(z.number().int().min(1)).min(1).default([10, 20]),
  batchSize: z.number().int().min(1).default(256),
});

export const RunConfigSchema = z.strictObject({
  data: z.strictObject({
    /** A dataset name under LLMREC_DATA_DIR, a path, or 'synthetic-shop' (embedded generator). */
    name: z.string().default('synthetic-shop'),
    format: z.string().optional(),
    skipBadRows: z.boolean().default(false),
    /** Keep parsed rows in the typed on-disk cache: true, false or 'auto' (large sources only). */
    cache: z.union([z.boolean(), z.literal('auto')]).default('auto'),
    /** Options of the synthetic generator (users, items, seed, ...). */
    synthetic: z.record(z.string(), z.union([z.number(), z.boolean(), z.string()])).default({}),
  }).prefault({}),
  protocol: Protocol.prefault({}),
  models: z.array(ModelEntry).min(1).default(['random', 'pop', 'bprmf', 'gru4rec', 'sasrec', 'caser', 'bert4rec', 'din']),
  train: Train.prefault({}),
  eval: Eval.prefault({}),
  output: z.strictObject({ runsDir: z.string().default('runs'), name: z.string().optional() }).prefault({}),
});

export type RunConfig = z.infer<typeof RunConfigSchema>;
export type ModelSpec = { name: string; label: string; config: Record<string, unknown>; train: z.infer<typeof TrainOverride> };

/** Deep merge of plain objects (arrays and scalars replace). */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
      ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

export class ConfigError extends Error {}

/** Validates a raw object; `where` names its origin (file path or 'command line') in errors. */
export function parseRunConfig(raw: unknown, where: string): RunConfig {
  return parseWith(RunConfigSchema, raw, 'invalid configuration', where, ConfigError);
}

/** Reads a JSON config file (clear errors for missing files and bad JSON). */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('top level must be an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** defaults < file < flags, validated once at the end. */
export function resolveRunConfig(file: string | undefined, flags: Record<string, unknown>): RunConfig {
  const fromFile = file ? readConfigFile(file) : {};
  const merged = deepMerge(fromFile, flags);
  return parseRunConfig(merged, file ? `${file} + command line` : 'command line');
}

/** Normalises model entries to { name, label, config }; labels must be unique. */
export function modelSpecs(cfg: RunConfig): ModelSpec[] {
  const specs = cfg.models.map((m) => (typeof m === 'string'
    ? { name: m, label: m, config: {}, train: {} }
    : { name: m.name, label: m.label ?? m.name, config: m.config, train: m.train ?? {} }));
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.label)) throw new ConfigError(`models: label '${s.label}' appears twice (give one a distinct "label")`);
    seen.add(s.label);
  }
  return specs;
}
