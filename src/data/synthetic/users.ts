/**
 * Users of the synthetic shop (../synthetic.ts), with their tastes, brand
 * preferences and price level, and the simulated purchase log (sessions,
 * Markov transitions, repeat purchases, ratings).
 */
import { mixSeedShop } from '../../util/random.js';
import type { Catalog } from './catalog.js';
import type { ResolvedShopOptions } from './options.js';
import { ShopRng } from './rng.js';

export interface Users {
  taste: Float32Array[];
  brandPref: Float32Array[];
  priceLevel: Float32Array;
}

export function brandMultiplier(pref: number): number {
  return 0.3 + 0.7 * pref;
}

export function priceMultiplier(rank: number, level: number): number {
  const d = (rank - level) / 0.25;
  return 0.35 + Math.exp(-0.5 * d * d);
}

export function buildUsers(o: ResolvedShopOptions, cat: Catalog): Users {
  const rng = new ShopRng(mixSeedShop(o.seed, 2));
  const C = cat.categories.length;
  let wSum = 0;
  for (let c = 0; c < C; c++) wSum += cat.catWeight[c];
  const alpha = Float64Array.from(cat.catWeight, (w) => (o.tasteConcentration * C * w) / wSum);
  const taste: Float32Array[] = [];
  const brandPref: Float32Array[] = [];
  const priceLevel = new Float32Array(o.users);
  for (let u = 0; u < o.users; u++) {
    taste.push(Float32Array.from(rng.dirichlet(alpha)));
    const pref = new Float32Array(cat.brands.length);
    for (const list of cat.catBrands) {
      const d = rng.dirichlet(new Float64Array(list.length).fill(o.brandConcentration));
      for (let k = 0; k < list.length; k++) pref[list[k]] = d[k] * list.length;
    }
    brandPref.push(pref);
    // Beta(2, 2)-like price level.
    const g1 = rng.gamma(2);
    const g2 = rng.gamma(2);
    priceLevel[u] = g1 / (g1 + g2);
  }
  return { taste, brandPref, priceLevel };
}

interface Log {
  user: number[];
  item: number[];
  time: number[];
  rating: number[];
  sessions: number;
}

export function simulate(o: ResolvedShopOptions, cat: Catalog, users: Users): Log {
  const rng = new ShopRng(mixSeedShop(o.seed, 3));
  const n = cat.itemIds.length;
  const C = cat.categories.length;
  const catSubs: Int32Array[] = cat.categories.map((_, c) => Int32Array.from(cat.subcategories.map((_, s) => s).filter((s) => cat.subParent[s] === c)));
  const log: Log = { user: [], item: [], time: [], rating: [], sessions: 0 };
  const start = Math.floor(Date.parse(o.startDate) / 1000);
  const excess = o.meanLength - o.minLength;
  const sigma = 0.8;
  const mu = Math.log(Math.max(excess, 1e-9)) - (sigma * sigma) / 2;
  // Line quality: how well a product line is liked overall.
  const lineQuality = new Float64Array(cat.itemLine.reduce((m, l) => Math.max(m, l), 0) + 1);
  for (let l = 0; l < lineQuality.length; l++) lineQuality[l] = 0.4 * rng.normal();
  const w = new Float64Array(n);
  const bought = new Uint8Array(n);
  const ratingOf = new Int8Array(n);

  for (let u = 0; u < o.users; u++) {
    const taste = users.taste[u];
    const pref = users.brandPref[u];
    const level = users.priceLevel[u];
    let maxTaste = 0;
    for (let c = 0; c < C; c++) maxTaste = Math.max(maxTaste, taste[c]);
    const len = Math.min(o.maxLength, o.minLength + (excess > 0 ? Math.round(Math.exp(mu + sigma * rng.normal())) : 0));
    const history: number[] = [];
    let t = start + Math.floor(rng.next() * o.startSpanDays * 86400);
    let prev = -1;
    let inSession = false;

    const tasteStep = (): number => {
      for (let tries = 0; tries < 6; tries++) {
        const c = rng.pick(taste);
        const subs = catSubs[c];
        const s = subs[rng.pick(Array.from(subs, (k) => cat.subShare[k]))];
        const list = cat.subItems[s];
        for (let k = 0; k < list.length; k++) {
          const i = list[k];
          w[k] = bought[i] ? 0 : cat.itemPop[i] * brandMultiplier(pref[cat.itemBrand[i]]) * priceMultiplier(cat.itemPriceRank[i], level);
        }
        const r = rng.pick(w, list.length);
        if (r >= 0) return list[r];
      }
      for (let i = 0; i < n; i++) w[i] = bought[i] ? 0 : cat.itemPop[i] * taste[cat.itemCategory[i]];
      const r = rng.pick(w, n);
      return r >= 0 ? r : rng.int(n);
    };

    for (let k = 0; k < len; k++) {
      if (k > 0) {
        inSession = rng.next() < o.pSessionContinue;
        if (inSession) t += rng.next() < o.tieRate ? 0 : 20 + Math.floor(rng.exp(240));
        else t += 3600 + Math.floor(rng.exp(o.meanSessionGapDays * 86400));
      }
      if (!inSession) log.sessions++;
      let item = -1;
      let repeat = false;
      if (k > 0 && !inSession && rng.next() < o.pRepeat) {
        // Re-buy a liked consumable among the recent distinct purchases.
        const cands: number[] = [];
        for (let h = history.length - 1; h >= 0 && cands.length < 8; h--) {
          const j = history[h];
          if (cat.subConsumable[cat.itemSub[j]] && ratingOf[j] >= 4 && !cands.includes(j)) cands.push(j);
        }
        if (cands.length > 0) {
          item = cands[rng.int(cands.length)];
          repeat = true;
        }
      }
      if (item < 0 && prev >= 0 && rng.next() < (inSession ? o.pSequentialInSession : o.pSequentialNewSession)) {
        const succ = cat.successors[prev];
        const probs = cat.successorProbs[prev];
        for (let m = 0; m < succ.length; m++) w[m] = bought[succ[m]] ? 0 : probs[m];
        const r = rng.pick(w, succ.length);
        if (r >= 0) item = succ[r];
      }
      if (item < 0) item = tasteStep();

      let rating: number;
      if (repeat) {
        rating = ratingOf[item];
      } else {
        const catRel = taste[cat.itemCategory[item]] / maxTaste;
        const brandTerm = Math.log(brandMultiplier(pref[cat.itemBrand[item]]));
        const priceFit = Math.exp(-0.5 * ((cat.itemPriceRank[item] - level) / 0.25) ** 2);
        const latent = 3.95 + 0.9 * (catRel - 0.5) + 0.35 * brandTerm + 0.5 * (priceFit - 0.5) + lineQuality[cat.itemLine[item]] + 0.8 * rng.normal();
        rating = Math.min(5, Math.max(1, Math.round(latent)));
      }
      bought[item] = 1;
      ratingOf[item] = rating;
      history.push(item);
      log.user.push(u);
      log.item.push(item);
      log.time.push(t);
      log.rating.push(rating);
      prev = item;
    }
    for (const i of history) {
      bought[i] = 0;
      ratingOf[i] = 0;
    }
  }
  return log;
}
