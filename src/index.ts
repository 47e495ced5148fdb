/**
 * llmrec public API: the main names of every layer. The package's subpaths
 * (package.json "exports") give each layer's full public set:
 *
 *   llmrec/data     datasets, the protocol (docs/METHODS.md §1), the synthetic shop
 *   llmrec/eval     evaluator, metrics (§2), paired significance (§2.6), reports, prompt robustness
 *   llmrec/models   collaborative models (§3)
 *   llmrec/lm       tokenizers, model families, checkpoints, LoRA, scoring, generation
 *   llmrec/methods  TALLRec / CoLLM / GANPrompt (§4-6) and RecSysLLM (§7)
 *   llmrec/engine   the tfjs engine (tf, initEngine, fused ops)
 */
export * as engine from './engine/index.js';
export { tf, initEngine, engineInfo } from './engine/index.js';
export type { EngineOptions, EngineInfo } from './engine/index.js';
export * as nn from './nn/index.js';
export { writeFileAtomic } from './util/fs.js';

export { loadDataset, applyProtocol, DEFAULT_PROTOCOL, datasetStats, formatStats, generateShop, describeShop, resolveDataset, DataError } from './data/index.js';
export type { RawDataset, SplitDataset, ProtocolConfig, ItemMeta, EvalSplit, UserBatch, ShopOptions } from './data/index.js';

export { evaluateRecommender, evaluateAll, metricsTable, randomRankerExpectation } from './eval/index.js';
export type { EvalOptions, EvalResult, EvalRow, MetricValues, Scorer } from './eval/index.js';

export { createRecommender, loadRecommender, modelNames } from './models/index.js';
export type { Recommender, FitOptions, FitReport } from './models/index.js';

export { loadPretrained, savePretrained, createModel, Tokenizer, trainBpe, trainWordPiece, scoreContinuations, generate, TokenTrie, applyLora, saveAdapter, loadAdapter } from './lm/index.js';
export type { CausalLM, LanguageModel, Prompt } from './lm/index.js';

export { YesNoLlm, runGanPrompt, runRecSysLLM } from './methods/index.js';
