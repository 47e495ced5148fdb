/**
 * llmrec/models: the collaborative models (docs/METHODS.md §3), created by
 * name (`createRecommender('sasrec', config)`) or as classes, and reloaded
 * from a saved directory (`loadRecommender`).
 */
export type { Recommender, FitOptions, FitReport, EpochReport, UserBatch } from './types.js';
export { createRecommender, loadRecommender, modelNames, modelEntry, MODELS } from './registry.js';
export type { ModelEntry, FitDefaults, LoadOptions, ModelSettings } from './registry.js';
export { RandomRecommender } from './random.js';
export { Pop } from './pop.js';
export { BPRMF } from './bprmf.js';
export { GRU4Rec } from './gru4rec.js';
export { SASRec } from './sasrec.js';
export { Caser } from './caser.js';
export { BERT4Rec } from './bert4rec.js';
export { DIN } from './din.js';
export { TextSeq, TEXTSEQ_DEFAULTS } from './textseq.js';
export type { TextSeqConfig } from './textseq.js';
