/**
 * The item text encoder interface (docs/METHODS.md §3.10): every encoder
 * turns item texts into fixed-size dense rows, so a text-based recommender
 * (textseq.ts), TIGER's semantic ids and KAR take any of them.
 *
 * Implementations: `TfidfEncoder` (tfidf.ts: TF-IDF or BM25 weights, projected
 * to `dim` by a seeded random projection; the floor) and `LmTextEncoder`
 * (lm_encoder.ts: a BERT or T5 encoder loaded by src/lm, mean-pooled over the
 * non-pad tokens). `encodeItems` (cache.ts) adds the per-item cache.
 */

/** An encoder of item texts into dense vectors. */
export interface ItemTextEncoder {
  /** Short name for reports ('tfidf', 'bm25', 'lm:bert', ...). */
  readonly name: string;
  /** Length of every output row. */
  readonly dim: number;
  /**
   * Everything the vectors depend on besides the text itself: settings, the
   * fitted corpus statistics, a fingerprint of the weights. Two encoders with
   * the same identity give the same row for the same text; it is part of the
   * cache key (cache.ts).
   */
  readonly identity: string;
  /**
   * Rows [texts.length * dim], row i the vector of texts[i]. An empty text
   * (an item without text) gives a row of zeros: the caller's stated
   * fallback (id only) applies to it.
   */
  encode(texts: readonly string[]): Float32Array;
}
