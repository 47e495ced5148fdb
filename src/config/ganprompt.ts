/**
 * Options of the yes/no LLM recommenders (`llmrec run ganprompt|tallrec|collm`,
 * src/methods/ganprompt/, tallrec/, collm/): the "ganprompt" (or "tallrec",
 * "collm") object of a run config file, with the flags applied (layers.ts).
 */
import { z } from 'zod';
import { parseWith } from '../util/validate.js';
import { ModelNameSchema } from './models.js';
import { SmallLmOptionsSchema } from './small_lm.js';

/** Every recipe the yes/no pipeline can build (src/methods/<name>/recipe.ts or ganprompt/recipes.ts). */
export const RECIPES = ['tallrec', 'collm', 'ganprompt', 'rec-ori', 'rec-col', 'rec-sm', 'rec-lora&sm', 'tallrec-multi'] as const;
export type RecipeName = (typeof RECIPES)[number];

const Stage = z.strictObject({
  /** Training users (cases); each gives 1 positive + negativesPerPositive negatives. */
  users: z.number().int().min(1),
  negativesPerPositive: z.number().int().min(1),
  /** Passes over the examples (steps = ceil(epochs * examples / batchSize)). */
  epochs: z.number().positive(),
  batchSize: z.number().int().min(1),
  lr: z.number().positive(),
  loss: z.enum(['bce', 'lm']),
});

export const GanPromptRunSchema = z.strictObject({
  seed: z.number().int().default(2024),
  /** A pretrained LM folder (HF layout + tokenizer.json); absent: train the small default LM on the data. */
  lm: z.strictObject({ dir: z.string().optional(), /** Options of the small LM (small_lm.ts; the same ranges as `lm pretrain`). */ small: SmallLmOptionsSchema.default({}) }).prefault({}),
  collab: z.strictObject({
    /** A model of the models registry (checked before anything is trained). */
    model: ModelNameSchema.default('sasrec'),
    /** A saved model folder (from `llmrec benchmark`); absent: train `model` here. */
    dir: z.string().optional(),
    config: z.record(z.string(), z.unknown()).default({}),
    epochs: z.number().int().min(1).default(30),
    patience: z.number().int().min(1).default(3),
  }).prefault({}),
  /** Saved baseline folders evaluated on the same users and candidates as the LLMs. */
  baselines: z.array(z.string()).default([]),
  templates: z.string().optional(),
  /** Where training questions come from: 'valid' = each user's validation target (never a test item) vs stored negatives. */
  trainSource: z.literal('valid').default('valid'),
  lora: z.strictObject({ r: z.number().int().min(1).default(8), alpha: z.number().positive().default(16), /** Module names (PEFT target_modules); default: the family's attention and MLP projections (LORA_TARGETS). */
    targets: z.array(z.string()).min(1).optional() }).prefault({}),
  loraStage: Stage.partial().prefault({}),
  mappingStage: Stage.partial().prefault({}),
  maxTitleTokens: z.number().int().min(1).default(20),
  /** Mapping layer: placeholder embedding + g(e) with g's output layer at zero (true), or CoLLM's plain replacement by g(e). */
  mappingResidual: z.boolean().default(true),
  maxPromptTokens: z.number().int().min(16).default(512),
  guide: z.strictObject({ topK: z.number().int().min(1).optional(), template: z.string().optional(), among: z.string().optional(), notAmong: z.string().optional() }).prefault({}),
  /** Share of training prompts that use reconstructed titles (GANPrompt). */
  reconstructedShare: z.number().min(0).max(1).default(0.5),
  diversity: z.record(z.string(), z.unknown()).default({}),
  eval: z.strictObject({ users: z.number().int().min(1).default(1000), ks: z.array(z.number().int().min(1)).default([1, 3, 5]) }).prefault({}),
  recipes: z.array(z.enum(RECIPES)).default(RECIPES.filter((r) => r !== 'tallrec-multi')),
  /** Templates ablation recipes are evaluated on: their training templates only, or also the unseen ones. */
  ablationTemplates: z.enum(['trained', 'all']).default('all'),
});
export type GanPromptRunOptions = z.output<typeof GanPromptRunSchema>;
/** A training step's options (LoRA step, mapping step) with the defaults filled in. */
export type TrainStageOptions = z.output<typeof Stage>;

export const DEFAULT_LORA_STAGE: TrainStageOptions = { users: 3000, negativesPerPositive: 1, epochs: 1, batchSize: 16, lr: 2e-3, loss: 'bce' };
export const DEFAULT_MAPPING_STAGE: TrainStageOptions = { users: 3000, negativesPerPositive: 1, epochs: 1, batchSize: 16, lr: 1e-3, loss: 'bce' };

export function parseGanPromptOptions(raw: unknown, source?: string): GanPromptRunOptions {
  return parseWith(GanPromptRunSchema, raw, 'invalid GANPrompt options', source);
}

