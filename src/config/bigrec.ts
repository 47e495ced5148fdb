/**
 * Options of `llmrec run bigrec` (src/methods/bigrec/, docs/LLM.md): the
 * "bigrec" object of a run config file, with the flags applied (layers.ts).
 */
import { z } from 'zod';
import { parseWith } from '../util/validate.js';

export const BigRecRunSchema = z.strictObject({
  seed: z.number().int().default(2024),
  /** The LM to fine-tune: a causal LM folder (HF layout + tokenizer.json); absent: train the small default LM on the data (`small` options). */
  lm: z.strictObject({ dir: z.string().optional(), small: z.record(z.string(), z.unknown()).default({}) }).prefault({}),
  /** Step 1, grounding to the recommendation space: next-title generation fine-tuning on the training sequences (src/train via src/lm/pretrain.ts). */
  finetune: z.strictObject({
    /** Optimizer steps (0: no fine-tuning, the LM as it is). */
    steps: z.number().int().min(0).default(300),
    batchSize: z.number().int().min(1).default(16),
    lr: z.number().positive().default(1e-3),
    warmupSteps: z.number().int().min(0).default(20),
    /** Training examples: a seeded sample of (history -> next item) windows of the training sequences. */
    examples: z.number().int().min(1).default(20000),
    /** 'full' fine-tuning, or LoRA adapters (merged into the weights when saved). */
    method: z.enum(['full', 'lora']).default('full'),
    lora: z.strictObject({ r: z.number().int().min(1).default(8), alpha: z.number().positive().default(16) }).prefault({}),
    checkpointEvery: z.number().int().min(0).default(100),
  }).prefault({}),
  /** History items in a prompt (the most recent; older ones are dropped first when a prompt exceeds maxPromptTokens). */
  historyLength: z.number().int().min(1).default(10),
  maxPromptTokens: z.number().int().min(8).default(256),
  /** Titles cut to this many characters in prompts and targets. */
  titleChars: z.number().int().min(4).default(60),
  /** New tokens of the generated title at most. */
  maxNewTokens: z.number().int().min(1).default(32),
  /** Step 2, grounding to the item space. */
  grounding: z.strictObject({
    /** Text embeddings compared by L2 distance: the LM's mean-pooled last hidden states, and/or a TF-IDF floor (cosine distance). */
    embeddings: z.array(z.enum(['lm', 'tfidf'])).min(1).default(['lm', 'tfidf']),
    /** Candidate exponents of the popularity re-weighting D / (1 + P)^gamma, picked on validation users. */
    popGammas: z.array(z.number().min(0)).min(1).default([0, 0.5, 1, 2, 4, 8]),
    /** Candidate exponents of the collaborative re-weighting D / (1 + S)^gamma (S: the collaborative model's normalised scores). */
    collabGammas: z.array(z.number().min(0)).min(1).default([0, 0.5, 1, 2, 4, 8]),
    /** Validation users on which the gammas are picked (0: no tuning, the first gamma of each list). */
    tuneUsers: z.number().int().min(0).default(100),
    /** Metric the gammas are picked on (full ranking on validation). */
    tuneMetric: z.string().default('ndcg@10'),
  }).prefault({}),
  /** Trie-constrained decoding beside grounding: beams over the catalogue titles; the beams' items ranked in beam order. */
  trie: z.strictObject({ enabled: z.boolean().default(true), beams: z.number().int().min(1).default(20) }).prefault({}),
  /** The collaborative model of the re-weighting and a baseline row: a saved folder, or a model trained here. */
  collab: z.strictObject({
    model: z.string().default('sasrec'),
    dir: z.string().optional(),
    epochs: z.number().int().min(1).default(20),
    /** No collaborative model at all (no collaborative re-weighting or row). */
    none: z.boolean().default(false),
  }).prefault({}),
  eval: z.strictObject({
    /** Test users (a seeded sample). */
    users: z.number().int().min(1).default(200),
    /** Cut-offs of the full-ranking protocol (every item, history excluded). */
    fullKs: z.array(z.number().int().min(1)).min(1).default([1, 5, 10, 20]),
    /** Cut-offs of the sampled protocol (the split's stored negatives). */
    ks: z.array(z.number().int().min(1)).min(1).default([1, 3, 5]),
  }).prefault({}),
});
export type BigRecRunOptions = z.output<typeof BigRecRunSchema>;

export function parseBigRecOptions(raw: unknown, source?: string): BigRecRunOptions {
  return parseWith(BigRecRunSchema, raw, 'invalid BIGRec options', source);
}
