/**
 * The embedded default dataset: a deterministic synthetic online shop.
 *
 * `generateShop(opts)` returns a `RawDataset` named 'synthetic-shop' with no
 * download and no data file: everything follows from `opts.seed` through a
 * seeded PRNG (mulberry32, sub-streams derived by hashing). The shop is built
 * so that both kinds of collaborative signal are real and learnable:
 *
 *   - a static taste signal (per-user Dirichlet preferences over top
 *     categories and over brands, a price level), which a user-only model
 *     such as BPR-MF can recover;
 *   - a sequential signal (first-order Markov transitions between related
 *     items: next step of a routine such as shampoo -> conditioner,
 *     complementary sub-categories such as smartphone -> phone case, the same
 *     brand, a sibling variant; plus sessions and repeat purchases of
 *     consumables), which sequence models (SASRec, GRU4Rec) can exploit.
 *
 * Item popularity is long-tailed (Zipf over product lines within each
 * sub-category); titles are composed as brand + adjective + product noun +
 * variant ("Lumière Hydrating Face Cream 50 ml") and are unique by
 * construction. Ratings (1-5) correlate with how well an item matches the
 * user's taste, so the r > 3 threshold keeps most but not all rows.
 *
 * Every row also gets a short review (`reviews`, on by default): a feature
 * word of the item (its brand, price level, sub-category or title adjective),
 * a first sentence that mentions it and reflects the user's true taste (brand
 * preference, price fit, category taste) and the rating, a second generic
 * sentence, and a 2-5 word summary. Reviews come from their own PRNG stream,
 * drawn after the interactions, so they change nothing else.
 *
 * `generateShopWithTruth(opts)` also returns the ground truth (tastes, the
 * transition structure and `nextItemDistribution`) for tests and docs, and
 * `describeShop()` explains the generative process in one paragraph.
 *
 * The generator's parts live in ./synthetic/ (rng, taxonomy, options,
 * catalog, users and interactions, reviews); this module assembles them and
 * re-exports the public names.
 */
import type { ItemMeta, RawDataset } from './types.js';
import { buildCatalog } from './synthetic/catalog.js';
import { type ShopOptions, type ShopTruth, type ShopWithTruth, resolveOptions } from './synthetic/options.js';
import { generateReviews } from './synthetic/reviews.js';
import { TAXONOMY } from './synthetic/taxonomy.js';
import { brandMultiplier, buildUsers, priceMultiplier, simulate } from './synthetic/users.js';

export { ShopRng } from './synthetic/rng.js';
export { SHOP_MAX_CATEGORIES } from './synthetic/taxonomy.js';
export { DEFAULT_SHOP } from './synthetic/options.js';
export type { ResolvedShopOptions, ShopOptions, ShopTruth, ShopWithTruth } from './synthetic/options.js';

/** Generates the synthetic shop and its ground truth. Deterministic in `opts` (mostly `seed`). */
export function generateShopWithTruth(opts: ShopOptions = {}): ShopWithTruth {
  const t0 = performance.now();
  const o = resolveOptions(opts);
  const cat = buildCatalog(o);
  const users = buildUsers(o, cat);
  const log = simulate(o, cat, users);

  const rows = log.user.length;
  const order = Array.from({ length: rows }, (_, r) => r);
  // Array.prototype.sort is stable: ties keep the per-user generation order.
  if (o.order === 'time') order.sort((a, b) => log.time[a] - log.time[b]);
  const user = new Int32Array(rows);
  const item = new Int32Array(rows);
  const time = new Float64Array(rows);
  const rating = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const k = order[r];
    user[r] = log.user[k];
    item[r] = log.item[k];
    time[r] = log.time[k];
    rating[r] = log.rating[k];
  }
  const width = String(o.users).length;
  const userIds = Array.from({ length: o.users }, (_, u) => `U${String(u + 1).padStart(Math.max(5, width), '0')}`);
  const itemMeta = new Map<number, ItemMeta>();
  cat.meta.forEach((m, i) => itemMeta.set(i, { title: m.title, attributes: { ...m.attributes } }));

  const dataset: RawDataset = {
    name: 'synthetic-shop',
    source: `synthetic:shop(seed=${o.seed}, users=${o.users}, items=${o.items}, meanLength=${o.meanLength}, categories=${o.categories})`,
    userIds,
    itemIds: cat.itemIds,
    user,
    item,
    time,
    rating,
    itemMeta,
    skippedRows: 0,
  };
  // After the interactions, from its own stream: every other output stays the same.
  if (o.reviews) dataset.reviews = generateReviews(o, cat, users, user, item, rating);

  const n = cat.itemIds.length;
  let populationTaste: Float64Array | null = null;
  const tasteDistribution = (u: number | undefined): Float64Array => {
    if (u === undefined) {
      if (populationTaste === null) {
        populationTaste = new Float64Array(n);
        for (let v = 0; v < o.users; v++) {
          const d = tasteDistribution(v);
          for (let i = 0; i < n; i++) populationTaste[i] += d[i] / o.users;
        }
      }
      return populationTaste;
    }
    if (!Number.isInteger(u) || u < 0 || u >= o.users) throw new RangeError(`nextItemDistribution: no user ${u}`);
    const out = new Float64Array(n);
    const pref = users.brandPref[u];
    const level = users.priceLevel[u];
    for (let s = 0; s < cat.subcategories.length; s++) {
      const list = cat.subItems[s];
      let sum = 0;
      for (const i of list) sum += (out[i] = cat.itemPop[i] * brandMultiplier(pref[cat.itemBrand[i]]) * priceMultiplier(cat.itemPriceRank[i], level));
      const mass = users.taste[u][cat.subParent[s]] * cat.subShare[s];
      for (const i of list) out[i] *= mass / sum;
    }
    return out;
  };

  const truth: ShopTruth = {
    options: o,
    categories: cat.categories,
    subcategories: cat.subcategories,
    subcategoryParent: cat.subParent,
    subcategoryShare: cat.subShare,
    brands: cat.brands,
    itemCategory: cat.itemCategory,
    itemSubcategory: cat.itemSub,
    itemBrand: cat.itemBrand,
    itemLine: cat.itemLine,
    itemPrice: cat.itemPrice,
    itemPriceRank: cat.itemPriceRank,
    itemConsumable: Uint8Array.from(cat.itemSub, (s) => cat.subConsumable[s]),
    itemPopularity: cat.itemPop,
    userTaste: users.taste,
    userBrandPref: users.brandPref,
    userPriceLevel: users.priceLevel,
    successors: cat.successors,
    successorProbs: cat.successorProbs,
    pSequential: { inSession: o.pSequentialInSession, newSession: o.pSequentialNewSession },
    nextItemDistribution(prev: number, u?: number, sameSession = true): Float64Array {
      if (!Number.isInteger(prev) || prev < 0 || prev >= n) throw new RangeError(`nextItemDistribution: no item ${prev}`);
      const p = sameSession ? o.pSequentialInSession : o.pSequentialNewSession;
      const base = tasteDistribution(u);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = (1 - p) * base[i];
      const succ = cat.successors[prev];
      const probs = cat.successorProbs[prev];
      for (let m = 0; m < succ.length; m++) out[succ[m]] += p * probs[m];
      return out;
    },
    titleCollisionsResolved: cat.titleCollisions,
    sessions: log.sessions,
    elapsedMs: 0,
  };
  truth.elapsedMs = performance.now() - t0;
  return { dataset, truth };
}

/** The synthetic shop as a RawDataset (name 'synthetic-shop'); see `describeShop()`. */
export function generateShop(opts: ShopOptions = {}): RawDataset {
  return generateShopWithTruth(opts).dataset;
}

/** One paragraph explaining the generative process (for the README and reports). */
export function describeShop(opts: ShopOptions = {}): string {
  const o = resolveOptions(opts);
  const tops = TAXONOMY.slice(0, o.categories);
  const nSubs = tops.reduce((a, t) => a + t.subs.length, 0);
  return (
    `synthetic-shop is a deterministic simulated online shop (seed ${o.seed}; no download): ` +
    `${o.items} items in ${o.categories} top categories and ${nSubs} sub-categories (e.g. Beauty > Skin care), ` +
    `each item a variant of a product line titled brand + adjective + product noun + variant ` +
    `("Lumière Hydrating Face Cream 50 ml"), with brand, category, price and color/size attributes; ` +
    `popularity is Zipf-like (exponent ${o.zipfExponent}) over product lines within each sub-category. ` +
    `Each of the ${o.users} users has a static taste, a Dirichlet preference over top categories ` +
    `(concentration ${o.tasteConcentration}) and over brands within each category, and a preferred price level, ` +
    `and buys about ${o.meanLength} items (log-normal, at least ${o.minLength}) in sessions ` +
    `(a session goes on with probability ${o.pSessionContinue}; sessions are about ${o.meanSessionGapDays} days apart; ` +
    `start dates are spread over ${o.startSpanDays} days). ` +
    `Each next item follows a first-order Markov transition from the previous one with probability ` +
    `${o.pSequentialInSession} within a session (${o.pSequentialNewSession} across sessions): the next step of a routine ` +
    `(shampoo -> conditioner), a complementary sub-category (smartphone -> phone accessories), the same brand, or a sibling variant; ` +
    `a new session re-buys a liked consumable with probability ${o.pRepeat}; otherwise the item is drawn from the taste ` +
    `(category, then sub-category, then item by popularity x brand preference x price fit), never re-buying a non-consumable. ` +
    `Ratings 1-5 grow with the taste match plus product quality and noise (about three in four are 4-5), ` +
    `and about ${Math.round(o.tieRate * 100)}% of in-session purchases share the previous purchase's second, to exercise tie handling. ` +
    `So both a static user signal (for BPR-MF) and a sequential signal (for SASRec, GRU4Rec) beat popularity.` +
    (o.reviews
      ? ` Every purchase comes with a short review (two sentences and a 2-5 word summary) whose first sentence names a feature ` +
        `of the item (brand, price level, sub-category or title adjective) and reflects the user's true brand preference, ` +
        `price fit or category taste and the rating, the target of explanation generation.`
      : '')
  );
}
