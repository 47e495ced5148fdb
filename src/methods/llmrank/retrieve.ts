/**
 * Candidate retrieval for LLMRank: the items the LLM is asked to rank come
 * from a first-stage model. Pop (training-sequence counts), BM25 over item
 * titles (the query is the user's history titles), or any collaborative
 * model through the `Recommender` interface (src/models/types.ts).
 * A retriever scores every item for a user; `retrieveCandidates` takes the
 * best items outside the history.
 */
import type { SplitDataset } from '../../data/types.js';
import type { Recommender } from '../../models/types.js';
import { itemTitle } from '../text_lm/corpus.js';

export interface Retriever {
  readonly name: string;
  /** Scores of every item for the user with this history (oldest first): [numItems + 1], index 0 unused. */
  scores(user: number, history: readonly number[]): Float64Array;
}

/** Pop: occurrences of each item in the training sequences. */
export function popRetriever(data: SplitDataset): Retriever {
  const counts = new Float64Array(data.numItems + 1);
  for (const s of data.trainSeqs) for (const it of s) counts[it]++;
  counts[0] = -Infinity;
  return { name: 'pop', scores: () => counts.slice() };
}

/** Lowercase word tokens (letters and digits). */
export function words(s: string): string[] {
  return s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Options of BM25 (Robertson et al.; the usual k1 = 1.2, b = 0.75). */
export interface Bm25Options {
  k1?: number;
  b?: number;
  /** Text of each item (default its title). */
  text?: (item: number) => string;
}

/**
 * BM25 over item texts; the query is the concatenated titles of the
 * history (repeated words count once per occurrence, as query term frequency).
 */
export function bm25Retriever(data: SplitDataset, o: Bm25Options = {}): Retriever {
  const k1 = o.k1 ?? 1.2;
  const b = o.b ?? 0.75;
  const text = o.text ?? ((i: number) => itemTitle(data, i));
  const N = data.numItems;
  const postings = new Map<string, Array<{ item: number; tf: number }>>();
  const len = new Float64Array(N + 1);
  for (let i = 1; i <= N; i++) {
    const ws = words(text(i));
    len[i] = ws.length;
    const tf = new Map<string, number>();
    for (const w of ws) tf.set(w, (tf.get(w) ?? 0) + 1);
    for (const [w, f] of tf) {
      let p = postings.get(w);
      if (!p) { p = []; postings.set(w, p); }
      p.push({ item: i, tf: f });
    }
  }
  let avg = 0;
  for (let i = 1; i <= N; i++) avg += len[i];
  avg = N > 0 ? avg / N : 1;
  const idf = (df: number) => Math.log(1 + (N - df + 0.5) / (df + 0.5));
  return {
    name: 'bm25',
    scores: (_user, history) => {
      const s = new Float64Array(N + 1);
      s[0] = -Infinity;
      const q = new Map<string, number>();
      for (const h of history) for (const w of words(text(h))) q.set(w, (q.get(w) ?? 0) + 1);
      for (const [w, qf] of q) {
        const p = postings.get(w);
        if (!p) continue;
        const wIdf = idf(p.length);
        for (const { item, tf } of p) s[item] += qf * wIdf * ((tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * len[item]) / Math.max(avg, 1e-9))));
      }
      return s;
    },
  };
}

/** Any fitted collaborative model: `scoreAll` on the history (the last `L` items, left-padded). */
export function recommenderRetriever(rec: Recommender, L: number): Retriever {
  return {
    name: rec.name,
    scores: (user, history) => {
      const h = new Int32Array(L);
      const tail = history.slice(-L);
      h.set(tail, L - tail.length);
      const all = rec.scoreAll({ size: 1, L, user: Int32Array.of(user), history: h });
      return Float64Array.from(all);
    },
  };
}

/**
 * The `count` best items by `scores` outside `exclude` (ties by item id,
 * ascending); fewer when the catalogue is smaller.
 */
export function topItems(scores: Float64Array, count: number, exclude: ReadonlySet<number>): number[] {
  const items: number[] = [];
  for (let i = 1; i < scores.length; i++) if (!exclude.has(i) && Number.isFinite(scores[i])) items.push(i);
  items.sort((a, b) => scores[b] - scores[a] || a - b);
  return items.slice(0, count);
}
