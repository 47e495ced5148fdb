/**
 * The default item-vector source of TIGER: item texts (src/models/text, title
 * plus attributes) encoded by the configured text encoder.
 */
import type { SplitDataset } from '../../data/types.js';
import type { VectorMatrix } from './semantic_ids.js';

export function textVectorSource(encoder: string, dim: number): (data: SplitDataset, seed: number) => VectorMatrix {
  return () => {
    throw new Error(`tiger: the item text encoder '${encoder}' (dim ${dim}) is not available in this build`);
  };
}
