/**
 * Typed contracts of the data layer (RecBole3.0's split between the *parser*
 * output and the *task dataset*):
 *
 *   loader  -> RawDataset      every row of the source, ids as strings, input order kept
 *   protocol(RawDataset, ProtocolConfig) -> SplitDataset
 *                              filtered, re-indexed, chronological, leave-one-out,
 *                              seeded negatives stored with the split
 *
 * Index conventions of a SplitDataset: items are 1..numItems (0 is padding in
 * every history), users are 0..numUsers-1. Histories are left-padded with 0.
 */

/**
 * What a user wrote about an item: the review body, its one-line summary, and
 * a feature word the review talks about (P5's explanation hint), when known.
 *
 * The explanation target of P5-style explanation generation is the sentence of
 * `text` that mentions `feature` (see `explanationOf` in reviews.ts). The
 * synthetic shop always puts that sentence first: `text` = feature sentence +
 * ' ' + one more sentence, and `feature` occurs verbatim in it. Loaders of real
 * data (Amazon 2014/2018) leave `feature` undefined.
 */
export interface ReviewText {
  text: string;
  summary: string;
  feature?: string;
}

/** Metadata of one item: a title and key-value attributes (brand, category, ...). */
export interface ItemMeta {
  title: string;
  attributes: Record<string, string>;
}

/** The parser's output: every valid row of the source in input order. */
export interface RawDataset {
  /** Dataset name, e.g. 'ml-100k', 'amazon-beauty', 'synthetic-shop'. */
  name: string;
  /** Where it came from (path or generator description), for reports. */
  source: string;
  /** External ids, indexed by the row arrays below. */
  userIds: string[];
  itemIds: string[];
  /** Row -> user / item index (into userIds / itemIds). */
  user: Int32Array;
  item: Int32Array;
  /** Unix seconds per row, or null when the source only gives an order. */
  time: Float64Array | null;
  /** Explicit rating per row, or null for implicit feedback. */
  rating: Float32Array | null;
  /** Item metadata by item index (missing entries: no text known). */
  itemMeta: Map<number, ItemMeta>;
  /** Rows skipped as malformed (only when the loader was asked to skip bad rows). */
  skippedRows: number;
  /**
   * Review text per row (row-aligned with user/item; null: that row has no
   * text). Absent when the source has no review text at all.
   */
  reviews?: (ReviewText | null)[];
  /**
   * Tabular user features keyed by raw user index (into `userIds`), e.g.
   * MovieLens' { age: '24', gender: 'male', occupation: 'technician' }.
   * Keys are feature names, values are strings (numbers and codes written as
   * text), in the order a profile sentence should name them. A user without
   * an entry has no known features. Absent when the source has no user table.
   */
  userFeatures?: Map<number, Record<string, string>>;
}

/** docs/METHODS.md §1, every choice a named option. */
export interface ProtocolConfig {
  /** Keep rows with rating > threshold (docs/METHODS.md §1: 3); null keeps every row. Ignored for implicit data. */
  ratingThreshold: number | null;
  /** Iterative k-core on users and items (docs/METHODS.md §1: default 5; 0 or 1 disables). */
  kCore: number;
  /** Max history length L of training samples and evaluation histories (GANPrompt: 10; SASRec papers: 50). */
  maxHistory: number;
  /** Sampled negatives per validation/test target (GANPrompt: 9); 0 = full ranking only. */
  numNegatives: number;
  /** Seed of the negative sampler (and of anything else random in the protocol). */
  seed: number;
  /** Drop consecutive repeats of the same item in a user's sequence (default false). */
  dedupeConsecutive?: boolean;
  /** The cold-start protocol (cold_start.ts, docs/METHODS.md §1.4): a share of items withheld from training. */
  coldStart?: ColdStartConfig;
}

/** Options of the cold-start protocol (src/data/cold_start.ts). */
export interface ColdStartConfig {
  /** Share of the eligible items withheld from training, in (0, 1) (default 0.1). */
  share: number;
  /** Seed of the cold-item draw. */
  seed: number;
  /** Only items with text can be cold (default true); items without text are counted. */
  requireText?: boolean;
  /**
   * Share of the eligible items withheld from training as *validation-cold*
   * items, in [0, 1) (default 0: off): drawn after the cold items, from the
   * eligible items that are not cold; they appear only as validation targets
   * (and, as any validation target, in the test history after it) and as
   * test targets, so validation sees cold targets in about the proportion
   * test does (docs/METHODS.md §1.4, "Cold-aware validation").
   */
  validShare?: number;
}

/** What the cold-start protocol did (SplitDataset.coldStart). */
export interface ColdStartInfo {
  share: number;
  seed: number;
  requireText: boolean;
  /** The cold items, ascending. */
  coldItems: Int32Array;
  /** Items without text (never cold when requireText). */
  itemsWithoutText: number;
  /** Per test row: 1 when its target is a cold item, 2 when it is a validation-cold item (in neither group), else 0. */
  testCold: Uint8Array;
  coldTestRows: number;
  warmTestRows: number;
  /** Test rows whose target is a validation-cold item (0 unless validShare > 0). */
  validColdTestRows: number;
  /** The validation-cold items, ascending (empty unless validShare > 0). */
  validColdItems: Int32Array;
  /** Per validation row: 1 when its target is a validation-cold item. */
  validCold: Uint8Array;
  coldValidRows: number;
  warmValidRows: number;
  /** Users left without a training part (fewer than 2 warm items before the test target, validation-cold ones not counted in the training part): training data only, no evaluation row. */
  usersWithoutEvalRow: number;
  /** Interactions with cold items removed from the histories (before the test targets). */
  removedInteractions: number;
}

export const DEFAULT_PROTOCOL: ProtocolConfig = { ratingThreshold: 3, kCore: 5, maxHistory: 10, numNegatives: 9, seed: 2024 };

/**
 * A batch of users with their histories ([size * L], left-padded with 0): the
 * input of every scorer (models, evaluators, batching helpers).
 */
export interface UserBatch {
  size: number;
  L: number;
  user: Int32Array;
  history: Int32Array;
}

/** Sliding-window training samples: row r predicts target[r] from history row r. */
export interface TrainSamples {
  count: number;
  L: number;
  user: Int32Array;
  /** [count * L], left-padded with 0. */
  history: Int32Array;
  target: Int32Array;
}

/** One evaluation split (validation or test): one target per user. */
export interface EvalSplit {
  count: number;
  L: number;
  user: Int32Array;
  /** [count * L] the history before the target, left-padded with 0. */
  history: Int32Array;
  target: Int32Array;
  /** [count * numNegatives] sampled items the user never interacted with (empty when numNegatives = 0). */
  negatives: Int32Array;
  numNegatives: number;
}

/** The task dataset every model and evaluator consumes. */
export interface SplitDataset {
  name: string;
  config: ProtocolConfig;
  numUsers: number;
  numItems: number;
  /** itemIds[0] = '[PAD]'; itemIds[i] is the external id of item i. */
  itemIds: string[];
  userIds: string[];
  itemMeta: Map<number, ItemMeta>;
  /** Full chronological sequence per user (after filtering), item indices 1..numItems. */
  sequences: Int32Array[];
  /** Per user: the training part of the sequence (all but the last two). */
  trainSeqs: Int32Array[];
  train: TrainSamples;
  valid: EvalSplit;
  test: EvalSplit;
  /**
   * Review text of the kept interactions, keyed by `reviewKey(user, item)`
   * (split indices: user 0..numUsers-1, item 1..numItems). A pair reviewed
   * more than once keeps its chronologically last text. Absent when the raw
   * dataset has no `reviews`.
   */
  reviews?: Map<string, ReviewText>;
  /**
   * Tabular user features keyed by split user index (0..numUsers-1): the
   * raw dataset's `userFeatures` of every kept user, re-indexed (filtered-out
   * users are dropped). Keys are feature names ('age', 'gender',
   * 'occupation', ...), values are strings. Absent when the raw dataset has
   * no `userFeatures`.
   */
  userFeatures?: Map<number, Record<string, string>>;
  /** Set by the cold-start protocol (src/data/cold_start.ts): the cold items and the cold test rows. */
  coldStart?: ColdStartInfo;
}

export interface DatasetStats {
  users: number;
  items: number;
  interactions: number;
  sparsity: number;
  meanHistory: number;
}
