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
import { coocVectors, mixVectors } from './cooc.js';

/** Item vectors for a split: row i - 1 is item i (items 1..numItems). */
export type ItemVectorSource = (data: SplitDataset, seed: number) => VectorMatrix | Promise<VectorMatrix>;

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

/**
 * `text` mixed with the collaborative vectors of the split's training rows
 * (cooc.ts): `share` of every row's squared norm is collaborative.
 */
export function withCollab(text: ItemVectorSource, o: { share: number; dim: number; window: number; iters: number }, log?: (line: string) => void): ItemVectorSource {
  return async (data, seed) => {
    const t0 = performance.now();
    const co = coocVectors(data, { dim: o.dim, window: o.window, iters: o.iters, seed });
    log?.(`tiger: collaborative vectors (PPMI of the training rows, window ${o.window}, dim ${co.dim}): ${co.entries} entries, ${co.isolated} items without training co-occurrence (zero rows), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const tv = o.share < 1 ? await text(data, seed) : { rows: co.rows, dim: 1, data: new Float32Array(co.rows) };
    return mixVectors(tv, co, o.share);
  };
}
