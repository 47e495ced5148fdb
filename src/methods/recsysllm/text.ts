/**
 * RecSysLLM textualisation (docs/METHODS.md §7): user features and behaviour
 * sequences become sentences whose item titles and attribute values are
 * marked as entities. Encoding keeps, for every token, the entity it belongs
 * to (-1 outside entities) and its sentence, which the entity-aware masking
 * and the 2-D positions need.
 *
 * Entities are always encoded on their own (no leading space) and truncated
 * to `maxEntityTokens`, so an item has exactly one token sequence wherever it
 * appears: in documents, in prompts, in targets and in the inference trie.
 */
import type { ItemMeta } from '../../data/types.js';
import type { UniformSource } from '../../lm/objectives.js';
import { escapeItemText } from '../prompt_text.js';
import type { BehaviourSampling } from '../../config/recsysllm.js';

export { checkBehaviourSampling, DEFAULT_BEHAVIOUR_SAMPLING, type BehaviourSampling } from '../../config/recsysllm.js';

/** A piece of text; `entity` marks an item title or an attribute value (one unit for masking). */
export interface Segment { text: string; entity: boolean }
export type Sentence = Segment[];

/** A document as tokens with, per token, its entity (-1: none) and its sentence. */
export interface EncodedDoc {
  ids: number[];
  entity: number[];
  sentence: number[];
}

/**
 * Samples behaviours from a chronological history: its long-term part
 * [0, a), medium-term part [a, b) and short-term (most recent) part [b, n)
 * give shares[0..2] of the `size` items (largest-remainder rounding; a part
 * that is too small passes its surplus to the more recent parts, then to
 * older ones). The sample keeps chronological order. A history of at most
 * `size` items is returned whole.
 */
export function sampleBehaviours(history: ArrayLike<number>, s: BehaviourSampling, rng: UniformSource): number[] {
  const n = history.length;
  if (n <= s.size) return Array.from(history);
  const cut1 = Math.round(n * s.splits[0]);
  const cut2 = Math.max(cut1, Math.round(n * s.splits[1]));
  const parts: Array<[number, number]> = [[0, cut1], [cut1, cut2], [cut2, n]];
  const raw = s.shares.map((x) => x * s.size);
  const want = raw.map(Math.floor);
  let left = s.size - want.reduce((a, b) => a + b, 0);
  const order = [0, 1, 2].sort((x, y) => (raw[y] - want[y]) - (raw[x] - want[x]) || y - x);
  for (const p of order) { if (left === 0) break; want[p]++; left--; }
  // Move what a part cannot give: first to more recent parts, then older ones.
  for (let p = 0; p < 3; p++) {
    const cap = parts[p][1] - parts[p][0];
    if (want[p] > cap) {
      let extra = want[p] - cap;
      want[p] = cap;
      for (const q of [p + 1, p + 2, p - 1, p - 2]) {
        if (q < 0 || q > 2 || extra === 0) continue;
        const room = parts[q][1] - parts[q][0] - want[q];
        const take = Math.min(room, extra);
        want[q] += take;
        extra -= take;
      }
    }
  }
  const picked: number[] = [];
  for (let p = 0; p < 3; p++) {
    const [lo, hi] = parts[p];
    const idx = Array.from({ length: hi - lo }, (_, i) => lo + i);
    for (let k = 0; k < want[p]; k++) {
      const j = k + Math.floor(rng.next() * (idx.length - k));
      [idx[k], idx[j]] = [idx[j], idx[k]];
    }
    picked.push(...idx.slice(0, want[p]));
  }
  picked.sort((x, y) => x - y);
  return picked.map((i) => history[i]);
}

export interface TextualiseOptions {
  /** Item attribute keys written after the title as entities (e.g. ['genres']); default none. */
  itemAttributes: string[];
}

/** The entity text of an item: its title, or a placeholder naming the id when it has none; escaped (escapeItemText, src/methods/prompt_text.ts). */
export function itemTitle(meta: ItemMeta | undefined, item: number): string {
  const t = meta?.title.trim();
  return t ? escapeItemText(t) : `item ${item}`;
}

/** One behaviour as a sentence: "Bought <title> (<attr>, <attr>)." with the title and values as entities. */
export function behaviourSentence(item: number, meta: ItemMeta | undefined, first: boolean, o: TextualiseOptions): Sentence {
  const s: Sentence = [{ text: first ? 'Bought ' : ' Then bought ', entity: false }, { text: itemTitle(meta, item), entity: true }];
  const values = o.itemAttributes.map((k) => meta?.attributes[k]).filter((v): v is string => !!v && v.trim() !== '');
  if (values.length > 0) {
    s.push({ text: ' (', entity: false });
    values.forEach((v, i) => {
      if (i > 0) s.push({ text: ', ', entity: false });
      s.push({ text: escapeItemText(v.trim()), entity: true });
    });
    s.push({ text: ')', entity: false });
  }
  s.push({ text: '.', entity: false });
  return s;
}

/** User features as a sentence ("User profile: age 25, occupation writer.", values as entities). */
export function profileSentence(features: Record<string, string>): Sentence | null {
  const keys = Object.keys(features).filter((k) => features[k].trim() !== '');
  if (keys.length === 0) return null;
  const s: Sentence = [{ text: 'User profile: ', entity: false }];
  keys.forEach((k, i) => {
    s.push({ text: `${i > 0 ? ', ' : ''}${k} `, entity: false });
    s.push({ text: features[k].trim(), entity: true });
  });
  s.push({ text: '.', entity: false });
  return s;
}

/** A user's document: the profile sentence (when features are known) and one sentence per behaviour. */
export function userDocument(items: readonly number[], meta: ReadonlyMap<number, ItemMeta>, o: TextualiseOptions, features?: Record<string, string>): Sentence[] {
  const doc: Sentence[] = [];
  const p = features ? profileSentence(features) : null;
  if (p) doc.push(p);
  items.forEach((it, i) => doc.push(behaviourSentence(it, meta.get(it), i === 0, o)));
  return doc;
}

/**
 * Token encoder with a per-text cache (titles repeat across documents):
 * entities are cut to `maxEntityTokens`.
 */
export class SegmentEncoder {
  private readonly cache = new Map<string, number[]>();
  constructor(private readonly encode: (text: string) => number[], readonly maxEntityTokens = 24) {
    if (!Number.isInteger(maxEntityTokens) || maxEntityTokens < 1) throw new Error(`maxEntityTokens must be an integer >= 1, got ${maxEntityTokens}`);
  }

  tokens(seg: Segment): number[] {
    const key = (seg.entity ? 'E' : 'T') + seg.text;
    let ids = this.cache.get(key);
    if (!ids) {
      ids = this.encode(seg.text);
      if (seg.entity && ids.length > this.maxEntityTokens) ids = ids.slice(0, this.maxEntityTokens);
      if (this.cache.size > 200_000) this.cache.clear();
      this.cache.set(key, ids);
    }
    return ids;
  }

  /** Encodes sentences; entities are numbered in order of appearance. Empty segments are skipped. */
  document(doc: readonly Sentence[]): EncodedDoc {
    const out: EncodedDoc = { ids: [], entity: [], sentence: [] };
    let e = 0;
    doc.forEach((sent, si) => {
      for (const seg of sent) {
        const ids = this.tokens(seg);
        if (ids.length === 0) continue;
        for (const id of ids) {
          out.ids.push(id);
          out.entity.push(seg.entity ? e : -1);
          out.sentence.push(si);
        }
        if (seg.entity) e++;
      }
    });
    return out;
  }
}

/**
 * Cuts a document to at most `maxTokens` by dropping whole sentences: the
 * first (profile) sentence is kept when `keepFirst`, then the most recent
 * sentences that fit. Sentence and entity numbering restart at 0.
 */
export function fitDocument(doc: readonly Sentence[], enc: SegmentEncoder, maxTokens: number, keepFirst: boolean): EncodedDoc {
  const lens = doc.map((s) => s.reduce((a, seg) => a + enc.tokens(seg).length, 0));
  const keep: number[] = [];
  let used = 0;
  if (keepFirst && doc.length > 0 && lens[0] <= maxTokens) { keep.push(0); used += lens[0]; }
  const recent: number[] = [];
  for (let i = doc.length - 1; i >= (keepFirst ? 1 : 0); i--) {
    if (used + lens[i] > maxTokens) break;
    recent.push(i);
    used += lens[i];
  }
  keep.push(...recent.reverse());
  if (keep.length === 0 && doc.length > 0) {
    // A single sentence longer than the limit: keep its head.
    const e = enc.document([doc[doc.length - 1]]);
    return { ids: e.ids.slice(0, maxTokens), entity: e.entity.slice(0, maxTokens), sentence: e.sentence.slice(0, maxTokens) };
  }
  return enc.document(keep.map((i) => doc[i]));
}
