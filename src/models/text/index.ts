/**
 * Item text encoders (docs/METHODS.md §3.10): one interface
 * (`ItemTextEncoder`), the TF-IDF/BM25 floor, LM encoders (BERT, T5) loaded
 * through src/lm, the item texts of a split, and the per-item cache.
 */
export type { ItemTextEncoder } from './types.js';
export { TfidfEncoder, tokenize, fnv1a, type TfidfOptions, type TermWeighting } from './tfidf.js';
export { LmTextEncoder, meanPool, type LmEncoderOptions } from './lm_encoder.js';
export { itemTexts, type ItemTexts } from './item_texts.js';
export { encodeItems, cacheFile, textKey, clearMemoryCache, TEXT_CACHE_FORMAT, type EncodeItemsOptions, type EncodedItems } from './cache.js';
export { createTextEncoder, type TextEncoderSpec } from './create.js';
