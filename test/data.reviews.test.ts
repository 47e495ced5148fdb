/**
 * Tests of review text in the data layer: reviewKey / explanationOf
 * (src/data/reviews.ts), the protocol carrying reviews of kept rows
 * (src/data/protocol.ts), the Amazon 2014/2018 loader keeping reviewText and
 * summary (src/data/loaders/amazon_reviews.ts), and the synthetic shop's
 * generated reviews (src/data/synthetic.ts).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyProtocol } from '../src/data/protocol.js';
import { explanationOf, reviewKey, reviewOf, splitSentences } from '../src/data/reviews.js';
import { generateShop, generateShopWithTruth } from '../src/data/synthetic.js';
import { loadAmazonReviews } from '../src/data/loaders/amazon_reviews.js';
import { loadDataset } from '../src/data/loaders/index.js';
import type { ProtocolConfig, RawDataset, ReviewText } from '../src/data/types.js';

const tmp = mkdtempSync(join(tmpdir(), 'llmrec-reviews-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const NO_FILTER: ProtocolConfig = { ratingThreshold: 3, kCore: 0, maxHistory: 5, numNegatives: 0, seed: 1 };

/** A raw dataset from rows [user, item, time, rating, review]. */
function rawOf(rows: Array<[string, string, number, number, ReviewText | null]>, withReviews = true): RawDataset {
  const userIds: string[] = [];
  const itemIds: string[] = [];
  const idx = (ids: string[], id: string): number => (ids.includes(id) ? ids.indexOf(id) : ids.push(id) - 1);
  const user = Int32Array.from(rows, (r) => idx(userIds, r[0]));
  const item = Int32Array.from(rows, (r) => idx(itemIds, r[1]));
  return {
    name: 'hand',
    source: 'test',
    userIds,
    itemIds,
    user,
    item,
    time: Float64Array.from(rows, (r) => r[2]),
    rating: Float32Array.from(rows, (r) => r[3]),
    itemMeta: new Map(),
    skippedRows: 0,
    ...(withReviews ? { reviews: rows.map((r) => r[4]) } : {}),
  };
}

const rv = (text: string): ReviewText => ({ text, summary: text.slice(0, 8) });

describe('reviews: helpers', () => {
  it('reviewKey is user:item', () => {
    assert.equal(reviewKey(0, 1), '0:1');
    assert.equal(reviewKey(12, 345), '12:345');
    assert.notEqual(reviewKey(1, 23), reviewKey(12, 3));
  });

  it('explanationOf: the first sentence with the feature, else the first sentence', () => {
    assert.equal(explanationOf({ text: 'Arrived fast. The cheap price is great! Would buy again.', summary: 's', feature: 'price' }), 'The cheap price is great!');
    assert.equal(explanationOf({ text: 'Arrived fast. THE PRICE is great.', summary: 's', feature: 'price' }), 'THE PRICE is great.', 'case-insensitive');
    assert.equal(explanationOf({ text: 'Arrived fast. Nice.', summary: 's', feature: 'price' }), 'Arrived fast.');
    assert.equal(explanationOf({ text: 'The 1.5 kg bag lasts.  Good.', summary: 's' }), 'The 1.5 kg bag lasts.');
    assert.equal(explanationOf({ text: '', summary: 's', feature: 'x' }), '');
    assert.deepEqual(splitSentences(' One. Two?  Three '), ['One.', 'Two?', 'Three']);
  });
});

describe('reviews: protocol', () => {
  // u1: a(3 rows incl. a repeat), b, c; u2: a, b, c; u3: a, b (too short); u4 has only low ratings.
  const rows: Array<[string, string, number, number, ReviewText | null]> = [
    ['u1', 'a', 10, 5, rv('u1 a first.')],
    ['u2', 'b', 11, 4, rv('u2 b.')],
    ['u1', 'b', 12, 4, null],
    ['u2', 'a', 13, 5, rv('u2 a.')],
    ['u1', 'a', 30, 5, rv('u1 a second.')], // chronologically last review of (u1, a)
    ['u1', 'c', 14, 4, rv('u1 c.')],
    ['u2', 'c', 15, 2, rv('u2 c low rating.')], // dropped by the rating filter
    ['u2', 'd', 16, 5, rv('u2 d.')],
    ['u3', 'a', 17, 5, rv('u3 a.')],
    ['u3', 'b', 18, 5, rv('u3 b.')], // u3 has 2 rows: dropped as too short
    ['u1', 'a', 20, 5, null], // a later row without text keeps the earlier text
  ];

  it('carries the reviews of kept rows, keyed by split indices, last one wins', () => {
    const split = applyProtocol(rawOf(rows), NO_FILTER);
    assert.deepEqual(split.userIds, ['u1', 'u2']);
    assert.ok(split.reviews instanceof Map);
    const key = (u: string, i: string): string => reviewKey(split.userIds.indexOf(u), split.itemIds.indexOf(i));
    const texts = new Map([...split.reviews].map(([k, r]) => [k, r.text]));
    assert.deepEqual(
      texts,
      new Map([
        [key('u1', 'a'), 'u1 a second.'],
        [key('u1', 'c'), 'u1 c.'],
        [key('u2', 'b'), 'u2 b.'],
        [key('u2', 'a'), 'u2 a.'],
        [key('u2', 'd'), 'u2 d.'],
      ]),
    );
    assert.equal(reviewOf(split, split.userIds.indexOf('u1'), split.itemIds.indexOf('b')), undefined, 'a row without text has no entry');
    // Every key is a (user, item) pair of the user's sequence.
    for (const k of split.reviews.keys()) {
      const [u, i] = k.split(':').map(Number);
      assert.ok(split.sequences[u].includes(i), k);
    }
  });

  it('k-core drops reviews of filtered rows; without raw reviews the field is absent; nothing else changes', () => {
    const cfg: ProtocolConfig = { ...NO_FILTER, ratingThreshold: null, kCore: 2 };
    const withText = applyProtocol(rawOf(rows), cfg);
    const without = applyProtocol(rawOf(rows, false), cfg);
    assert.equal(without.reviews, undefined);
    assert.ok(!('reviews' in without));
    const { reviews, ...rest } = withText;
    assert.deepEqual(rest, without);
    // 'd' has one row only: the 2-core removes it, and its review with it.
    assert.ok(!withText.itemIds.includes('d'));
    assert.ok(reviews !== undefined);
    assert.ok(![...reviews.values()].some((r) => r.text === 'u2 d.'));
    assert.ok([...reviews.values()].some((r) => r.text === 'u2 c low rating.'), 'no rating filter: the low-rated row is kept');
  });

  it('rejects reviews that are not row-aligned', () => {
    const raw = rawOf(rows);
    raw.reviews = raw.reviews?.slice(1);
    assert.throws(() => applyProtocol(raw, NO_FILTER), /reviews has 10 rows, expected 11/);
  });
});

describe('reviews: Amazon 2014/2018 loader', () => {
  const lines = [
    { reviewerID: 'A1', asin: 'B1', overall: 5, unixReviewTime: 100, reviewText: 'Great shampoo. Smells nice.', summary: 'Love it' },
    { reviewerID: 'A2', asin: 'B1', overall: 4, unixReviewTime: 101, summary: 'Good' },
    { reviewerID: 'A1', asin: 'B2', overall: 3, unixReviewTime: 102, reviewText: '', summary: '' },
    { reviewerID: 'A2', asin: 'B2', overall: 2, unixReviewTime: 103, reviewText: 'Too sticky.' },
  ];
  const dir = join(tmp, 'amazon');
  const file = join(dir, 'reviews_Tiny_5.json');

  it('keeps reviewText and summary row-aligned (null when both are empty)', async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const d = await loadAmazonReviews(file);
    assert.equal(d.user.length, 4);
    assert.deepEqual(d.reviews, [
      { text: 'Great shampoo. Smells nice.', summary: 'Love it' },
      { text: '', summary: 'Good' },
      null,
      { text: 'Too sticky.', summary: '' },
    ]);
    assert.equal(d.reviews?.[0]?.feature, undefined);
    // Through loadDataset (format detection, option passed on).
    assert.deepEqual((await loadDataset(dir, { cache: false })).reviews, d.reviews);
    assert.equal((await loadDataset(dir, { cache: false, reviewText: false })).reviews, undefined);
  });

  it('reviewText: false drops the text; rows are the same', async () => {
    const d = await loadAmazonReviews(file);
    const lean = await loadAmazonReviews(file, { reviewText: false });
    assert.equal(lean.reviews, undefined);
    assert.ok(!('reviews' in lean));
    const { reviews: _drop, ...rest } = d;
    assert.deepEqual(lean, rest);
  });
});

describe('reviews: synthetic shop', () => {
  const opts = { users: 150, items: 120, seed: 9 };
  const { dataset: shop, truth } = generateShopWithTruth(opts);
  const reviews = shop.reviews ?? [];

  it('every row has a review whose feature is named in its first sentence', () => {
    assert.equal(reviews.length, shop.user.length);
    for (let r = 0; r < reviews.length; r++) {
      const x = reviews[r];
      assert.ok(x !== null, `row ${r}`);
      assert.ok(x.feature !== undefined && x.feature !== '', `row ${r}: feature`);
      assert.ok(x.text.includes(x.feature), `row ${r}: '${x.feature}' not in '${x.text}'`);
      const sentences = splitSentences(x.text);
      assert.equal(sentences.length, 2, x.text);
      assert.equal(explanationOf(x), sentences[0], 'the explanation is the first sentence');
      assert.ok(sentences[0].includes(x.feature));
      const words = x.summary.split(' ').length;
      assert.ok(words >= 2 && words <= 5, `summary '${x.summary}'`);
    }
  });

  it('features come from the item and the text varies', () => {
    const kinds = { brand: 0, price: 0, other: 0 };
    for (let r = 0; r < reviews.length; r++) {
      const x = reviews[r];
      assert.ok(x !== null && x.feature !== undefined);
      const i = shop.item[r];
      const meta = shop.itemMeta.get(i);
      assert.ok(meta !== undefined);
      if (x.feature === meta.attributes.brand) kinds.brand++;
      else if (['cheap', 'pricey', 'price'].includes(x.feature)) kinds.price++;
      else {
        // A sub-category word or a title adjective of this very item.
        const hay = `${meta.title} ${meta.attributes.category}`.toLowerCase();
        assert.ok(hay.includes(x.feature.toLowerCase()), `'${x.feature}' is not about '${meta.title}'`);
        kinds.other++;
      }
    }
    assert.ok(kinds.brand > 0 && kinds.price > 0 && kinds.other > 0, JSON.stringify(kinds));
    const texts = new Set(reviews.map((x) => x?.text));
    const summaries = new Set(reviews.map((x) => x?.summary));
    assert.ok(texts.size > reviews.length / 4, `${texts.size} distinct texts`);
    assert.ok(summaries.size >= 15, `${summaries.size} distinct summaries`);
  });

  it('brand sentences follow the true brand preference', () => {
    let fan = 0;
    let fanPositive = 0;
    for (let r = 0; r < reviews.length; r++) {
      const x = reviews[r];
      if (x === null || !x.text.startsWith('I always come back to')) continue;
      fan++;
      if (truth.userBrandPref[shop.user[r]][truth.itemBrand[shop.item[r]]] >= 1.25) fanPositive++;
    }
    assert.ok(fan > 0);
    assert.equal(fanPositive, fan);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    assert.deepEqual(generateShop(opts).reviews, reviews);
    assert.notDeepEqual(generateShop({ ...opts, seed: 10 }).reviews, reviews);
  });

  it('reviews: false changes nothing but the reviews', () => {
    const off = generateShop({ ...opts, reviews: false });
    assert.equal(off.reviews, undefined);
    assert.ok(!('reviews' in off));
    assert.deepEqual(Array.from(off.user), Array.from(shop.user));
    assert.deepEqual(Array.from(off.item), Array.from(shop.item));
    assert.deepEqual(Array.from(off.time ?? []), Array.from(shop.time ?? []));
    assert.deepEqual(Array.from(off.rating ?? []), Array.from(shop.rating ?? []));
    const { reviews: _drop, ...rest } = shop;
    assert.deepEqual(off, rest);
    assert.throws(() => generateShop({ ...opts, reviews: 1 as unknown as boolean }), RangeError);
  });

  it('flows through the protocol: every kept interaction has its review', () => {
    const split = applyProtocol(shop, { ratingThreshold: 3, kCore: 3, maxHistory: 10, numNegatives: 0, seed: 1 });
    assert.ok(split.reviews !== undefined);
    let pairs = 0;
    for (let u = 0; u < split.numUsers; u++) {
      const distinct = new Set(split.sequences[u]);
      pairs += distinct.size;
      for (const i of distinct) assert.ok(reviewOf(split, u, i) !== undefined, reviewKey(u, i));
    }
    assert.equal(split.reviews.size, pairs);
  });
});
