/**
 * Options of the synthetic shop (../synthetic.ts), with their defaults, and
 * the shape of its ground truth.
 */
import type { RawDataset } from '../types.js';
import { TAXONOMY } from './taxonomy.js';

/** Options of the synthetic shop; every field has a default (see `DEFAULT_SHOP`). */
export interface ShopOptions {
  /** Seed of everything (the catalog depends on seed, items and categories only). */
  seed?: number;
  /** Number of users. */
  users?: number;
  /** Number of items (spread over the sub-categories in proportion to category weight). */
  items?: number;
  /** Mean number of interactions per user, before any filtering. */
  meanLength?: number;
  /** Minimum interactions per user. */
  minLength?: number;
  /** Maximum interactions per user. */
  maxLength?: number;
  /** Number of top categories used (1..8, taken in taxonomy order). */
  categories?: number;
  /** Zipf exponent of popularity over product lines within a sub-category. */
  zipfExponent?: number;
  /** Mean Dirichlet concentration of the user taste over top categories (small = focused users). */
  tasteConcentration?: number;
  /** Dirichlet concentration of a user's brand preference within a category. */
  brandConcentration?: number;
  /** Probability that the next item follows the Markov transition of the previous one, within a session. */
  pSequentialInSession?: number;
  /** Same, for the first item of a new session. */
  pSequentialNewSession?: number;
  /** Probability that a session goes on after an item (mean session length 1 / (1 - p)). */
  pSessionContinue?: number;
  /** Probability that a new session starts with re-buying a liked consumable. */
  pRepeat?: number;
  /** Probability that an in-session interaction has the exact same second as the previous one. */
  tieRate?: number;
  /** First possible start date of a user (ISO date, UTC). */
  startDate?: string;
  /** Users start uniformly within this many days after `startDate`. */
  startSpanDays?: number;
  /** Mean gap between two sessions of a user, in days. */
  meanSessionGapDays?: number;
  /** Row order of the output: 'time' = one chronological log of the shop; 'user' = grouped by user. */
  order?: 'time' | 'user';
  /**
   * Generate a review (RawDataset.reviews) for every row (default true). The
   * reviews use their own PRNG stream: every other output is the same either way.
   */
  reviews?: boolean;
}

export type ResolvedShopOptions = Required<ShopOptions>;

export const DEFAULT_SHOP: ResolvedShopOptions = {
  seed: 2024,
  users: 1500,
  items: 800,
  meanLength: 16.8,
  minLength: 5,
  maxLength: 150,
  categories: 8,
  zipfExponent: 1.1,
  tasteConcentration: 0.35,
  brandConcentration: 0.7,
  pSequentialInSession: 0.6,
  pSequentialNewSession: 0.3,
  pSessionContinue: 0.6,
  pRepeat: 0.08,
  tieRate: 0.01,
  startDate: '2020-01-01',
  startSpanDays: 900,
  meanSessionGapDays: 9,
  order: 'time',
  reviews: true,
};

/** The ground truth of a generated shop, indexed like the RawDataset (items by item index, users by user index). */
export interface ShopTruth {
  options: ResolvedShopOptions;
  /** Top category names, e.g. 'Beauty'. */
  categories: string[];
  /** Sub-category names, 'Top > Sub'. */
  subcategories: string[];
  /** Top category of each sub-category. */
  subcategoryParent: Int32Array;
  /** Share of each sub-category within its top category (the taste step's choice). */
  subcategoryShare: Float64Array;
  brands: string[];
  /** Per item: top category, sub-category, brand, product line. */
  itemCategory: Int32Array;
  itemSubcategory: Int32Array;
  itemBrand: Int32Array;
  itemLine: Int32Array;
  itemPrice: Float64Array;
  /** Price percentile of the item within its sub-category, in [0, 1]. */
  itemPriceRank: Float64Array;
  itemConsumable: Uint8Array;
  /** Base (Zipf) popularity, normalized to sum 1 within each sub-category. */
  itemPopularity: Float64Array;
  /** Per user: taste over the top categories (sums to 1). */
  userTaste: Float32Array[];
  /** Per user: brand preference multiplier per brand (mean 1 within a category). */
  userBrandPref: Float32Array[];
  /** Per user: preferred price percentile in [0, 1]. */
  userPriceLevel: Float32Array;
  /** Markov transitions: the successors of each item and their probabilities (sum 1). */
  successors: Int32Array[];
  successorProbs: Float32Array[];
  /** Probability of a Markov step within a session / at the start of a new session. */
  pSequential: { inSession: number; newSession: number };
  /**
   * The generative next-item distribution after `prev` (over all items, sums to 1):
   * (1 - p) * taste(user) + p * transitions(prev), p = pSequential for the
   * session state. Without `user` the taste part is the population mean. It
   * leaves out the two history-dependent parts of the process: repeat
   * purchases and the rejection of already-bought items.
   */
  nextItemDistribution(prev: number, user?: number, sameSession?: boolean): Float64Array;
  /** Titles that collided and got a disambiguating suffix (0 in practice). */
  titleCollisionsResolved: number;
  /** Sessions generated over all users. */
  sessions: number;
  /** Generation time in milliseconds. */
  elapsedMs: number;
}

export interface ShopWithTruth {
  dataset: RawDataset;
  truth: ShopTruth;
}

export function resolveOptions(opts: ShopOptions): ResolvedShopOptions {
  const o: ResolvedShopOptions = { ...DEFAULT_SHOP };
  for (const [k, v] of Object.entries(opts) as [keyof ShopOptions, unknown][]) {
    if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  }
  const int = (name: keyof ShopOptions, v: number, lo: number, hi = Infinity): void => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`generateShop: ${name} must be an integer in [${lo}, ${hi}], got ${v}`);
  };
  const prob = (name: keyof ShopOptions, v: number): void => {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`generateShop: ${name} must be a probability, got ${v}`);
  };
  const pos = (name: keyof ShopOptions, v: number): void => {
    if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`generateShop: ${name} must be positive, got ${v}`);
  };
  if (!Number.isFinite(o.seed)) throw new RangeError(`generateShop: seed must be a finite number, got ${o.seed}`);
  int('users', o.users, 1);
  int('categories', o.categories, 1, TAXONOMY.length);
  int('minLength', o.minLength, 1);
  int('maxLength', o.maxLength, o.minLength);
  let nSubs = 0;
  for (let c = 0; c < o.categories; c++) nSubs += TAXONOMY[c].subs.length;
  int('items', o.items, 2 * nSubs);
  pos('meanLength', o.meanLength);
  if (o.meanLength < o.minLength) throw new RangeError(`generateShop: meanLength (${o.meanLength}) must be >= minLength (${o.minLength})`);
  if (!(o.zipfExponent >= 0) || !Number.isFinite(o.zipfExponent)) throw new RangeError(`generateShop: zipfExponent must be >= 0, got ${o.zipfExponent}`);
  pos('tasteConcentration', o.tasteConcentration);
  pos('brandConcentration', o.brandConcentration);
  pos('meanSessionGapDays', o.meanSessionGapDays);
  if (!(o.startSpanDays >= 0)) throw new RangeError(`generateShop: startSpanDays must be >= 0, got ${o.startSpanDays}`);
  prob('pSequentialInSession', o.pSequentialInSession);
  prob('pSequentialNewSession', o.pSequentialNewSession);
  if (!(o.pSessionContinue >= 0 && o.pSessionContinue < 1)) throw new RangeError(`generateShop: pSessionContinue must be in [0, 1), got ${o.pSessionContinue}`);
  prob('pRepeat', o.pRepeat);
  prob('tieRate', o.tieRate);
  if (!Number.isFinite(Date.parse(o.startDate))) throw new RangeError(`generateShop: startDate is not a date: ${o.startDate}`);
  if (o.order !== 'time' && o.order !== 'user') throw new RangeError(`generateShop: order must be 'time' or 'user'`);
  if (typeof o.reviews !== 'boolean') throw new RangeError(`generateShop: reviews must be true or false, got ${String(o.reviews)}`);
  return o;
}
