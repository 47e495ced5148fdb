/**
 * An item text encoder from a JSON spec (model configs, run configs):
 *   'tfidf' | 'bm25'        fitted on the given corpus (the split's item texts)
 *   'lm:<folder>'           a BERT or T5 Hugging Face folder (LmTextEncoder.fromFolder)
 */
import { TfidfEncoder } from './tfidf.js';
import { LmTextEncoder } from './lm_encoder.js';
import type { ItemTextEncoder } from './types.js';

export interface TextEncoderSpec {
  /** 'tfidf', 'bm25' or 'lm:<folder>'. */
  encoder: string;
  /** Output dimension of the TF-IDF/BM25 projection (LM encoders: their hidden size). */
  dim: number;
  seed: number;
  /** LM encoders: longest token sequence per text. */
  maxTokens?: number;
}

/** Builds the encoder of `spec`; TF-IDF/BM25 are fitted on `corpus`. */
export function createTextEncoder(spec: TextEncoderSpec, corpus: readonly string[]): ItemTextEncoder {
  if (spec.encoder === 'tfidf' || spec.encoder === 'bm25') {
    return TfidfEncoder.fit(corpus.filter((t) => t !== ''), { dim: spec.dim, weighting: spec.encoder, seed: spec.seed });
  }
  if (spec.encoder.startsWith('lm:')) {
    const dir = spec.encoder.slice(3);
    if (dir === '') throw new Error("text encoder 'lm:<folder>': the folder is missing");
    return LmTextEncoder.fromFolder(dir, { maxTokens: spec.maxTokens });
  }
  throw new Error(`unknown text encoder '${spec.encoder}' (known: tfidf, bm25, lm:<folder>)`);
}
