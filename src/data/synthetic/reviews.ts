/**
 * Reviews of the synthetic shop (../synthetic.ts): one short review per
 * purchase, from its own PRNG stream, reflecting the user's true taste and the
 * rating.
 */
import type { ReviewText } from '../types.js';
import { mixSeedShop } from '../../util/random.js';
import type { Catalog } from './catalog.js';
import type { ResolvedShopOptions } from './options.js';
import { ShopRng } from './rng.js';
import type { Users } from './users.js';

/** PRNG stream id of the reviews (1-3: catalog, users, simulation). */
const REVIEW_STREAM = 4;

/** Lower-cases title words for running text, keeping acronyms and codes ('SPF', 'USB-C', '5G', 'A5'). */
function lowerWords(s: string): string {
  return s
    .split(' ')
    .map((w) => (/[A-Z]{2}|\d[A-Z]|[A-Z]\d/.test(w) ? w : w.toLowerCase()))
    .join(' ');
}

/** A feature sentence and the summary that goes with it. */
type Said = readonly [sentence: string, summary: string];

/** Feature sentences about a price that fits the user's level, by price word and tone of the rating. */
const PRICE_FIT: Record<'cheap' | 'pricey' | 'price', Record<'pos' | 'mid' | 'neg', Said[]>> = {
  cheap: {
    pos: [['It is cheap and does exactly what I need.', 'Great value'], ['Nice and cheap, just what I was looking for.', 'Budget win']],
    mid: [['It is cheap, so I cannot complain much.', 'Okay for the price']],
    neg: [['It was cheap, but the quality is lacking.', 'Not worth it']],
  },
  pricey: {
    pos: [['It is pricey, but worth every cent.', 'Worth the money'], ['Slightly pricey, but the quality justifies it.', 'Quality you pay for']],
    mid: [['It is a little pricey for what you get.', 'A bit overpriced']],
    neg: [['It is pricey, and the quality does not match.', 'Not worth the money']],
  },
  price: {
    pos: [['The price is just right for me.', 'Fair price'], ['Good quality at a fair price.', 'Fairly priced']],
    mid: [['The price is okay, the quality is average.', 'Average overall']],
    neg: [['The price is fine, but it disappointed me.', 'Not worth it']],
  },
};

/**
 * One review per row (rows in output order), from the ground truth: the
 * feature kind is drawn with weights that grow with how strongly the user's
 * taste bears on the item (brand preference, price fit, category taste; the
 * title adjective as the neutral alternative), the first sentence states the
 * feature's effect with the tone of the rating, the second is a generic
 * sentence for the rating (or notes a repeat purchase), the summary matches
 * the first sentence. `feature` occurs verbatim in the first sentence.
 */
export function generateReviews(o: ResolvedShopOptions, cat: Catalog, users: Users, user: Int32Array, item: Int32Array, rating: Float32Array): ReviewText[] {
  const rng = new ShopRng(mixSeedShop(o.seed, REVIEW_STREAM));
  const one = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  const n = cat.itemIds.length;
  const maxTaste = Float64Array.from(users.taste, (t) => t.reduce((m, x) => Math.max(m, x), 0));
  const nouns = cat.itemNounText.map(lowerWords);
  const adjectives = cat.itemAdjective.map(lowerWords);
  const subWords = cat.subcategories.map((name) => lowerWords(name.slice(name.indexOf(' > ') + 3)));
  const seen = new Set<number>();
  const weights = new Float64Array(4);
  const out: ReviewText[] = new Array<ReviewText>(user.length);
  for (let r = 0; r < user.length; r++) {
    const u = user[r];
    const i = item[r];
    const stars = Math.round(rating[r]);
    const tone = stars >= 4 ? 'pos' : stars <= 2 ? 'neg' : 'mid';
    const repeat = seen.has(u * n + i);
    seen.add(u * n + i);
    const noun = nouns[i];
    const brand = cat.brands[cat.itemBrand[i]];
    const pref = users.brandPref[u][cat.itemBrand[i]];
    const rank = cat.itemPriceRank[i];
    const gap = rank - users.priceLevel[u];
    const catRel = maxTaste[u] > 0 ? users.taste[u][cat.itemCategory[i]] / maxTaste[u] : 0.5;
    weights[0] = 0.4 + Math.min(2, Math.abs(Math.log(Math.max(pref, 1e-3))));
    weights[1] = 0.4 + 2.5 * Math.abs(gap);
    weights[2] = 0.3 + 1.2 * Math.abs(catRel - 0.5);
    weights[3] = 0.8;
    const kind = rng.pick(weights);
    let feature: string;
    let said: Said;
    if (kind === 0) {
      feature = brand;
      const b = brand;
      if (pref >= 1.25) {
        said = tone === 'pos'
          ? one<Said>([[`I always come back to ${b}, and the ${noun} shows why.`, 'Love this brand'], [`You can count on ${b} for quality, as always.`, 'My go-to brand'], [`Another great buy from ${b}, my favourite brand.`, 'Never disappoints']])
          : one<Said>([[`I usually love ${b}, but the ${noun} let me down.`, 'Not their best'], [`I expected more from ${b}, a brand I normally trust.`, 'Expected more from them']]);
      } else if (pref <= 0.6) {
        said = tone === 'pos'
          ? one<Said>([[`I was wary of ${b}, but the ${noun} won me over.`, 'Won me over'], [`I do not usually buy ${b}, yet the ${noun} surprised me.`, 'Pleasantly surprised']])
          : one<Said>([[`I am not a ${b} fan, and the ${noun} did not change that.`, 'Not my brand'], [`I gave ${b} another chance and regret it.`, 'Not my brand']]);
      } else {
        said = tone === 'pos'
          ? one<Said>([[`My first ${b} purchase, and a good one.`, 'Good first impression'], [`Good quality from ${b}, I will look at their other products.`, 'Nice surprise']])
          : tone === 'mid'
            ? one<Said>([[`Decent enough for ${b}, nothing more.`, 'Decent, nothing more']])
            : one<Said>([[`Not impressed with ${b} this time.`, 'Not impressed'], [`The ${b} quality was not there for me.`, 'Disappointing quality']]);
      }
    } else if (kind === 1) {
      if (gap > 0.25) {
        feature = 'pricey';
        said = tone === 'pos'
          ? one<Said>([['It is pricey for my budget, but I do not regret it.', 'Pricey but good'], ['A bit pricey for me, yet worth it in the end.', 'Worth the splurge']])
          : one<Said>([['It is too pricey for what it is.', 'Way overpriced'], ['Way too pricey for the quality you get.', 'Not worth the price']]);
      } else if (gap < -0.25) {
        feature = 'cheap';
        said = tone === 'pos'
          ? one<Said>([['It was cheap, yet it works as well as pricier ones.', 'Great value'], ['Surprisingly good for something this cheap.', 'Great value for money']])
          : one<Said>([['It is cheap, and unfortunately it feels cheap.', 'Feels cheap'], ['You can tell it was cheap.', 'Cheap and it shows']]);
      } else {
        const word = rank < 0.4 ? 'cheap' : rank > 0.6 ? 'pricey' : 'price';
        feature = word;
        said = one(PRICE_FIT[word][tone]);
      }
    } else if (kind === 2) {
      const sub = subWords[cat.itemSub[i]];
      feature = sub;
      if (catRel >= 0.7) {
        said = tone === 'pos'
          ? one<Said>([[`I buy a lot of ${sub}, and this one is among my favourites.`, 'A new favourite'], [`As someone who loves ${sub}, I am very pleased.`, 'Very pleased']])
          : tone === 'mid'
            ? [`I know ${sub} well, and this one is just average.`, 'Just average']
            : [`I buy a lot of ${sub}, and this one is among the worst.`, 'One of the worst'];
      } else if (catRel < 0.3) {
        said = tone === 'pos'
          ? [`I rarely shop for ${sub}, but I am glad I tried this.`, 'Glad I tried it']
          : tone === 'mid'
            ? [`I rarely shop for ${sub}, and this did not convince me.`, 'Not convinced']
            : [`I rarely shop for ${sub}, and this reminded me why.`, 'Not for me'];
      } else {
        said = tone === 'pos'
          ? [`A solid choice in ${sub}.`, 'Solid choice']
          : tone === 'mid'
            ? [`An average pick in ${sub}, nothing stands out.`, 'Nothing special']
            : [`One of the weaker options in ${sub}.`, 'Look elsewhere'];
      }
    } else {
      const adj = adjectives[i];
      feature = adj;
      said = tone === 'pos'
        ? one<Said>([[`The ${adj} ${noun} works really well.`, 'Works great'], [`Exactly what I hoped for from the ${adj} ${noun}.`, 'Exactly as described']])
        : tone === 'mid'
          ? [`The ${adj} ${noun} is fine but nothing special.`, 'Just okay']
          : one<Said>([[`The ${adj} ${noun} did not live up to the description.`, 'Not as described'], [`Nothing ${adj} about the ${noun}, sadly.`, 'Rather disappointing']]);
    }
    let other: string;
    if (repeat && stars >= 4 && rng.next() < 0.7) other = one(['Bought it again, which says enough.', 'Already ordered it again.']);
    else if (stars >= 5) other = one(['Would buy again.', 'Five stars from me.', 'Highly recommended.', 'Would happily recommend it.']);
    else if (stars === 4) other = one(['Good purchase overall.', 'Happy with it so far.', 'Arrived quickly and well packed.']);
    else if (stars === 3) other = one(['It does the job, nothing more.', 'Not bad, not great.', 'Might try something else next time.']);
    else if (stars === 2) other = one(['Not sure I would buy it again.', 'Expected more, to be honest.']);
    else other = one(['I am sending it back.', 'Would not recommend it.', 'A waste of money.']);
    out[r] = { text: `${said[0]} ${other}`, summary: said[1], feature };
  }
  return out;
}
