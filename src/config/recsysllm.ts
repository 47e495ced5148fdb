/**
 * Options of `llmrec run recsysllm` (src/methods/recsysllm/): the "recsysllm"
 * object of a run config file, with the flags applied (layers.ts).
 */
import { z } from 'zod';
import { parseWith } from '../util/validate.js';
import { ModelNameSchema } from './models.js';

// The option groups of the RecSysLLM modules (src/methods/recsysllm/: text.ts,
// masking.ts, tasks.ts, evaluate.ts), their defaults and checks: here, so that
// the schema below and the method read one definition (config sits below methods).

export const FAMILIES = ['rating', 'sequential', 'direct', 'explanation', 'review'] as const;
export type Family = (typeof FAMILIES)[number];

export interface BehaviourSampling {
  /** Items drawn from a history (fewer when the history is shorter). */
  size: number;
  /** Shares drawn from the long-, medium- and short-term parts (docs/METHODS.md §7: 0.1, 0.3, 0.6). */
  shares: [number, number, number];
  /** End of the long-term and of the medium-term part, as fractions of the history (docs/METHODS.md §7 default: thirds). */
  splits: [number, number];
}

export const DEFAULT_BEHAVIOUR_SAMPLING: BehaviourSampling = { size: 10, shares: [0.1, 0.3, 0.6], splits: [1 / 3, 2 / 3] };

export function checkBehaviourSampling(s: BehaviourSampling): void {
  if (!Number.isInteger(s.size) || s.size < 1) throw new Error(`behaviour sampling: size must be an integer >= 1, got ${s.size}`);
  const sum = s.shares[0] + s.shares[1] + s.shares[2];
  if (s.shares.some((x) => !(x >= 0)) || Math.abs(sum - 1) > 1e-6) throw new Error(`behaviour sampling: shares must be >= 0 and sum to 1, got [${s.shares.join(', ')}]`);
  if (!(s.splits[0] >= 0 && s.splits[0] <= s.splits[1] && s.splits[1] <= 1)) throw new Error(`behaviour sampling: splits must satisfy 0 <= a <= b <= 1, got [${s.splits.join(', ')}]`);
}

export interface MaskingOptions {
  /** Spans never split an entity, and entity tokens get intra-positions (false: plain GLM). */
  entityAware: boolean;
  /** Share of tokens masked at the entity and sentence levels (GLM: 0.15). */
  ratio: number;
  /** Mean span length in units at the entity level (GLM: Poisson lambda 3). */
  poissonLambda: number;
  /** Document-level span: a share of the length drawn uniformly from this range (docs/METHODS.md §7: 0.5-1.0). */
  documentRange: [number, number];
  /** Probabilities of choosing each level per document (entity, sentence, document). */
  levelWeights: [number, number, number];
}

export const DEFAULT_MASKING: MaskingOptions = {
  entityAware: true, ratio: 0.15, poissonLambda: 3, documentRange: [0.5, 1], levelWeights: [0.5, 0.25, 0.25],
};

export function checkMasking(o: MaskingOptions): void {
  if (!(o.ratio > 0 && o.ratio < 1)) throw new Error(`masking: ratio must be in (0, 1), got ${o.ratio}`);
  if (!(o.poissonLambda > 0)) throw new Error(`masking: poissonLambda must be > 0, got ${o.poissonLambda}`);
  const [lo, hi] = o.documentRange;
  if (!(lo > 0 && lo <= hi && hi <= 1)) throw new Error(`masking: documentRange must satisfy 0 < lo <= hi <= 1, got [${lo}, ${hi}]`);
  if (o.levelWeights.some((w) => !(w >= 0)) || o.levelWeights.reduce((a, b) => a + b, 0) <= 0) {
    throw new Error(`masking: levelWeights must be >= 0 with a positive sum, got [${o.levelWeights.join(', ')}]`);
  }
}

export interface PromptOptions {
  /** Most recent history items written into {history}. */
  historyItems: number;
  /** Token budget of the prompt without the answer (oldest history items are dropped to fit). */
  maxPromptTokens: number;
  /** Answer tokens kept for free-text answers. */
  maxAnswerTokens: number;
  /** Characters of a review written into {review}. */
  maxReviewChars: number;
}

export const DEFAULT_PROMPT: PromptOptions = { historyItems: 5, maxPromptTokens: 192, maxAnswerTokens: 32, maxReviewChars: 320 };

export interface EvalOptions {
  /** Beams of the sequential search (at least the largest k plus room for dropped history items). */
  beams: number;
  /** Whether to also run the sequential search without the trie (share of real items). */
  unconstrained: boolean;
  /** Score chunk of candidate answers. */
  chunk: number;
}

export const DEFAULT_EVAL: EvalOptions = { beams: 20, unconstrained: true, chunk: 50 };

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
    models: z.array(ModelNameSchema).default(['sasrec']),
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

