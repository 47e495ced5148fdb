/** LLMRank-style zero-shot ranking on any LLM backend (docs/LLM.md). */
export { bordaPoints, bordaRanking, PositionBias } from './borda.js';
export { diceSimilarity, normalizeTitle, parseRanking, type ParsedRanking, type ParseOptions } from './parse.js';
export { buildRankPrompt, DEFAULT_WORDS, MOVIE_WORDS, PROMPT_STYLES, scoreCue, type PromptStyle, type PromptWords } from './prompts.js';
export { bm25Retriever, popRetriever, recommenderRetriever, topItems, words, type Bm25Options, type Retriever } from './retrieve.js';
export { pessimisticRank, renderLlmRankReport, runLlmRank, type LlmRankOptions, type LlmRankReport, type RankMetrics } from './rank.js';
export { isMovieData, llmrank, makeRetriever, runLlmRankMethod } from './method.js';
