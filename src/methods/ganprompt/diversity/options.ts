/** GANPrompt stage 1 options: variants, templates, the schema and defaults (methods/ganprompt/diversity.ts). */
import { z } from 'zod';
import { AttributeOptionsSchema, stripUndefined, zodMessage } from '../attributes.js';

export const DIVERSITY_VARIANTS = ['div-ori', 'div-cos', 'div-js', 'div-all'] as const;
export type DiversityVariant = (typeof DIVERSITY_VARIANTS)[number];
export const DISCRIMINATOR_ACTIVATIONS = ['relu', 'gelu', 'tanh', 'silu'] as const;
export type DiscriminatorActivation = (typeof DISCRIMINATOR_ACTIVATIONS)[number];

export const ORIGINAL_TEMPLATE = 'The user has bought: {titles}.';
export const ADVERSARIAL_TEMPLATE = 'The user has bought: {titles}, described as {attribute}.';
/** What the warm-up and the reconstruction feed the generator for one item: its title alone. */
export const TITLE_TEMPLATE = '{title}';

const variant = z.enum(DIVERSITY_VARIANTS);
const int = (min: number) => z.number().int().min(min);

export const DiversityOptionsSchema = z.strictObject({
  seed: z.number().int(),
  /** The main variant (checkpoint, plot, reconstruction). */
  variant,
  /** Variants whose measures are reported (the main one is always trained). */
  ablations: z.array(variant),
  /** Options of the attribute mining (attributes.ts), partial. */
  attributes: AttributeOptionsSchema.partial(),
  originalTemplate: z.string().refine((s) => s.includes('{titles}'), 'must contain {titles}'),
  adversarialTemplate: z.string().refine((s) => s.includes('{titles}') && s.includes('{attribute}'), 'must contain {titles} and {attribute}'),
  /** L: last titles of each training history. */
  historyLength: int(1),
  maxTitleChars: int(8),
  /** A text longer than this (tokens, eos included) loses its oldest titles. */
  maxTextTokens: int(8),
  /** Labelled training samples (users cycle when fewer; classes seeded uniform). */
  trainSamples: int(2),
  /** Held-out samples (other users; classes balanced) for the measurements and the plot. */
  heldOutSamples: int(3),
  tokenizerVocabSize: int(300),
  dModel: int(8),
  dKv: int(4),
  dFf: int(8),
  heads: int(1),
  encoderLayers: int(1),
  decoderLayers: int(1),
  dropout: z.number().min(0).lt(1),
  discriminatorHidden: int(2),
  discriminatorActivation: z.enum(DISCRIMINATOR_ACTIVATIONS),
  /** Reconstruction warm-up steps (L_seq2seq only). */
  warmupSteps: int(0),
  warmupBatchSize: int(1),
  warmupLr: z.number().positive(),
  /** Item titles in the warm-up data (besides the training texts): every item's title when true. */
  warmupOnTitles: z.boolean(),
  /** Adversarial steps per variant (one D step + one G step each). */
  steps: int(0),
  batchSize: int(2),
  lr: z.number().positive(),
  discriminatorLr: z.number().positive(),
  weightDecay: z.number().min(0),
  clipNorm: z.number().positive(),
  lambda: z.number().min(0),
  alpha: z.number().min(0),
  beta: z.number().min(0),
  lambdaAdv: z.number().min(0),
  /** Reconstruction: max new tokens, max input tokens, titles per batch. */
  reconstructMaxTokens: int(1),
  reconstructInputTokens: int(2),
  reconstructBatch: int(1),
  /** Vectors per forward pass when measuring. */
  evalBatch: int(1),
  umapNeighbors: int(2),
  umapMinDist: z.number().min(0),
});

export type DiversityStageOptions = z.output<typeof DiversityOptionsSchema>;

export const DEFAULT_DIVERSITY_OPTIONS: DiversityStageOptions = {
  seed: 2024,
  variant: 'div-ori',
  ablations: ['div-ori', 'div-cos', 'div-js', 'div-all'],
  attributes: {},
  originalTemplate: ORIGINAL_TEMPLATE,
  adversarialTemplate: ADVERSARIAL_TEMPLATE,
  historyLength: 10,
  maxTitleChars: 60,
  maxTextTokens: 64,
  trainSamples: 2000,
  heldOutSamples: 240,
  tokenizerVocabSize: 4096,
  dModel: 128, dKv: 32, dFf: 512, heads: 4, encoderLayers: 2, decoderLayers: 2, dropout: 0,
  discriminatorHidden: 128,
  discriminatorActivation: 'relu',
  warmupSteps: 300, warmupBatchSize: 32, warmupLr: 2e-3, warmupOnTitles: true,
  steps: 120, batchSize: 24, lr: 5e-4, discriminatorLr: 1e-3, weightDecay: 0.01, clipNorm: 1,
  lambda: 0.1, alpha: 1, beta: 1, lambdaAdv: 0,
  reconstructMaxTokens: 20, reconstructInputTokens: 32, reconstructBatch: 128,
  evalBatch: 64,
  umapNeighbors: 15, umapMinDist: 0.1,
};

/** Validates user-given options (partial; unknown keys rejected) and fills the defaults; errors name the field. */
export function parseDiversityOptions(opts: unknown): DiversityStageOptions {
  const r = DiversityOptionsSchema.partial().safeParse(opts ?? {});
  if (!r.success) throw new Error(zodMessage('invalid GANPrompt diversity options', r.error));
  const o = { ...DEFAULT_DIVERSITY_OPTIONS, ...stripUndefined(r.data) };
  return { ...o, attributes: stripUndefined(o.attributes) };
}

/** The loss weights of a variant: which distance terms it keeps and whether L_div is on at all. */
export function variantTerms(v: DiversityVariant, alpha: number, beta: number): { alpha: number; beta: number; diversity: boolean } {
  switch (v) {
    case 'div-ori': return { alpha, beta, diversity: true };
    case 'div-cos': return { alpha: 0, beta, diversity: true };
    case 'div-js': return { alpha, beta: 0, diversity: true };
    case 'div-all': return { alpha: 0, beta: 0, diversity: false };
  }
}
