/**
 * Helpers for user-written review text (types.ts `ReviewText`), the input of
 * P5-style explanation generation and review summarisation tasks.
 *
 *   reviewKey(user, item)   key of SplitDataset.reviews (split indices)
 *   splitSentences(text)    the sentences of a review body
 *   explanationOf(review)   the explanation target: the first sentence that
 *                           mentions the feature word, else the first sentence
 */
import type { ReviewText, SplitDataset } from './types.js';

export type { ReviewText } from './types.js';

/** Key of SplitDataset.reviews: `${user}:${item}` (user 0..numUsers-1, item 1..numItems). */
export function reviewKey(user: number, item: number): string {
  return `${user}:${item}`;
}

/** The review of (user, item) in a split dataset, or undefined (no text, or the dataset has none). */
export function reviewOf(data: Pick<SplitDataset, 'reviews'>, user: number, item: number): ReviewText | undefined {
  return data.reviews?.get(reviewKey(user, item));
}

/**
 * The sentences of a text: split after '.', '!' or '?' followed by white
 * space (so "3.5 kg" stays whole), trimmed, empty ones dropped.
 */
export function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * The explanation target of a review (P5's explanation generation): the first
 * sentence of `text` containing `feature` (case-insensitive), else the first
 * sentence; '' for an empty text. For the synthetic shop this is always the
 * first sentence, which contains the feature word verbatim.
 */
export function explanationOf(r: ReviewText): string {
  const sentences = splitSentences(r.text);
  if (sentences.length === 0) return '';
  const f = r.feature?.trim().toLowerCase();
  if (f) {
    const hit = sentences.find((s) => s.toLowerCase().includes(f));
    if (hit !== undefined) return hit;
  }
  return sentences[0];
}
