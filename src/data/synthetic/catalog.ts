/**
 * The catalog of the synthetic shop (../synthetic.ts): the items of every sub-
 * category as variants of Zipf-popular product lines, their titles, prices and
 * attributes, and the item-to-item transition structure.
 */
import type { ItemMeta } from '../types.js';
import { mixSeedShop } from '../../util/random.js';
import type { ResolvedShopOptions } from './options.js';
import { ShopRng } from './rng.js';
import { type SubSpec, TAXONOMY } from './taxonomy.js';

export interface Catalog {
  categories: string[];
  catWeight: Float64Array;
  subcategories: string[];
  subParent: Int32Array;
  subShare: Float64Array;
  subConsumable: Uint8Array;
  /** Items of each sub-category. */
  subItems: Int32Array[];
  /** Complementary sub-categories of each sub-category. */
  subComplements: Int32Array[];
  brands: string[];
  /** Brands of each top category (global brand indices). */
  catBrands: Int32Array[];
  itemIds: string[];
  titles: string[];
  meta: ItemMeta[];
  itemCategory: Int32Array;
  itemSub: Int32Array;
  itemBrand: Int32Array;
  itemLine: Int32Array;
  itemNoun: Int32Array;
  /** Per item: the adjective and the product noun of its title (review text). */
  itemAdjective: string[];
  itemNounText: string[];
  itemPrice: Float64Array;
  itemPriceRank: Float64Array;
  itemPop: Float64Array;
  successors: Int32Array[];
  successorProbs: Float32Array[];
  titleCollisions: number;
}

interface DraftItem {
  cat: number;
  sub: number;
  brand: number;
  line: number;
  noun: number;
  adjText: string;
  nounText: string;
  title: string;
  price: number;
  pop: number;
  attributes: Record<string, string>;
}

function formatPrice(p: number): string {
  const v = p < 10 ? Math.floor(p) + 0.49 + (p - Math.floor(p) >= 0.5 ? 0.5 : 0) : Math.floor(p) + 0.99;
  return v.toFixed(2);
}

/** Largest-remainder allocation of `total` over `weights`, at least `min` each. */
function allocate(total: number, weights: number[], min: number): number[] {
  const n = weights.length;
  const rest = total - min * n;
  const sum = weights.reduce((a, b) => a + b, 0);
  const raw = weights.map((w) => (rest * w) / sum);
  const out = raw.map((r) => min + Math.floor(r));
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, k) => [r - Math.floor(r), k] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let j = 0; left > 0; j = (j + 1) % n, left--) out[order[j][1]]++;
  return out;
}

export function buildCatalog(o: ResolvedShopOptions): Catalog {
  const rng = new ShopRng(mixSeedShop(o.seed, 1));
  const tops = TAXONOMY.slice(0, o.categories);
  const categories = tops.map((t) => t.name);
  const catWeight = Float64Array.from(tops, (t) => t.weight);
  const subcategories: string[] = [];
  const subSpecs: SubSpec[] = [];
  const subParentArr: number[] = [];
  tops.forEach((t, c) => {
    for (const s of t.subs) {
      subcategories.push(`${t.name} > ${s.name}`);
      subSpecs.push(s);
      subParentArr.push(c);
    }
  });
  const nSubs = subcategories.length;
  const subParent = Int32Array.from(subParentArr);
  const subConsumable = Uint8Array.from(subSpecs, (s) => (s.consumable ? 1 : 0));
  const subComplements = subSpecs.map((s, k) => {
    const top = categories[subParent[k]];
    const idx: number[] = [];
    for (const name of s.complements) {
      const full = name.includes(' > ') ? name : `${top} > ${name}`;
      const j = subcategories.indexOf(full);
      if (j >= 0 && j !== k) idx.push(j);
    }
    if (idx.length === 0) {
      // Fallback (a complement in a category left out): the next sub-category of the same top category.
      const siblings = subParentArr.map((p, j) => (p === subParent[k] ? j : -1)).filter((j) => j >= 0);
      const next = siblings[(siblings.indexOf(k) + 1) % siblings.length];
      if (next !== k) idx.push(next);
    }
    return Int32Array.from(idx);
  });

  const brands: string[] = [];
  const catBrands = tops.map((t) => Int32Array.from(t.brands, (b) => brands.push(b) - 1));
  // Brand size within a category: some brands carry many more product lines.
  const brandSize = tops.map((t) => Float64Array.from(t.brands, (_, r) => 1 / Math.pow(r + 1, 0.6) * rng.uniform(0.7, 1.3)));

  // Items per sub-category, proportional to the category weight split over its sub-categories.
  const subWeights = subSpecs.map((_, k) => (catWeight[subParent[k]] / tops[subParent[k]].subs.length) * rng.uniform(0.8, 1.2));
  const perSub = allocate(o.items, subWeights, 2);

  const drafts: DraftItem[] = [];
  const seenTitles = new Set<string>();
  let titleCollisions = 0;
  let lineId = 0;
  for (let s = 0; s < nSubs; s++) {
    const spec = subSpecs[s];
    const c = subParent[s];
    const combos = spec.dims.reduce((n, d) => n * d.values.length, 1);
    const usedBases = new Set<string>();
    const subStart = drafts.length;
    let lineRank = 0;
    while (drafts.length - subStart < perSub[s]) {
      const remaining = perSub[s] - (drafts.length - subStart);
      const u = rng.next();
      const nVar = Math.min(remaining, combos, u < 0.6 ? 1 : u < 0.88 ? 2 : 3);
      const bLocal = rng.pick(brandSize[c]);
      let adj = rng.int(spec.adjectives.length);
      let noun = rng.int(spec.nouns.length);
      for (let tries = 0; tries < 40 && usedBases.has(`${bLocal}|${adj}|${noun}`); tries++) {
        adj = rng.int(spec.adjectives.length);
        noun = rng.int(spec.nouns.length);
      }
      usedBases.add(`${bLocal}|${adj}|${noun}`);
      const brand = catBrands[c][bLocal];
      const base = `${brands[brand]} ${spec.adjectives[adj]} ${spec.nouns[noun]}`;
      const basePrice = Math.exp(rng.uniform(Math.log(spec.price[0]), Math.log(spec.price[1])));
      const linePop = 1 / Math.pow(lineRank + 1, o.zipfExponent);
      // Distinct variant combinations for this line.
      const usedCombos = new Set<number>();
      for (let v = 0; v < nVar; v++) {
        let combo = rng.int(combos);
        for (let tries = 0; tries < 20 && usedCombos.has(combo); tries++) combo = rng.int(combos);
        usedCombos.add(combo);
        let title = base;
        let price = basePrice;
        const attributes: Record<string, string> = { brand: brands[brand], category: subcategories[s] };
        let rest = combo;
        for (const d of spec.dims) {
          const vi = rest % d.values.length;
          rest = Math.floor(rest / d.values.length);
          title += `${d.sep ?? ', '}${d.label ?? ''}${d.values[vi]}`;
          price *= 1 + (d.priceStep ?? 0) * vi;
          attributes[d.key] = d.values[vi];
        }
        if (seenTitles.has(title)) {
          titleCollisions++;
          let n = 2;
          while (seenTitles.has(`${title} (Edition ${n})`)) n++;
          title = `${title} (Edition ${n})`;
        }
        seenTitles.add(title);
        attributes.price = formatPrice(price);
        drafts.push({ cat: c, sub: s, brand, line: lineId, noun, adjText: spec.adjectives[adj], nounText: spec.nouns[noun], title, price: Number(attributes.price), pop: linePop * (v === 0 ? 1 : 0.6 / v), attributes });
      }
      lineId++;
      lineRank++;
    }
  }

  // Shuffle the catalog so that item indices carry no information.
  const perm = rng.shuffle(drafts.map((_, k) => k));
  const items = perm.map((k) => drafts[k]);
  const n = items.length;
  const itemIds: string[] = [];
  const seenIds = new Set<string>();
  const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  for (let i = 0; i < n; i++) {
    let id: string;
    do {
      id = 'B0';
      for (let k = 0; k < 8; k++) id += ALNUM[rng.int(36)];
    } while (seenIds.has(id));
    seenIds.add(id);
    itemIds.push(id);
  }
  const itemCategory = Int32Array.from(items, (d) => d.cat);
  const itemSub = Int32Array.from(items, (d) => d.sub);
  const itemBrand = Int32Array.from(items, (d) => d.brand);
  const itemLine = Int32Array.from(items, (d) => d.line);
  const itemNoun = Int32Array.from(items, (d) => d.noun);
  const itemPrice = Float64Array.from(items, (d) => d.price);
  const itemPop = Float64Array.from(items, (d) => d.pop);
  const subItemsArr: number[][] = Array.from({ length: nSubs }, () => []);
  for (let i = 0; i < n; i++) subItemsArr[itemSub[i]].push(i);
  const subItems = subItemsArr.map((a) => Int32Array.from(a));
  const itemPriceRank = new Float64Array(n);
  const subShareRaw = new Float64Array(nSubs);
  for (let s = 0; s < nSubs; s++) {
    const list = subItems[s];
    let popSum = 0;
    for (const i of list) popSum += itemPop[i];
    for (const i of list) itemPriceRank[i] = 0;
    for (const i of list) itemPop[i] /= popSum;
    const byPrice = Array.from(list).sort((a, b) => itemPrice[a] - itemPrice[b] || a - b);
    byPrice.forEach((i, r) => (itemPriceRank[i] = byPrice.length > 1 ? r / (byPrice.length - 1) : 0.5));
    subShareRaw[s] = list.length * rng.uniform(0.7, 1.3);
  }
  const subShare = new Float64Array(nSubs);
  for (let c = 0; c < categories.length; c++) {
    let sum = 0;
    for (let s = 0; s < nSubs; s++) if (subParent[s] === c) sum += subShareRaw[s];
    for (let s = 0; s < nSubs; s++) if (subParent[s] === c) subShare[s] = subShareRaw[s] / sum;
  }

  // Markov transitions: each item gets a few successors of four kinds.
  const successors: Int32Array[] = [];
  const successorProbs: Float32Array[] = [];
  const scratch = new Float64Array(n);
  const pickFrom = (cands: ArrayLike<number>, brand: number, exclude: number, excludeLine: number): number => {
    let m = 0;
    const idx: number[] = [];
    for (let k = 0; k < cands.length; k++) {
      const j = cands[k];
      if (j === exclude || itemLine[j] === excludeLine) continue;
      scratch[m] = Math.pow(itemPop[j], 0.8) * (itemBrand[j] === brand ? 4 : 1);
      idx.push(j);
      m++;
    }
    const r = rng.pick(scratch, m);
    return r < 0 ? -1 : idx[r];
  };
  for (let i = 0; i < n; i++) {
    const s = itemSub[i];
    const spec = subSpecs[s];
    const b = itemBrand[i];
    const weights = new Map<number, number>();
    const add = (j: number, w: number): void => {
      if (j >= 0 && j !== i) weights.set(j, (weights.get(j) ?? 0) + w);
    };
    // (a) next step of the routine: the next product noun of the same sub-category.
    const comps = subComplements[s];
    const comp0 = comps.length > 0 ? subItems[comps[0]] : subItems[s];
    const nextNoun = (itemNoun[i] + 1) % spec.nouns.length;
    const routine = spec.routine === false ? [] : Array.from(subItems[s]).filter((j) => itemNoun[j] === nextNoun);
    add(pickFrom(routine.length > 0 ? routine : spec.routine === false ? comp0 : subItems[s], b, i, itemLine[i]), 0.35);
    // (b) a complementary sub-category.
    add(pickFrom(comp0, b, i, itemLine[i]), 0.3);
    // (c) the same brand elsewhere in the top category.
    const sameBrand: number[] = [];
    for (let j = 0; j < n; j++) if (itemBrand[j] === b && itemLine[j] !== itemLine[i]) sameBrand.push(j);
    add(pickFrom(sameBrand.length > 0 ? sameBrand : comp0, b, i, itemLine[i]), 0.2);
    // (d) a sibling variant of the same line, else another complement.
    const siblings = Array.from(subItems[s]).filter((j) => itemLine[j] === itemLine[i] && j !== i);
    if (siblings.length > 0) add(siblings[rng.int(siblings.length)], 0.15);
    else add(pickFrom(comps.length > 1 ? subItems[comps[1]] : comp0, b, i, itemLine[i]), 0.15);
    if (weights.size === 0) add(pickFrom(subItems[s], -1, i, -1), 1);
    if (weights.size === 0) add((i + 1) % n, 1);
    const js = Array.from(weights.keys()).sort((x, y) => x - y);
    let total = 0;
    for (const j of js) total += weights.get(j) ?? 0;
    successors.push(Int32Array.from(js));
    successorProbs.push(Float32Array.from(js, (j) => (weights.get(j) ?? 0) / total));
  }

  const meta: ItemMeta[] = items.map((d) => ({ title: d.title, attributes: d.attributes }));
  return {
    categories, catWeight, subcategories, subParent, subShare, subConsumable, subItems, subComplements, brands, catBrands,
    itemIds, titles: items.map((d) => d.title), meta, itemCategory, itemSub, itemBrand, itemLine, itemNoun,
    itemAdjective: items.map((d) => d.adjText), itemNounText: items.map((d) => d.nounText), itemPrice, itemPriceRank,
    itemPop, successors, successorProbs, titleCollisions,
  };
}
