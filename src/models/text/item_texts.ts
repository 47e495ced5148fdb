/**
 * The text of every item of a split, as the text encoders take it
 * (docs/METHODS.md §3.10): the item sentence of src/data/item_text.ts (title
 * plus the attributes the dataset has: brand, categories, genres, ...).
 * Items without text (no metadata, or only an empty title and no attributes)
 * get '' and are listed in `missing`: their stated fallback is id only (the
 * encoders give them a zero row).
 */
import { itemSentence, type ItemSentenceOptions } from '../../data/item_text.js';
import type { SplitDataset } from '../../data/types.js';

export interface ItemTexts {
  /** texts[i] for items 0..numItems (texts[0] = '' is the padding item). */
  texts: string[];
  /** Items 1..numItems without text, ascending. */
  missing: number[];
}

/** Item sentences of a split (sentences capped at 512 characters by default). */
export function itemTexts(data: Pick<SplitDataset, 'numItems' | 'itemMeta'>, opts: ItemSentenceOptions = { maxLength: 512 }): ItemTexts {
  const texts: string[] = [''];
  const missing: number[] = [];
  for (let i = 1; i <= data.numItems; i++) {
    const meta = data.itemMeta.get(i);
    const s = meta ? itemSentence(meta, opts) : '';
    texts.push(s);
    if (s === '') missing.push(i);
  }
  return { texts, missing };
}
