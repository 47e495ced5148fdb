/**
 * The TF-IDF / BM25 item text encoder, the floor of the text encoders
 * (docs/METHODS.md §3.10). Fitted on a corpus of item texts:
 *
 *   tokens    lower-cased runs of letters and digits (Unicode), /[\p{L}\p{N}]+/gu
 *   tfidf     w(t, d) = tf(t, d) * ln(N / df(t))                       (raw counts; a term in every
 *                                                                        document weighs 0)
 *   bm25      w(t, d) = ln(1 + (N - df + 0.5) / (df + 0.5))
 *                       * tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl))   (k1 1.2, b 0.75)
 *   sparse    the weights of a document's known terms, L2-normalised (`sparse`)
 *   dense     sum_t w(t) r_t with r_t in {-1, +1}^dim / sqrt(dim) drawn from a
 *             generator seeded by (seed, FNV-1a hash of t): a seeded random
 *             projection (Achlioptas), so the row of a term does not depend on
 *             the vocabulary order; then L2-normalised (`encode`)
 *
 * Terms seen in fewer than `minDf` documents are dropped; with `maxVocab` the
 * most frequent terms are kept (ties: code-unit order). Unknown terms of a new
 * text are ignored; a text without known terms encodes to zeros.
 */
import { createHash } from 'node:crypto';
import { Mulberry32, mixSeed } from '../../util/random.js';
import type { ItemTextEncoder } from './types.js';

export type TermWeighting = 'tfidf' | 'bm25';

export interface TfidfOptions {
  /** Output dimension of the random projection (default 256). */
  dim?: number;
  weighting?: TermWeighting;
  /** Seed of the projection (default 2024). */
  seed?: number;
  /** Minimum document frequency of a term (default 1). */
  minDf?: number;
  /** Keep at most this many terms, the most frequent first (default: all). */
  maxVocab?: number;
  /** BM25 parameters (defaults 1.2 and 0.75). */
  k1?: number;
  b?: number;
}

/** Lower-cased runs of letters and digits. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class TfidfEncoder implements ItemTextEncoder {
  readonly name: string;
  readonly dim: number;
  readonly identity: string;
  readonly weighting: TermWeighting;
  /** Term -> inverse document frequency. */
  readonly idf: ReadonlyMap<string, number>;
  readonly avgDocLength: number;
  private readonly seed: number;
  private readonly k1: number;
  private readonly b: number;
  private readonly rows = new Map<string, Float32Array>();

  private constructor(idf: Map<string, number>, avgDocLength: number, o: Required<Omit<TfidfOptions, 'maxVocab' | 'minDf'>>, corpusHash: string) {
    this.idf = idf;
    this.avgDocLength = avgDocLength;
    this.dim = o.dim;
    this.weighting = o.weighting;
    this.seed = o.seed;
    this.k1 = o.k1;
    this.b = o.b;
    this.name = o.weighting;
    this.identity = `${o.weighting}:dim=${o.dim}:seed=${o.seed}:k1=${o.k1}:b=${o.b}:corpus=${corpusHash}`;
  }

  /** Fits document frequencies on `corpus` (empty texts count as documents without terms). */
  static fit(corpus: readonly string[], opts: TfidfOptions = {}): TfidfEncoder {
    const dim = opts.dim ?? 256;
    const weighting = opts.weighting ?? 'tfidf';
    const seed = opts.seed ?? 2024;
    const minDf = opts.minDf ?? 1;
    const k1 = opts.k1 ?? 1.2;
    const b = opts.b ?? 0.75;
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`TfidfEncoder: dim must be a positive integer, got ${dim}`);
    if (weighting !== 'tfidf' && weighting !== 'bm25') throw new Error(`TfidfEncoder: weighting must be 'tfidf' or 'bm25', got '${String(weighting)}'`);
    if (!Number.isInteger(minDf) || minDf < 1) throw new Error(`TfidfEncoder: minDf must be an integer >= 1, got ${minDf}`);
    if (opts.maxVocab !== undefined && (!Number.isInteger(opts.maxVocab) || opts.maxVocab < 1)) throw new Error(`TfidfEncoder: maxVocab must be a positive integer, got ${opts.maxVocab}`);
    if (!(k1 >= 0) || !(b >= 0 && b <= 1)) throw new Error(`TfidfEncoder: need k1 >= 0 and 0 <= b <= 1, got k1 ${k1}, b ${b}`);
    const N = corpus.length;
    if (N === 0) throw new Error('TfidfEncoder: cannot fit on an empty corpus');
    const df = new Map<string, number>();
    let totalLen = 0;
    const hash = createHash('sha256');
    for (const text of corpus) {
      hash.update(text).update('\u0000');
      const toks = tokenize(text);
      totalLen += toks.length;
      for (const t of new Set(toks)) df.set(t, (df.get(t) ?? 0) + 1);
    }
    let terms = [...df.entries()].filter(([, c]) => c >= minDf);
    if (opts.maxVocab !== undefined && terms.length > opts.maxVocab) {
      terms.sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
      terms = terms.slice(0, opts.maxVocab);
    }
    terms.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    const idf = new Map<string, number>();
    for (const [t, c] of terms) idf.set(t, weighting === 'tfidf' ? Math.log(N / c) : Math.log(1 + (N - c + 0.5) / (c + 0.5)));
    const corpusHash = hash.update(`minDf=${minDf};maxVocab=${opts.maxVocab ?? 'all'}`).digest('hex').slice(0, 16);
    return new TfidfEncoder(idf, totalLen / N, { dim, weighting, seed, k1, b }, corpusHash);
  }

  /** The L2-normalised term weights of a text (terms in code-unit order; unknown terms left out). */
  sparse(text: string): Map<string, number> {
    const toks = tokenize(text);
    const tf = new Map<string, number>();
    for (const t of toks) if (this.idf.has(t)) tf.set(t, (tf.get(t) ?? 0) + 1);
    const out = new Map<string, number>();
    let norm = 0;
    for (const t of [...tf.keys()].sort()) {
      const f = tf.get(t)!;
      const idf = this.idf.get(t)!;
      const w = this.weighting === 'tfidf'
        ? f * idf
        : idf * (f * (this.k1 + 1)) / (f + this.k1 * (1 - this.b + this.b * toks.length / (this.avgDocLength || 1)));
      if (w === 0) continue;
      out.set(t, w);
      norm += w * w;
    }
    norm = Math.sqrt(norm);
    if (norm > 0) for (const [t, w] of out) out.set(t, w / norm);
    return out;
  }

  /** The projection row r_t of a term (see the file comment). */
  projectionRow(term: string): Float32Array {
    let r = this.rows.get(term);
    if (r) return r;
    r = new Float32Array(this.dim);
    const rng = new Mulberry32(mixSeed(this.seed, fnv1a(term)));
    const s = 1 / Math.sqrt(this.dim);
    for (let j = 0; j < this.dim; j += 32) {
      const bits = rng.uint32();
      for (let k = 0; k < 32 && j + k < this.dim; k++) r[j + k] = (bits >>> k) & 1 ? s : -s;
    }
    this.rows.set(term, r);
    return r;
  }

  encode(texts: readonly string[]): Float32Array {
    const D = this.dim;
    const out = new Float32Array(texts.length * D);
    const acc = new Float64Array(D);
    texts.forEach((text, i) => {
      acc.fill(0);
      for (const [t, w] of this.sparse(text)) {
        const r = this.projectionRow(t);
        for (let j = 0; j < D; j++) acc[j] += w * r[j];
      }
      let norm = 0;
      for (let j = 0; j < D; j++) norm += acc[j] * acc[j];
      norm = Math.sqrt(norm);
      if (norm > 0) for (let j = 0; j < D; j++) out[i * D + j] = acc[j] / norm;
    });
    return out;
  }
}
