/**
 * The catalog taxonomy of the synthetic shop (../synthetic.ts): top
 * categories, sub-categories with their product nouns, adjectives, brands,
 * variant dimensions, routines and complements.
 */

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

export interface SubSpec {
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

export const TAXONOMY: TopSpec[] = [
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
