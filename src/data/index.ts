/**
 * llmrec/data: datasets and the evaluation protocol (docs/METHODS.md §1).
 * Load a dataset by name or path (`loadDataset`), or generate the embedded
 * synthetic shop (`generateShop`), then split it (`applyProtocol`).
 */
export type { ColdStartConfig, ColdStartInfo } from './types.js';
export { applyColdStartProtocol, applyAnyProtocol, coldStartSplit, drawColdItems, DEFAULT_COLD_START } from './cold_start.js';
export type { ReviewText, ItemMeta, RawDataset, ProtocolConfig, UserBatch, TrainSamples, EvalSplit, SplitDataset, DatasetStats } from './types.js';
export { DEFAULT_PROTOCOL } from './types.js';
export { loadDataset, detectFormat, canonicalFormat, LOADERS, FORMAT_ALIASES } from './loaders/index.js';
export type { DatasetFormat, LoadDatasetOptions, LoaderEntry } from './loaders/index.js';
export { resolveDataset, dataRoot, dataAvailable, DatasetNotFoundError, DATA_DIR_PREFIX } from './resolve.js';
export { loadDataSection, sectionLoadOptions, resolveAgainst } from './loaders/section.js';
export type { DataSection } from './loaders/section.js';
export { loadGeneric, readItemFile, HEADER_ALIASES, TITLE_ALIASES, TIME_UNITS } from './loaders/index.js';
export type { Column, GenericColumns, GenericItemFile, GenericOptions, TimeUnit } from './loaders/index.js';
export { DataError } from './errors.js';
export {
  applyProtocol,
  validateRaw,
  validateConfig,
  filterByRating,
  kCoreFilter,
  groupChronologically,
  dedupeConsecutive,
  dropShortUsers,
  reindex,
  leaveOneOut,
  slidingWindowSamples,
  withholdTrainTail,
  buildEvalSplit,
  sampleNegatives,
  SeededRng,
} from './protocol.js';
export { datasetStats, formatStats } from './stats.js';
export type { NamedStats } from './stats.js';
export { epochPermutation, historyItems } from './batches.js';
export type { TrainBatch } from './batches.js';
export { itemSentence } from './item_text.js';
export type { ItemSentenceOptions } from './item_text.js';
export { reviewKey, reviewOf, explanationOf } from './reviews.js';
export { generateShop, generateShopWithTruth, describeShop, DEFAULT_SHOP, SHOP_MAX_CATEGORIES, ShopRng } from './synthetic.js';
export type { ShopOptions, ResolvedShopOptions, ShopTruth, ShopWithTruth } from './synthetic.js';
