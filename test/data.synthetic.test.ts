/**
 * Tests of the embedded synthetic shop (src/data/synthetic.ts): determinism,
 * sizes, item metadata and title uniqueness, timestamps and ties, the rating
 * band, the long tail, and that both the sequential signal and the static
 * taste signal are real (measured on the generated rows, against the ground
 * truth and with count-based scorers that must beat popularity).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SHOP, describeShop, generateShop, generateShopWithTruth, ShopRng } from '../src/data/synthetic.js';
import type { RawDataset } from '../src/data/types.js';

const t0 = performance.now();
const { dataset: shop, truth } = generateShopWithTruth();
const genMs = performance.now() - t0;

/** Per-user item sequences (and times) in input order, optionally only rows with rating > 3. */
function sequences(d: RawDataset, positiveOnly: boolean): { items: number[][]; times: number[][] } {
  const items: number[][] = d.userIds.map(() => []);
  const times: number[][] = d.userIds.map(() => []);
  for (let r = 0; r < d.user.length; r++) {
    if (positiveOnly && d.rating !== null && d.rating[r] <= 3) continue;
    items[d.user[r]].push(d.item[r]);
    times[d.user[r]].push(d.time === null ? r : d.time[r]);
  }
  return { items, times };
}

function itemCounts(d: RawDataset): Float64Array {
  const c = new Float64Array(d.itemIds.length);
  for (let r = 0; r < d.item.length; r++) c[d.item[r]]++;
  return c;
}

function bytesEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe('synthetic shop: determinism', () => {
  it('the same seed gives a byte-identical dataset', () => {
    const again = generateShop({ seed: DEFAULT_SHOP.seed });
    assert.equal(again.name, 'synthetic-shop');
    assert.ok(bytesEqual(again.user, shop.user));
    assert.ok(bytesEqual(again.item, shop.item));
    assert.ok(again.time !== null && shop.time !== null && bytesEqual(again.time, shop.time));
    assert.ok(again.rating !== null && shop.rating !== null && bytesEqual(again.rating, shop.rating));
    assert.deepEqual(again.userIds, shop.userIds);
    assert.deepEqual(again.itemIds, shop.itemIds);
    assert.deepEqual([...again.itemMeta.entries()], [...shop.itemMeta.entries()]);
  });

  it('a different seed gives a different dataset', () => {
    const other = generateShop({ seed: DEFAULT_SHOP.seed + 1 });
    assert.ok(!bytesEqual(other.item.subarray(0, 1000), shop.item.subarray(0, 1000)));
    assert.notDeepEqual(other.itemIds, shop.itemIds);
    const titles = (d: RawDataset): string[] => d.itemIds.map((_, i) => d.itemMeta.get(i)?.title ?? '');
    assert.notDeepEqual(titles(other), titles(shop));
  });

  it('the catalog does not depend on the number of users', () => {
    const small = generateShop({ users: 100 });
    assert.deepEqual(small.itemIds, shop.itemIds);
    assert.equal(small.itemMeta.get(3)?.title, shop.itemMeta.get(3)?.title);
  });
});

describe('synthetic shop: sizes and metadata', () => {
  it('default sizes are within the expected ranges', () => {
    assert.equal(shop.userIds.length, 1500);
    assert.equal(shop.itemIds.length, 800);
    const rows = shop.user.length;
    assert.ok(rows >= 22_000 && rows <= 28_000, `rows ${rows}`);
    assert.equal(shop.item.length, rows);
    assert.equal(shop.time?.length, rows);
    assert.equal(shop.rating?.length, rows);
    assert.equal(shop.skippedRows, 0);
    const { items } = sequences(shop, false);
    const mean = rows / shop.userIds.length;
    assert.ok(mean >= 15 && mean <= 18.5, `mean length ${mean}`);
    for (const s of items) assert.ok(s.length >= DEFAULT_SHOP.minLength && s.length <= DEFAULT_SHOP.maxLength);
    for (let r = 0; r < rows; r++) {
      assert.ok(shop.user[r] >= 0 && shop.user[r] < 1500 && shop.item[r] >= 0 && shop.item[r] < 800);
    }
    assert.equal(new Set(shop.itemIds).size, 800, 'item ids are unique');
    assert.equal(new Set(shop.userIds).size, 1500, 'user ids are unique');
  });

  it('every item has a title and brand, category, price and a variant attribute', () => {
    for (let i = 0; i < shop.itemIds.length; i++) {
      const m = shop.itemMeta.get(i);
      assert.ok(m !== undefined, `item ${i} has metadata`);
      assert.ok(m.title.length > 5);
      assert.ok(m.title.startsWith(m.attributes.brand), m.title);
      assert.match(m.attributes.category, /^[^>]+ > [^>]+$/);
      assert.equal(m.attributes.category, truth.subcategories[truth.itemSubcategory[i]]);
      assert.match(m.attributes.price, /^\d+\.\d\d$/);
      assert.ok(Number(m.attributes.price) > 0);
      assert.ok(['size', 'color', 'storage', 'pack'].some((k) => k in m.attributes), JSON.stringify(m.attributes));
    }
    const cats = new Set(truth.subcategories.map((s) => s.split(' > ')[0]));
    assert.equal(cats.size, 8);
    assert.ok(truth.subcategories.length >= 24 && truth.subcategories.length <= 40);
    assert.ok(shop.itemMeta.get(0) !== undefined);
  });

  it('titles are unique (collisions are resolved and counted)', () => {
    const titles = shop.itemIds.map((_, i) => shop.itemMeta.get(i)?.title ?? '');
    const rate = new Set(titles).size / titles.length;
    assert.ok(rate >= 0.99, `unique title rate ${rate}`);
    assert.equal(rate, 1);
    assert.ok(truth.titleCollisionsResolved <= 8);
  });
});

describe('synthetic shop: time, ratings, popularity', () => {
  it('time is non-decreasing per user, with a few exact ties and different start dates', () => {
    const { times } = sequences(shop, false);
    let ties = 0;
    for (const t of times) {
      for (let k = 1; k < t.length; k++) {
        assert.ok(t[k] >= t[k - 1], 'non-decreasing per user');
        if (t[k] === t[k - 1]) ties++;
      }
      for (const x of t) assert.ok(Number.isInteger(x));
    }
    assert.ok(ties > 10, `ties ${ties}`);
    assert.ok(ties < shop.user.length * 0.02, `ties ${ties}`);
    const starts = new Set(times.map((t) => Math.floor(t[0] / 86400)));
    assert.ok(starts.size > 500, `distinct start days ${starts.size}`);
    const time = shop.time;
    assert.ok(time !== null);
    for (let r = 1; r < time.length; r++) assert.ok(time[r] >= time[r - 1], 'the default order is one chronological log');
    assert.ok(time[0] >= Date.parse('2020-01-01') / 1000);
  });

  it("order 'user' groups rows by user, same sequences", () => {
    const byUser = generateShop({ order: 'user', users: 200 });
    const byTime = generateShop({ users: 200 });
    for (let r = 1; r < byUser.user.length; r++) assert.ok(byUser.user[r] >= byUser.user[r - 1]);
    assert.deepEqual(sequences(byUser, false).items, sequences(byTime, false).items);
  });

  it('about 70-85% of the ratings are 4-5', () => {
    const rating = shop.rating;
    assert.ok(rating !== null);
    let pos = 0;
    const seen = new Set<number>();
    for (const r of rating) {
      assert.ok(Number.isInteger(r) && r >= 1 && r <= 5);
      seen.add(r);
      if (r > 3) pos++;
    }
    const share = pos / rating.length;
    assert.ok(share >= 0.7 && share <= 0.85, `share r>3 ${share}`);
    assert.ok(seen.size === 5, 'all five rating values occur');
  });

  it('ratings follow the taste: items of the user\'s favourite category are liked more', () => {
    const rating = shop.rating;
    assert.ok(rating !== null);
    let favPos = 0;
    let fav = 0;
    let otherPos = 0;
    let other = 0;
    for (let r = 0; r < rating.length; r++) {
      const taste = truth.userTaste[shop.user[r]];
      const c = truth.itemCategory[shop.item[r]];
      const isFav = taste[c] === Math.max(...taste);
      if (isFav) {
        fav++;
        if (rating[r] > 3) favPos++;
      } else {
        other++;
        if (rating[r] > 3) otherPos++;
      }
    }
    assert.ok(favPos / fav > otherPos / other + 0.05, `${favPos / fav} vs ${otherPos / other}`);
  });

  it('popularity is long-tailed: the top 10% of items get a large share, but not all', () => {
    const counts = Array.from(itemCounts(shop)).sort((a, b) => b - a);
    const total = shop.item.length;
    const top10 = counts.slice(0, counts.length / 10).reduce((a, b) => a + b, 0) / total;
    const bottomHalf = counts.slice(counts.length / 2).reduce((a, b) => a + b, 0) / total;
    assert.ok(top10 > 0.25 && top10 < 0.7, `top 10% share ${top10}`);
    assert.ok(bottomHalf > 0.05 && bottomHalf < 0.3, `bottom half share ${bottomHalf}`);
    assert.ok(counts[0] / total < 0.05, 'no single item dominates');
    assert.ok(counts.filter((c) => c >= 5).length >= 700, 'most items survive a 5-core');
  });
});

describe('synthetic shop: the sequential and the static signal', () => {
  it('the most frequent successor of an item is far more frequent than its popularity predicts', () => {
    const { items } = sequences(shop, true);
    const counts = itemCounts(shop);
    const total = shop.item.length;
    const next = new Map<number, Map<number, number>>();
    const out = new Float64Array(shop.itemIds.length);
    for (const s of items) {
      for (let k = 1; k < s.length; k++) {
        const m = next.get(s[k - 1]) ?? new Map<number, number>();
        m.set(s[k], (m.get(s[k]) ?? 0) + 1);
        next.set(s[k - 1], m);
        out[s[k - 1]]++;
      }
    }
    let liftSum = 0;
    let tvSum = 0;
    let n = 0;
    let inTruth = 0;
    for (const [a, m] of next) {
      if (out[a] < 20) continue;
      let best = -1;
      let bestCount = 0;
      let tv = 0;
      for (const [b, c] of m) {
        if (c > bestCount) [best, bestCount] = [b, c];
        tv += Math.max(0, c / out[a] - counts[b] / total);
      }
      liftSum += bestCount / out[a] / (counts[best] / total);
      tvSum += tv;
      if (truth.successors[a].includes(best)) inTruth++;
      n++;
    }
    assert.ok(n >= 100, `items with >= 20 successions: ${n}`);
    const lift = liftSum / n;
    assert.ok(lift > 3, `mean lift ${lift}`);
    assert.ok(tvSum / n > 0.4, `mean TV(next | prev, popularity) ${tvSum / n}`);
    assert.ok(inTruth / n > 0.7, `top successor is a true successor for ${inTruth / n}`);
  });

  it('users are focused: most of a user\'s purchases fall in their favourite categories', () => {
    const { items } = sequences(shop, false);
    const C = truth.categories.length;
    const pop = new Float64Array(C);
    for (const i of shop.item) pop[truth.itemCategory[i]] += 1 / shop.item.length;
    let ratio = 0;
    for (let u = 0; u < items.length; u++) {
      const taste = truth.userTaste[u];
      assert.equal(taste.length, C);
      assert.ok(Math.abs(taste.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      const fav = taste.indexOf(Math.max(...taste));
      const share = items[u].filter((i) => truth.itemCategory[i] === fav).length / items[u].length;
      ratio += share / pop[fav] / items.length;
    }
    assert.ok(ratio > 2.5, `favourite-category share / population share ${ratio}`);
  });

  it('a sequence-only and a user-only count model both beat popularity (leave-last-out, 9 negatives)', () => {
    const { items } = sequences(shop, true);
    const I = shop.itemIds.length;
    const pop = new Float64Array(I);
    const trans = new Map<number, Map<number, number>>();
    for (const s of items) {
      for (let k = 0; k < s.length - 1; k++) pop[s[k]]++;
      for (let k = 1; k < s.length - 1; k++) {
        const m = trans.get(s[k - 1]) ?? new Map<number, number>();
        m.set(s[k], (m.get(s[k]) ?? 0) + 1);
        trans.set(s[k - 1], m);
      }
    }
    const rng = new ShopRng(99);
    const hits = { pop: 0, seq: 0, user: 0 };
    let n = 0;
    for (const s of items) {
      if (s.length < 3) continue;
      n++;
      const target = s[s.length - 1];
      const prev = s[s.length - 2];
      const seen = new Set(s);
      const cands = [target];
      while (cands.length < 10) {
        const j = rng.int(I);
        if (!seen.has(j) && !cands.includes(j)) cands.push(j);
      }
      const profile = new Float64Array(truth.subcategories.length);
      const catProfile = new Float64Array(truth.categories.length);
      for (let k = 0; k < s.length - 1; k++) {
        profile[truth.itemSubcategory[s[k]]]++;
        catProfile[truth.itemCategory[s[k]]]++;
      }
      // HR@1 with pessimistic ties: the target must beat every negative strictly.
      const hit = (score: (j: number) => number): number => (cands.slice(1).every((j) => score(j) < score(target)) ? 1 : 0);
      hits.pop += hit((j) => pop[j]);
      hits.seq += hit((j) => (trans.get(prev)?.get(j) ?? 0) * 1e6 + pop[j]);
      hits.user += hit((j) => (catProfile[truth.itemCategory[j]] + 0.5 * profile[truth.itemSubcategory[j]]) * 1e6 + pop[j]);
    }
    const hr = { pop: hits.pop / n, seq: hits.seq / n, user: hits.user / n };
    assert.ok(hr.pop > 0.15, `popularity HR@1 ${hr.pop} (better than random 0.1)`);
    assert.ok(hr.seq > hr.pop + 0.1, `sequence ${hr.seq} vs popularity ${hr.pop}`);
    assert.ok(hr.user > hr.pop + 0.05, `user ${hr.user} vs popularity ${hr.pop}`);
  });

  it('nextItemDistribution is a distribution that puts the transition mass on the successors', () => {
    const prev = shop.item[0];
    for (const [user, same] of [[0, true], [5, false], [undefined, true]] as const) {
      const d = truth.nextItemDistribution(prev, user, same);
      assert.equal(d.length, shop.itemIds.length);
      const sum = d.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-6, `sum ${sum}`);
      let succMass = 0;
      for (const j of truth.successors[prev]) succMass += d[j];
      const p = same ? truth.pSequential.inSession : truth.pSequential.newSession;
      assert.ok(succMass >= p - 1e-9);
    }
    for (let i = 0; i < shop.itemIds.length; i++) {
      const p = truth.successorProbs[i];
      assert.ok(p.length >= 1 && p.length <= 4 && !truth.successors[i].includes(i));
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
    assert.throws(() => truth.nextItemDistribution(-1), RangeError);
  });
});

describe('synthetic shop: options, speed, docs', () => {
  it('generates the default shop well under 2 s', () => {
    assert.ok(genMs < 2000, `generation took ${genMs.toFixed(0)} ms`);
  });

  it('small and custom shops work, bad options throw', () => {
    const d = generateShop({ users: 40, items: 60, categories: 2, meanLength: 8, seed: 3 });
    assert.equal(d.userIds.length, 40);
    assert.equal(d.itemIds.length, 60);
    const cats = new Set([...d.itemMeta.values()].map((m) => m.attributes.category.split(' > ')[0]));
    assert.deepEqual([...cats].sort(), ['Beauty', 'Electronics']);
    assert.throws(() => generateShop({ users: 0 }), RangeError);
    assert.throws(() => generateShop({ items: 10 }), RangeError);
    assert.throws(() => generateShop({ categories: 9 }), RangeError);
    assert.throws(() => generateShop({ pRepeat: 1.5 }), RangeError);
    assert.throws(() => generateShop({ meanLength: 2 }), RangeError);
  });

  it('describeShop is one paragraph', () => {
    const text = describeShop();
    assert.ok(text.length > 300);
    assert.ok(!text.includes('\n'));
    assert.match(text, /Markov/);
    assert.match(text, /synthetic-shop/);
  });

  it('the generator imports no tfjs (nothing but the data types, the import-free PRNG and its own parts)', () => {
    const read = (rel: string) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
    const importsOf = (src: string) => [...src.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    const src = read('../src/data/synthetic.ts');
    assert.ok(!/tfjs/.test(src));
    const parts = readdirSync(fileURLToPath(new URL('../src/data/synthetic/', import.meta.url))).filter((f) => f.endsWith('.ts'));
    assert.deepEqual(parts.sort(), ['catalog.ts', 'options.ts', 'reviews.ts', 'rng.ts', 'taxonomy.ts', 'users.ts']);
    // the entry module: the data types and its own parts
    for (const dep of importsOf(src)) assert.match(dep, /^(\.\/types\.js|\.\/synthetic\/[a-z_]+\.js)$/, `synthetic.ts imports ${dep}`);
    assert.ok(!/Math\.random/.test(src));
    // the parts: the data types, the import-free PRNG and each other
    for (const f of parts) {
      const part = read(`../src/data/synthetic/${f}`);
      assert.ok(!/tfjs/.test(part), f);
      assert.ok(!/Math\.random/.test(part), f);
      for (const dep of importsOf(part)) assert.match(dep, /^(\.\.\/types\.js|\.\.\/\.\.\/util\/random\.js|\.\/[a-z_]+\.js)$/, `synthetic/${f} imports ${dep}`);
    }
    const rng = read('../src/util/random.ts');
    assert.deepEqual(importsOf(rng), []);
    assert.ok(!/Math\.random/.test(rng));
  });
});
