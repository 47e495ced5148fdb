/**
 * Options of the small masked LM (`llmrec lm pretrain-mlm`: an item text
 * encoder trained on a dataset's item texts; GANPrompt's attribute step maps
 * its own `mlm*` options onto them): a BERT and a WordPiece tokenizer trained
 * from scratch (src/methods/text_lm/small_mlm.ts).
 */
import { z } from 'zod';
import { parseWith } from '../util/validate.js';

/** Every option, each optional (the defaults are DEFAULT_SMALL_MLM). */
export const SmallMlmOptionsSchema = z.strictObject({
  vocabSize: z.number().int().min(1),
  hiddenSize: z.number().int().min(1),
  layers: z.number().int().min(1),
  heads: z.number().int().min(1),
  intermediateSize: z.number().int().min(1),
  /** Tokens per training block (documents packed, [SEP] between them). */
  blockSize: z.number().int().min(2),
  /** Position embeddings: at least blockSize (longer inputs at inference, e.g. attribute prompts). */
  maxPositions: z.number().int().min(2),
  batchSize: z.number().int().min(1),
  /** Training steps (0: the tokenizer and an untrained BERT). */
  steps: z.number().int().min(0),
  lr: z.number().positive(),
  seed: z.number().int(),
  /** Share of the documents held out for the masked-LM perplexity (0: none). */
  heldOutFraction: z.number().min(0).lt(1),
  /** Checkpoint every this many steps (with an output folder; 0: at the end and when interrupted only). */
  checkpointEvery: z.number().int().min(0),
}).partial();

export type SmallMlmOptions = Required<z.output<typeof SmallMlmOptionsSchema>>;

export const DEFAULT_SMALL_MLM: SmallMlmOptions = {
  vocabSize: 3000, hiddenSize: 64, layers: 2, heads: 2, intermediateSize: 256, blockSize: 128, maxPositions: 128,
  batchSize: 16, steps: 1000, lr: 2e-3, seed: 2024, heldOutFraction: 0.05, checkpointEvery: 200,
};

/**
 * Validates small-MLM options and fills the defaults; the checks between
 * fields (heads divide the hidden size, positions cover a block) name both.
 * maxPositions not given is at least blockSize.
 */
export function parseSmallMlmOptions(raw: unknown, source?: string): SmallMlmOptions {
  const given = parseWith(SmallMlmOptionsSchema, raw ?? {}, 'invalid small MLM options', source);
  const o: SmallMlmOptions = { ...DEFAULT_SMALL_MLM, ...given };
  if (given.maxPositions === undefined) o.maxPositions = Math.max(o.maxPositions, o.blockSize);
  const where = source ? ` (${source})` : '';
  if (o.hiddenSize % o.heads !== 0) throw new Error(`invalid small MLM options${where}: 'hiddenSize' ${o.hiddenSize} must be a multiple of 'heads' ${o.heads}`);
  if (o.maxPositions < o.blockSize) throw new Error(`invalid small MLM options${where}: 'maxPositions' ${o.maxPositions} must be >= 'blockSize' ${o.blockSize}`);
  return o;
}
