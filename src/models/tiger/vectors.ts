/**
 * The default item-vector source of TIGER: the split's item texts (title plus
 * attributes, src/models/text/item_texts.ts) encoded by the configured text
 * encoder (src/models/text: 'tfidf' or 'bm25' fitted on these texts, or
 * 'lm:<folder>' mean-pooled). Items without text encode to a zero row (the
 * encoders' stated fallback); they still get a semantic id, told apart by the
 * collision code, and their number is logged.
 */
import type { SplitDataset } from '../../data/types.js';
import { createTextEncoder, encodeItems, itemTexts } from '../text/index.js';
import type { VectorMatrix } from './semantic_ids.js';

export function textVectorSource(encoder: string, dim: number, log?: (line: string) => void): (data: SplitDataset, seed: number) => VectorMatrix {
  return (data, seed) => {
    const { texts, missing } = itemTexts(data);
    const items = texts.slice(1);
    const enc = createTextEncoder({ encoder, dim, seed }, items);
    const out = encodeItems(enc, items, { scope: data.name });
    if (out.vectors.length !== data.numItems * out.dim) throw new Error(`tiger: the ${enc.name} encoder gave ${out.vectors.length} values for ${data.numItems} items of dim ${out.dim}`);
    log?.(`tiger: ${enc.name} item vectors (dim ${out.dim}) for ${data.numItems} items, ${missing.length} without text (zero vector), ${out.seconds.toFixed(1)} s`);
    return { rows: data.numItems, dim: out.dim, data: out.vectors };
  };
}
