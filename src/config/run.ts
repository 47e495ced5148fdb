/**
 * The benchmark / train run configuration (`llmrec benchmark|train|eval|data
 * stats`, and the data + protocol part of `llmrec run <method>`): one zod
 * schema for config files and flags. Unknown keys are errors (a typo must not
 * be silently ignored). The resolved config is written into every run
 * directory (config.json), so a run can be repeated exactly.
 */
import { z } from 'zod';
import { parseWith } from '../util/validate.js';
import { ConfigError, readConfigFile, resolveLayers } from './layers.js';

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
  protocol: ProtocolSchema.prefault({}),
  models: z.array(ModelEntry).min(1).default(['random', 'pop', 'bprmf', 'gru4rec', 'sasrec', 'caser', 'bert4rec', 'din']),
  train: Train.prefault({}),
  eval: Eval.prefault({}),
  output: z.strictObject({ runsDir: z.string().default('runs'), name: z.string().optional() }).prefault({}),
});

export type RunConfig = z.infer<typeof RunConfigSchema>;
export type ModelSpec = { name: string; label: string; config: Record<string, unknown>; train: z.infer<typeof TrainOverride> };

/** Validates a raw object; `where` names its origin (file path or 'command line') in errors. */
export function parseRunConfig(raw: unknown, where: string): RunConfig {
  return parseWith(RunConfigSchema, raw, 'invalid configuration', where, ConfigError);
}

/**
 * built-in defaults < method defaults < file < flags (see layers.ts), validated
 * once at the end. `methodDefaults` is what a command changes of the built-in
 * defaults (e.g. `run recsysllm`'s protocol).
 */
export function resolveRunConfig(file: string | undefined, flags: Record<string, unknown>, methodDefaults?: Record<string, unknown>): RunConfig {
  return resolveLayers(RunConfigSchema, 'invalid configuration', file, [methodDefaults, file ? readConfigFile(file) : undefined, flags]);
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
