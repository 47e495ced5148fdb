/** llmrec's tokenizer layer: load, train, extend and save Hugging Face tokenizer.json files. */
export { TokenizerError } from './errors.js';
export {
  Tokenizer,
  TOKENIZER_FILE,
  TOKENIZER_CONFIG_FILE,
  type AddedTokenJSON,
  type DecodeOptions,
  type EncodeOptions,
  type SpecialTokenRef,
  type SpecialTokens,
} from './tokenizer.js';
export {
  trainBpe,
  trainBpeJSON,
  trainWordPiece,
  trainWordPieceJSON,
  type BpeTrainOptions,
  type TrainOptions,
  type WordPieceTrainOptions,
} from './train.js';
export {
  addGlmMaskTokens,
  addSentinelTokens,
  BPE_DEFAULT_SPECIAL_TOKENS,
  CONVENTIONAL_ROLES,
  GLM_GMASK_TOKEN,
  GLM_MASK_TOKEN,
  GLM_MASK_TOKENS,
  GLM_SENTENCE_MASK_TOKEN,
  GUIDE_TOKEN,
  ITEM_ID_TOKEN,
  MASK_TOKEN,
  REC_SPECIAL_TOKENS,
  sentinelToken,
  sentinelTokens,
  SPECIAL_TOKEN_ROLES,
  USER_ID_TOKEN,
  WORDPIECE_DEFAULT_SPECIAL_TOKENS,
  withRecSpecialTokens,
  type RecSpecialTokenIds,
  type SpecialTokenRole,
} from './special.js';
export { SUPPORTED_MODELS, validateTokenizerJSON, validateTokenizerConfig, type JsonObject } from './validate.js';
