/**
 * Options of the small default language model (`llmrec lm pretrain`, and the
 * "lm.small" object of the GANPrompt options): a LLaMA-style decoder and a
 * byte-level BPE tokenizer trained on a dataset's train-split text
 * (src/methods/text_lm/small_lm.ts).
 */
import { z } from 'zod';
import { parseWith } from '../util/validate.js';

/** Every option, each optional (the defaults are DEFAULT_SMALL_LM). */
export const SmallLmOptionsSchema = z.strictObject({
  vocabSize: z.number().int().min(1),
  hiddenSize: z.number().int().min(1),
  layers: z.number().int().min(1),
  heads: z.number().int().min(1),
  kvHeads: z.number().int().min(1),
  intermediateSize: z.number().int().min(1),
  blockSize: z.number().int().min(1),
  batchSize: z.number().int().min(1),
  /**
   * Training steps, at least 1. Not given: `epochs` passes over the training blocks, at most
   * `maxAutoSteps` (DEFAULT_SMALL_LM.steps = 0 marks that internally; an explicit 0 is an error,
   * never "the default": docs/HOSTILE.md, "Flags and config files").
   */
  steps: z.number().int().min(1),
  epochs: z.number().positive(),
  maxAutoSteps: z.number().int().min(1),
  lr: z.number().positive(),
  warmupSteps: z.number().int().min(0),
  seed: z.number().int(),
  /** Share of the corpus's documents held out for perplexity. */
  heldOutFraction: z.number().min(0).lt(1),
  /** Users of the test split for the next-title evaluation (0 skips it). */
  evalUsers: z.number().int().min(0),
  checkpointEvery: z.number().int().min(0),
  /** Also train on the review text of training interactions (src/methods/text_lm/corpus.ts; datasets without reviews ignore it; default false; configs/hybrid-beauty.json turns it on). */
  reviewDocs: z.boolean(),
  /** Extra documents for the tokenizer and the corpus (e.g. prompt templates' wording and answer words; never data). */
  extraDocuments: z.array(z.string()),
}).partial();

export type SmallLmOptions = Required<z.output<typeof SmallLmOptionsSchema>>;

export const DEFAULT_SMALL_LM: SmallLmOptions = {
  vocabSize: 4096, hiddenSize: 128, layers: 4, heads: 4, kvHeads: 2, intermediateSize: 344,
  blockSize: 128, batchSize: 16, steps: 0, epochs: 2, maxAutoSteps: 2000, lr: 3e-3, warmupSteps: 100, seed: 2024,
  heldOutFraction: 0.05, evalUsers: 1000, checkpointEvery: 200, extraDocuments: [], reviewDocs: false,
};

/** Validates given small-LM options (a partial object; the defaults fill the rest later). */
export function parseSmallLmOptions(raw: unknown, source?: string): Partial<SmallLmOptions> {
  return parseWith(SmallLmOptionsSchema, raw ?? {}, 'invalid small LM options', source);
}
