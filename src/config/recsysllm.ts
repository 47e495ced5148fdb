/**
 * Options of `llmrec run recsysllm` (src/methods/recsysllm/): the "recsysllm"
 * object of a run config file, with the flags applied (layers.ts).
 */
import { z } from 'zod';
import { parseWith } from '../util/validate.js';
import { DEFAULT_EVAL } from '../methods/recsysllm/evaluate.js';
import { checkMasking, DEFAULT_MASKING } from '../methods/recsysllm/masking.js';
import { DEFAULT_PROMPT, FAMILIES } from '../methods/recsysllm/tasks.js';
import { checkBehaviourSampling, DEFAULT_BEHAVIOUR_SAMPLING } from '../methods/recsysllm/text.js';

export const VARIANTS = ['recsysllm', 'plain'] as const;
export type Variant = (typeof VARIANTS)[number];

export const DEFAULT_TEMPLATES_FILE = 'templates/recsysllm.json';

const Train = z.strictObject({
  steps: z.number().int().min(1),
  batchSize: z.number().int().min(1),
  lr: z.number().positive(),
  warmupSteps: z.number().int().min(0),
  checkpointEvery: z.number().int().min(0),
});

export const RecSysRunSchema = z.strictObject({
  seed: z.number().int().default(2024),
  templates: z.string().default(DEFAULT_TEMPLATES_FILE),
  variants: z.array(z.enum(VARIANTS)).min(1).default([...VARIANTS]),
  /** Families to train and evaluate (default: every one the data supports). */
  families: z.array(z.enum(FAMILIES)).optional(),
  tokenizer: z.strictObject({ vocabSize: z.number().int().min(300).default(4096) }).prefault({}),
  model: z.strictObject({
    hiddenSize: z.number().int().min(8).default(128),
    layers: z.number().int().min(1).default(4),
    heads: z.number().int().min(1).default(4),
    dropout: z.number().min(0).max(0.9).default(0.1),
    maxPositions: z.number().int().min(64).default(512),
  }).prefault({}),
  text: z.strictObject({
    maxEntityTokens: z.number().int().min(1).default(24),
    maxDocTokens: z.number().int().min(16).default(192),
    itemAttributes: z.array(z.string()).default([]),
  }).prefault({}),
  sampling: z.strictObject({
    size: z.number().int().min(1).default(DEFAULT_BEHAVIOUR_SAMPLING.size),
    shares: z.tuple([z.number(), z.number(), z.number()]).default(DEFAULT_BEHAVIOUR_SAMPLING.shares),
    splits: z.tuple([z.number(), z.number()]).default(DEFAULT_BEHAVIOUR_SAMPLING.splits),
  }).prefault({}),
  masking: z.strictObject({
    ratio: z.number().default(DEFAULT_MASKING.ratio),
    poissonLambda: z.number().default(DEFAULT_MASKING.poissonLambda),
    documentRange: z.tuple([z.number(), z.number()]).default(DEFAULT_MASKING.documentRange),
    levelWeights: z.tuple([z.number(), z.number(), z.number()]).default(DEFAULT_MASKING.levelWeights),
  }).prefault({}),
  pretrain: Train.partial().default({}),
  finetune: Train.extend({ maxPerFamily: z.number().int().min(1) }).partial().default({}),
  prompt: z.strictObject({
    historyItems: z.number().int().min(1).default(DEFAULT_PROMPT.historyItems),
    maxPromptTokens: z.number().int().min(16).default(DEFAULT_PROMPT.maxPromptTokens),
    maxAnswerTokens: z.number().int().min(1).default(DEFAULT_PROMPT.maxAnswerTokens),
    maxReviewChars: z.number().int().min(1).default(DEFAULT_PROMPT.maxReviewChars),
  }).prefault({}),
  eval: z.strictObject({
    users: z.number().int().min(1).default(500),
    beams: z.number().int().min(10).default(DEFAULT_EVAL.beams),
    unconstrained: z.boolean().default(DEFAULT_EVAL.unconstrained),
    chunk: z.number().int().min(1).default(DEFAULT_EVAL.chunk),
  }).prefault({}),
  baselines: z.strictObject({
    /** Collaborative models trained here (Random and Pop are always added). */
    models: z.array(z.string()).default(['sasrec']),
    /** Saved model folders evaluated on the same users. */
    dirs: z.array(z.string()).default([]),
    epochs: z.number().int().min(1).default(30),
    patience: z.number().int().min(1).default(5),
  }).prefault({}),
});
export type RecSysRunOptions = z.output<typeof RecSysRunSchema>;

export const DEFAULT_PRETRAIN = { steps: 3000, batchSize: 16, lr: 1e-3, warmupSteps: 150, checkpointEvery: 250 };
export const DEFAULT_FINETUNE = { steps: 3000, batchSize: 16, lr: 5e-4, warmupSteps: 100, checkpointEvery: 250, maxPerFamily: 30000 };

export function parseRecSysOptions(raw: unknown, source = 'recsysllm options'): RecSysRunOptions {
  const o = parseWith(RecSysRunSchema, raw ?? {}, 'invalid RecSysLLM options', source);
  try {
    checkMasking({ ...o.masking, entityAware: true });
    checkBehaviourSampling(o.sampling);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`, { cause: e });
  }
  if (o.model.hiddenSize % o.model.heads !== 0) throw new Error(`${source}: field 'model.hiddenSize' (${o.model.hiddenSize}) must be divisible by model.heads (${o.model.heads})`);
  if (o.model.maxPositions < Math.max(o.text.maxDocTokens, o.prompt.maxPromptTokens) + 2) throw new Error(`${source}: field 'model.maxPositions' must exceed text.maxDocTokens and prompt.maxPromptTokens`);
  return o;
}

