/**
 * Text corpora for language models, built from a split dataset without
 * leaking evaluation interactions: item sentences (title + attributes, item
 * metadata) and each user's *training* history (the sequence minus its
 * validation and test items) rendered as a list of titles, and (reviewDocs)
 * the review text of training interactions only: a review of a user's
 * validation or test item is never included.
 */
import type { SplitDataset } from '../../data/types.js';
import { Mulberry32, mixSeed } from '../../util/random.js';
import { itemSentence } from '../../data/item_text.js';
import { reviewOf } from '../../data/reviews.js';

export interface CorpusOptions {
  /** One document per item: its sentence (default true). */
  itemDocs?: boolean;
  /** Documents of consecutive training-history titles (default true). */
  historyDocs?: boolean;
  /** Titles per history document (longer histories are cut into chunks; default 10). */
  itemsPerDoc?: number;
  /** Max characters of one title (default 120). */
  maxTitleChars?: number;
  /** One document per reviewed training interaction: title, summary, review text (default false; the small LM turns it on). */
  reviewDocs?: boolean;
  /** Max characters of one review body (default 400). */
  maxReviewChars?: number;
}

/** Documents of each kind in a corpus (for the LM report's budget). */
export interface CorpusCounts {
  items: number;
  histories: number;
  reviews: number;
}

/** Joins history titles; a prompt ends with the separator so the next title follows it. */
export const TITLE_SEPARATOR = '\n';

export function itemTitle(data: SplitDataset, item: number, maxChars = 120): string {
  const meta = data.itemMeta.get(item);
  const t = (meta?.title ?? '').replace(/\s+/g, ' ').trim() || `item ${data.itemIds[item]}`;
  return t.length > maxChars ? t.slice(0, maxChars).trimEnd() : t;
}

/** The prompt before a next-title prediction: the history's titles, each followed by the separator. */
export function historyPrompt(data: SplitDataset, history: ArrayLike<number>, maxChars = 120): string {
  let s = '';
  for (let i = 0; i < history.length; i++) if (history[i] > 0) s += itemTitle(data, history[i], maxChars) + TITLE_SEPARATOR;
  return s;
}

/** Training documents (train split only). */
export function buildCorpus(data: SplitDataset, opts: CorpusOptions = {}, counts?: CorpusCounts): string[] {
  const docs: string[] = [];
  const c: CorpusCounts = counts ?? { items: 0, histories: 0, reviews: 0 };
  const maxChars = opts.maxTitleChars ?? 120;
  if (opts.itemDocs ?? true) {
    for (let i = 1; i <= data.numItems; i++) {
      const meta = data.itemMeta.get(i);
      docs.push(meta ? itemSentence(meta, { maxValueLength: 200 }) : itemTitle(data, i, maxChars));
      c.items++;
    }
  }
  if (opts.historyDocs ?? true) {
    const per = Math.max(1, opts.itemsPerDoc ?? 10);
    for (const seq of data.trainSeqs) {
      for (let s = 0; s < seq.length; s += per) {
        const chunk = seq.subarray(s, Math.min(seq.length, s + per));
        if (chunk.length > 0) { docs.push(historyPrompt(data, chunk, maxChars)); c.histories++; }
      }
    }
  }
  if (opts.reviewDocs && data.reviews) {
    const maxReview = opts.maxReviewChars ?? 400;
    data.trainSeqs.forEach((seq, u) => {
      const full = data.sequences[u];
      // The validation and test items (the last two of the full sequence): their reviews may describe the held-out interaction.
      const heldOut = new Set(Array.from(full.subarray(Math.max(0, full.length - 2))));
      for (const item of seq) {
        if (heldOut.has(item)) continue;
        const r = reviewOf(data, u, item);
        if (!r) continue;
        const body = r.text.replace(/\s+/g, ' ').trim();
        const doc = [itemTitle(data, item, maxChars), r.summary.trim(), body.length > maxReview ? body.slice(0, maxReview).trimEnd() : body].filter((x) => x).join('\n');
        docs.push(doc);
        c.reviews++;
      }
    });
  }
  return docs.filter((d) => d.length > 0);
}

/**
 * Splits documents into train / held-out: a seeded shuffle (stream `salt` of
 * `seed`) picks round(n * fraction) held-out documents; both parts keep the
 * input order.
 */
export function splitDocuments(docs: readonly string[], fraction: number, seed: number, salt: number): { train: string[]; heldOut: string[] } {
  const idx = docs.map((_, i) => i);
  const rng = new Mulberry32(mixSeed(seed, salt));
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const held = new Set(idx.slice(0, Math.round(docs.length * fraction)));
  return { train: docs.filter((_, i) => !held.has(i)), heldOut: docs.filter((_, i) => held.has(i)) };
}
