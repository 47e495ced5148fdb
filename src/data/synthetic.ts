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
 */
import type { ItemMeta, RawDataset, ReviewText } from './types.js';
import { Mulberry32, mixSeedShop } from '../util/random.js';

// ---------------------------------------------------------------------------
// Seeded random numbers
// ---------------------------------------------------------------------------

/** The shop's seeded PRNG: mulberry32 (src/util/random.ts, seed used as given) with the samplers the generator needs. */
export class ShopRng extends Mulberry32 {
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Exponential with the given mean. */
  exp(mean: number): number {
    let u = 0;
    while (u === 0) u = this.next();
    return -Math.log(u) * mean;
  }
  /** Gamma(shape, 1) (Marsaglia-Tsang; boosted for shape < 1). */
  gamma(shape: number): number {
    if (shape < 1) {
      let u = 0;
      while (u === 0) u = this.next();
      return this.gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }
  /** A Dirichlet draw with the given concentration parameters (sums to 1). */
  dirichlet(alpha: ArrayLike<number>): Float64Array {
    const out = new Float64Array(alpha.length);
    let sum = 0;
    for (let k = 0; k < alpha.length; k++) {
      out[k] = Math.max(this.gamma(alpha[k]), 1e-12);
      sum += out[k];
    }
    for (let k = 0; k < out.length; k++) out[k] /= sum;
    return out;
  }
  /** Index drawn proportionally to non-negative weights; -1 when they sum to 0. */
  pick(weights: ArrayLike<number>, n: number = weights.length): number {
    let total = 0;
    for (let k = 0; k < n; k++) total += weights[k];
    if (!(total > 0)) return -1;
    let r = this.next() * total;
    for (let k = 0; k < n; k++) {
      r -= weights[k];
      if (r < 0) return k;
    }
    for (let k = n - 1; k >= 0; k--) if (weights[k] > 0) return k;
    return -1;
  }
  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[]): T[] {
    for (let k = a.length - 1; k > 0; k--) {
      const j = this.int(k + 1);
      const t = a[k];
      a[k] = a[j];
      a[j] = t;
    }
    return a;
  }
}

// ---------------------------------------------------------------------------
// The catalog taxonomy
// ---------------------------------------------------------------------------

/** One variant dimension of a sub-category (size, color, storage...). */
interface VariantDim {
  /** Attribute key ('size', 'color', 'storage', 'pack'). */
  key: string;
  /** Values in increasing order (the price grows along them by `priceStep`). */
  values: string[];
  /** Separator before the value in the title (default ', '). */
  sep?: string;
  /** Prefix of the value in the title, e.g. 'Size '. */
  label?: string;
  /** Relative price increase per value index (default 0). */
  priceStep?: number;
}

interface SubSpec {
  name: string;
  /** Product nouns in routine order: noun k is naturally followed by noun k+1 (cyclic). */
  nouns: string[];
  adjectives: string[];
  dims: VariantDim[];
  /** Price range of a product line's base variant. */
  price: [number, number];
  /** Bought again and again (repeat purchases come only from these). */
  consumable: boolean;
  /** Complementary sub-categories, 'Sub' (same top category) or 'Top > Sub'. */
  complements: string[];
  /** False when the nouns form no routine (one buys no second phone): the routine step goes to a complement. */
  routine?: boolean;
}

interface TopSpec {
  name: string;
  /** Relative size of the category (share of items and of the population's taste). */
  weight: number;
  brands: string[];
  subs: SubSpec[];
}

const VOL = (values: string[], step = 0.45): VariantDim => ({ key: 'size', values, sep: ' ', priceStep: step });
const COLOR = (values: string[]): VariantDim => ({ key: 'color', values });
const SIZE = (values: string[], label = 'Size ', step = 0): VariantDim => ({ key: 'size', values, label, priceStep: step });

const TAXONOMY: TopSpec[] = [
  {
    name: 'Beauty',
    weight: 1.3,
    brands: ['Lumière', 'Verdana', 'Aurelle', 'Kasumi', 'Blossom & Co', 'Nordlys'],
    subs: [
      { name: 'Skin care', nouns: ['Cleanser', 'Toner', 'Serum', 'Face Cream', 'Eye Cream', 'Sunscreen SPF 50'], adjectives: ['Hydrating', 'Brightening', 'Gentle', 'Renewing', 'Soothing', 'Purifying'], dims: [VOL(['30 ml', '50 ml', '100 ml', '200 ml'])], price: [9, 65], consumable: true, complements: ['Makeup'] },
      { name: 'Hair care', nouns: ['Shampoo', 'Conditioner', 'Hair Mask', 'Hair Oil', 'Styling Cream'], adjectives: ['Nourishing', 'Volumizing', 'Repairing', 'Smoothing', 'Clarifying', 'Color-Safe'], dims: [VOL(['250 ml', '400 ml', '750 ml'])], price: [6, 40], consumable: true, complements: ['Bath & body'] },
      { name: 'Makeup', nouns: ['Primer', 'Foundation', 'Concealer', 'Setting Powder', 'Mascara', 'Lipstick'], adjectives: ['Long-Wear', 'Matte', 'Radiant', 'Waterproof', 'Sheer', 'Velvet'], dims: [COLOR(['Ivory', 'Sand', 'Honey', 'Rose', 'Berry', 'Espresso'])], price: [7, 45], consumable: true, complements: ['Fragrance', 'Skin care'] },
      { name: 'Fragrance', nouns: ['Eau de Parfum', 'Eau de Toilette', 'Body Mist', 'Perfume Oil'], adjectives: ['Amber', 'Citrus', 'Floral', 'Woody', 'Fresh', 'Vanilla'], dims: [VOL(['30 ml', '50 ml', '100 ml'], 0.6)], price: [18, 120], consumable: false, complements: ['Bath & body'] },
      { name: 'Bath & body', nouns: ['Body Wash', 'Body Scrub', 'Body Lotion', 'Hand Cream', 'Bath Salts'], adjectives: ['Lavender', 'Coconut', 'Shea', 'Eucalyptus', 'Oat', 'Rose'], dims: [VOL(['100 ml', '250 ml', '500 ml'])], price: [4, 30], consumable: true, complements: ['Skin care'] },
    ],
  },
  {
    name: 'Electronics',
    weight: 1.0,
    brands: ['Voltra', 'Nexon', 'Auralink', 'Pixelio', 'Quanta', 'Brightwave'],
    subs: [
      { name: 'Smartphones', nouns: ['Smartphone', '5G Smartphone', 'Compact Phone'], adjectives: ['Pro', 'Lite', 'Max', 'Ultra', 'Neo'], dims: [{ key: 'storage', values: ['64 GB', '128 GB', '256 GB'], priceStep: 0.18 }, COLOR(['Black', 'Silver', 'Blue'])], price: [180, 1100], consumable: false, complements: ['Phone accessories', 'Headphones'], routine: false },
      { name: 'Headphones', nouns: ['Wireless Earbuds', 'Sport Earphones', 'Over-Ear Headphones', 'Noise-Cancelling Headphones'], adjectives: ['Studio', 'Active', 'Bass', 'Travel', 'Everyday'], dims: [COLOR(['Black', 'White', 'Navy', 'Sand'])], price: [19, 350], consumable: false, complements: ['Phone accessories'], routine: false },
      { name: 'Phone accessories', nouns: ['Phone Case', 'Screen Protector', 'USB-C Cable', 'Wireless Charger', 'Power Bank'], adjectives: ['Slim', 'Rugged', 'Fast', 'Magnetic', 'Clear', 'Braided'], dims: [COLOR(['Black', 'Clear', 'Blue', 'Red'])], price: [6, 60], consumable: false, complements: ['Smart home'] },
      { name: 'Smart home', nouns: ['Smart Plug', 'Smart Bulb', 'Smart Speaker', 'Video Doorbell', 'Security Camera'], adjectives: ['Mini', 'Plus', 'Outdoor', 'Indoor', 'Essential'], dims: [{ key: 'pack', values: ['1-Pack', '2-Pack', '4-Pack'], priceStep: 0.8 }], price: [15, 200], consumable: false, complements: ['Phone accessories'] },
    ],
  },
  {
    name: 'Home & Kitchen',
    weight: 1.1,
    brands: ['Hearthly', 'Oakridge', 'Casa Verde', 'Kitchora', 'Maison Blanc', 'Ironleaf'],
    subs: [
      { name: 'Cookware', nouns: ['Frying Pan', 'Saucepan', 'Dutch Oven', 'Wok', 'Baking Sheet'], adjectives: ['Nonstick', 'Cast Iron', 'Stainless', 'Ceramic', 'Hard-Anodized'], dims: [{ key: 'size', values: ['20 cm', '24 cm', '28 cm'], sep: ' ', priceStep: 0.2 }], price: [15, 180], consumable: false, complements: ['Storage'] },
      { name: 'Coffee & tea', nouns: ['Coffee Grinder', 'Coffee Maker', 'Milk Frother', 'French Press', 'Kettle', 'Tea Infuser'], adjectives: ['Classic', 'Electric', 'Glass', 'Compact', 'Programmable'], dims: [COLOR(['Black', 'Silver', 'Cream', 'Red'])], price: [12, 220], consumable: false, complements: ['Grocery & Gourmet > Beverages'] },
      { name: 'Bedding', nouns: ['Fitted Sheet', 'Duvet Cover', 'Pillowcase Set', 'Pillow', 'Throw Blanket'], adjectives: ['Linen', 'Cotton', 'Percale', 'Bamboo', 'Sherpa', 'Waffle'], dims: [COLOR(['White', 'Grey', 'Sage', 'Navy']), SIZE(['Single', 'Double', 'Queen', 'King'], '', 0.15)], price: [15, 140], consumable: false, complements: ['Storage'] },
      { name: 'Storage', nouns: ['Storage Box', 'Drawer Organizer', 'Food Container Set', 'Laundry Basket', 'Shelf Basket'], adjectives: ['Stackable', 'Woven', 'Airtight', 'Foldable', 'Clear'], dims: [SIZE(['Small', 'Medium', 'Large'], '', 0.3)], price: [8, 60], consumable: false, complements: ['Cookware'] },
    ],
  },
  {
    name: 'Sports & Outdoors',
    weight: 0.9,
    brands: ['Strideline', 'Peakform', 'Trailcraft', 'Velocita', 'Zenflow', 'Summitra'],
    subs: [
      { name: 'Running', nouns: ['Running Shoes', 'Running Socks', 'Running Shorts', 'Running Jacket', 'Hydration Belt'], adjectives: ['Lightweight', 'Cushioned', 'Trail', 'Breathable', 'Reflective'], dims: [COLOR(['Black', 'Blue', 'Neon Yellow', 'Coral'])], price: [10, 160], consumable: false, complements: ['Electronics > Headphones', 'Yoga & fitness'] },
      { name: 'Yoga & fitness', nouns: ['Yoga Mat', 'Yoga Block', 'Resistance Bands', 'Foam Roller', 'Dumbbell Set'], adjectives: ['Eco', 'Non-Slip', 'Premium', 'Travel', 'Pro'], dims: [COLOR(['Purple', 'Teal', 'Black', 'Grey'])], price: [9, 120], consumable: false, complements: ['Running'] },
      { name: 'Camping', nouns: ['Tent', 'Sleeping Bag', 'Camping Stove', 'Headlamp', 'Backpack'], adjectives: ['Ultralight', 'Waterproof', '3-Season', 'Compact', 'Expedition'], dims: [COLOR(['Olive', 'Orange', 'Grey', 'Sand'])], price: [15, 350], consumable: false, complements: ['Cycling'] },
      { name: 'Cycling', nouns: ['Bike Helmet', 'Bike Light Set', 'Bike Lock', 'Cycling Gloves', 'Water Bottle'], adjectives: ['Aero', 'Urban', 'Reflective', 'Padded', 'Insulated'], dims: [COLOR(['Black', 'White', 'Red', 'Lime'])], price: [8, 150], consumable: false, complements: ['Camping'] },
    ],
  },
  {
    name: 'Grocery & Gourmet',
    weight: 1.2,
    brands: ['Golden Harvest', 'Alpenhof', 'Mama Rosa', 'Kaffeina', 'Green Valley', 'Sakura Table'],
    subs: [
      { name: 'Beverages', nouns: ['Coffee Beans', 'Ground Coffee', 'Green Tea', 'Herbal Tea', 'Hot Chocolate'], adjectives: ['Organic', 'Dark Roast', 'Single-Origin', 'Decaf', 'Fair Trade'], dims: [VOL(['250 g', '500 g', '1 kg'], 0.7)], price: [4, 35], consumable: true, complements: ['Snacks'] },
      { name: 'Snacks', nouns: ['Dark Chocolate', 'Granola Bars', 'Roasted Almonds', 'Rice Crackers', 'Trail Mix'], adjectives: ['Salted', 'Honey', 'Sea Salt', 'Spicy', 'Protein'], dims: [VOL(['100 g', '250 g', '500 g'], 0.8)], price: [2, 20], consumable: true, complements: ['Beverages'] },
      { name: 'Pantry', nouns: ['Pasta', 'Tomato Sauce', 'Olive Oil', 'Basmati Rice', 'Maple Syrup'], adjectives: ['Organic', 'Premium', 'Italian', 'Classic', 'Artisan'], dims: [SIZE(['Regular', 'Family Size', 'Value Pack'], '', 0.6)], price: [2, 25], consumable: true, complements: ['Snacks'] },
    ],
  },
  {
    name: 'Pet Supplies',
    weight: 0.8,
    brands: ['Pawsome', 'Whiskerly', 'Barkley & Co', 'Furbelle', 'TailTrail', 'Meadow Pet'],
    subs: [
      { name: 'Dog food', nouns: ['Puppy Food', 'Dry Dog Food', 'Wet Dog Food', 'Dog Treats'], adjectives: ['Grain-Free', 'Chicken', 'Salmon', 'Lamb & Rice', 'Senior'], dims: [VOL(['1 kg', '3 kg', '10 kg'], 1.0)], price: [5, 70], consumable: true, complements: ['Pet toys'] },
      { name: 'Cat food', nouns: ['Kitten Food', 'Dry Cat Food', 'Wet Cat Food', 'Cat Treats'], adjectives: ['Tuna', 'Chicken', 'Indoor', 'Hairball Control', 'Salmon'], dims: [VOL(['400 g', '1.5 kg', '4 kg'], 1.0)], price: [3, 50], consumable: true, complements: ['Grooming'] },
      { name: 'Pet toys', nouns: ['Chew Toy', 'Rope Toy', 'Feather Wand', 'Ball Launcher', 'Puzzle Feeder'], adjectives: ['Durable', 'Squeaky', 'Interactive', 'Plush', 'Glow'], dims: [SIZE(['Small', 'Medium', 'Large'], '', 0.25)], price: [4, 40], consumable: false, complements: ['Grooming'] },
      { name: 'Grooming', nouns: ['Pet Shampoo', 'Slicker Brush', 'Deshedding Tool', 'Nail Clipper', 'Dental Kit'], adjectives: ['Gentle', 'Oatmeal', 'Pro', 'Self-Cleaning', 'Fresh'], dims: [SIZE(['Small', 'Large'], '', 0.3)], price: [6, 45], consumable: false, complements: ['Dog food'] },
    ],
  },
  {
    name: 'Fashion',
    weight: 1.1,
    brands: ['Northwind', 'Urbanloom', 'Maple & Moss', 'Riviera', 'Kinfolk', 'Ashgrove'],
    subs: [
      { name: 'T-shirts & tops', nouns: ['Crew T-Shirt', 'V-Neck T-Shirt', 'Polo Shirt', 'Long-Sleeve Top'], adjectives: ['Classic', 'Organic Cotton', 'Relaxed', 'Slim-Fit', 'Heavyweight'], dims: [COLOR(['White', 'Black', 'Navy', 'Heather Grey']), SIZE(['S', 'M', 'L', 'XL'])], price: [12, 55], consumable: false, complements: ['Jeans & trousers'] },
      { name: 'Jeans & trousers', nouns: ['Straight Jeans', 'Slim Jeans', 'Chinos', 'Cargo Trousers'], adjectives: ['Stretch', 'Vintage Wash', 'Raw Denim', 'Relaxed', 'Tapered'], dims: [COLOR(['Indigo', 'Black', 'Stone']), SIZE(['W30', 'W32', 'W34', 'W36'], '')], price: [25, 120], consumable: false, complements: ['Footwear'] },
      { name: 'Footwear', nouns: ['Sneakers', 'Canvas Shoes', 'Loafers', 'Chelsea Boots', 'Sandals'], adjectives: ['Leather', 'Suede', 'Everyday', 'Retro', 'Minimal'], dims: [COLOR(['White', 'Black', 'Tan']), SIZE(['EU 39', 'EU 40', 'EU 42', 'EU 44'], '')], price: [30, 180], consumable: false, complements: ['Outerwear'] },
      { name: 'Outerwear', nouns: ['Rain Jacket', 'Fleece', 'Puffer Jacket', 'Denim Jacket', 'Wool Coat'], adjectives: ['Packable', 'Insulated', 'Classic', 'Oversized', 'Lightweight'], dims: [COLOR(['Olive', 'Black', 'Camel', 'Navy']), SIZE(['S', 'M', 'L', 'XL'])], price: [40, 260], consumable: false, complements: ['T-shirts & tops'] },
    ],
  },
  {
    name: 'Office & Stationery',
    weight: 0.6,
    brands: ['Inkwell', 'Papyra', 'Quillstone', 'Deskly', 'Marginalia', 'Graphite & Co'],
    subs: [
      { name: 'Notebooks & paper', nouns: ['Dotted Notebook', 'Lined Notebook', 'Sketchbook', 'Planner', 'Sticky Notes'], adjectives: ['Hardcover', 'A5', 'Spiral', 'Recycled', 'Premium'], dims: [COLOR(['Black', 'Forest Green', 'Burgundy', 'Sky Blue'])], price: [3, 30], consumable: true, complements: ['Writing instruments'] },
      { name: 'Writing instruments', nouns: ['Gel Pen Set', 'Fineliners', 'Highlighters', 'Mechanical Pencil', 'Fountain Pen'], adjectives: ['Fine', 'Bold', 'Pastel', 'Smooth', 'Archival'], dims: [COLOR(['Black', 'Blue', 'Assorted'])], price: [2, 60], consumable: true, complements: ['Notebooks & paper', 'Desk accessories'] },
      { name: 'Desk accessories', nouns: ['Desk Organizer', 'Monitor Stand', 'Desk Lamp', 'Mouse Pad', 'Cable Tray'], adjectives: ['Bamboo', 'Minimal', 'Adjustable', 'Ergonomic', 'Metal'], dims: [COLOR(['Walnut', 'White', 'Black', 'Oak'])], price: [10, 90], consumable: false, complements: ['Notebooks & paper'] },
    ],
  },
];

/** Number of top categories available in the taxonomy. */
export const SHOP_MAX_CATEGORIES = TAXONOMY.length;

// ---------------------------------------------------------------------------
// Options and ground truth
// ---------------------------------------------------------------------------

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

function resolveOptions(opts: ShopOptions): ResolvedShopOptions {
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

// ---------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------

interface Catalog {
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

function buildCatalog(o: ResolvedShopOptions): Catalog {
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

// ---------------------------------------------------------------------------
// Users and interactions
// ---------------------------------------------------------------------------

interface Users {
  taste: Float32Array[];
  brandPref: Float32Array[];
  priceLevel: Float32Array;
}

function brandMultiplier(pref: number): number {
  return 0.3 + 0.7 * pref;
}

function priceMultiplier(rank: number, level: number): number {
  const d = (rank - level) / 0.25;
  return 0.35 + Math.exp(-0.5 * d * d);
}

function buildUsers(o: ResolvedShopOptions, cat: Catalog): Users {
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

function simulate(o: ResolvedShopOptions, cat: Catalog, users: Users): Log {
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

// ---------------------------------------------------------------------------
// Reviews
// ---------------------------------------------------------------------------

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
function generateReviews(o: ResolvedShopOptions, cat: Catalog, users: Users, user: Int32Array, item: Int32Array, rating: Float32Array): ReviewText[] {
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

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

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
