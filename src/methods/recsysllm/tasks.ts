/**
 * P5-style multi-task prompts for RecSysLLM (docs/METHODS.md §7): five families
 * (rating prediction, sequential recommendation, direct recommendation,
 * explanation generation, review summarisation), several templates each,
 * some held out ("unseen") for zero-shot evaluation. A template is text
 * with slots; its `{answer}` slot is the blank the model fills, so a prompt
 * is an infilling example with one span (entity answers behind [M], free
 * text behind [gM]).
 *
 * Training instances come from the training part of each sequence only
 * (position k predicts item k from the items before it); evaluation
 * instances use the test target, with the training sequence and the
 * validation target as history.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { RawDataset, ReviewText, SplitDataset } from '../../data/types.js';
import { explanationOf, reviewKey } from '../../data/reviews.js';
import { IGNORE_INDEX } from '../../lm/loss.js';
import { Mulberry32, mixSeed } from '../../util/random.js';
import { parseWith } from '../../util/validate.js';
import { type GlmExample, type GlmTokens, infillingExample } from './masking.js';
import { type EncodedDoc, itemTitle, type Segment, type SegmentEncoder } from './text.js';
import { escapeItemText } from '../prompt_text.js';
import { FAMILIES, type Family, type PromptOptions } from '../../config/recsysllm.js';

export { DEFAULT_PROMPT, FAMILIES, type Family, type PromptOptions } from '../../config/recsysllm.js';


export const FAMILY_LABELS: Record<Family, string> = {
  rating: 'rating prediction', sequential: 'sequential recommendation', direct: 'direct recommendation',
  explanation: 'explanation generation', review: 'review summarisation',
};

const SLOTS = ['history', 'item', 'feature', 'review', 'answer'] as const;

const FamilyTemplates = z.strictObject({ seen: z.array(z.string().min(1)).min(1), unseen: z.array(z.string().min(1)).default([]) });
export const TaskTemplatesSchema = z.strictObject({
  description: z.string().optional(),
  families: z.strictObject({
    rating: FamilyTemplates, sequential: FamilyTemplates, direct: FamilyTemplates, explanation: FamilyTemplates, review: FamilyTemplates,
  }),
});
export type TaskTemplates = z.output<typeof TaskTemplatesSchema>;

/** Checks slots: exactly one {answer}, only known slots, and what each family needs. */
export function checkTemplate(family: Family, t: string, where: string): void {
  const slots = [...t.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  for (const s of slots) if (!(SLOTS as readonly string[]).includes(s)) throw new Error(`${where}: unknown slot {${s}} (known: ${SLOTS.map((x) => `{${x}}`).join(', ')})`);
  if (slots.filter((s) => s === 'answer').length !== 1) throw new Error(`${where}: a template needs exactly one {answer}`);
  if ((family === 'rating' || family === 'explanation') && !slots.includes('item')) throw new Error(`${where}: a ${family} template needs {item}`);
  if (family === 'review' && !slots.includes('review')) throw new Error(`${where}: a review template needs {review}`);
  if ((family === 'sequential' || family === 'direct') && !slots.includes('history')) throw new Error(`${where}: a ${family} template needs {history}`);
}

export function parseTaskTemplates(json: unknown, source: string): TaskTemplates {
  const parsed = parseWith(TaskTemplatesSchema, json, 'invalid task templates', source);
  for (const f of FAMILIES) {
    const ft = parsed.families[f];
    ft.seen.forEach((t, i) => checkTemplate(f, t, `${source}: families.${f}.seen[${i}]`));
    ft.unseen.forEach((t, i) => checkTemplate(f, t, `${source}: families.${f}.unseen[${i}]`));
  }
  return parsed;
}

export function loadTaskTemplates(path: string): TaskTemplates {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseTaskTemplates(json, path);
}

/** One task question: the user, the item it is about, the history before it, and what the answer is. */
export interface TaskInstance {
  family: Family;
  user: number;
  /** The item asked about, or the target of a recommendation. */
  item: number;
  /** Items before it, oldest first. */
  history: number[];
  rating?: number;
  review?: ReviewText;
}

/** Ratings of the split's (user, item) pairs from the raw rows (the last one in time order wins). */
export function ratingsOf(raw: RawDataset, data: SplitDataset): Map<string, number> {
  const out = new Map<string, number>();
  if (!raw.rating) return out;
  const users = new Map(data.userIds.map((u, i) => [u, i]));
  const items = new Map(data.itemIds.map((it, i) => [it, i]));
  const order = Array.from({ length: raw.user.length }, (_, i) => i);
  if (raw.time) { const t = raw.time; order.sort((a, b) => t[a] - t[b] || a - b); }
  for (const r of order) {
    const u = users.get(raw.userIds[raw.user[r]]);
    const i = items.get(raw.itemIds[raw.item[r]]);
    if (u !== undefined && i !== undefined && i > 0) out.set(reviewKey(u, i), raw.rating[r]);
  }
  return out;
}

/** What the task builders read from a dataset. */
export interface TaskData {
  data: SplitDataset;
  ratings: Map<string, number>;
}

/** Which families a dataset can serve, and why not the others. */
export function familySupport(t: TaskData): Record<Family, string | null> {
  const hasRatings = t.ratings.size > 0;
  const hasReviews = (t.data.reviews?.size ?? 0) > 0;
  return {
    rating: hasRatings ? null : 'the data has no ratings',
    sequential: null,
    direct: t.data.test.numNegatives > 0 ? null : 'the split has no sampled negatives',
    explanation: hasReviews ? null : 'the data has no review text',
    review: hasReviews ? null : 'the data has no review text',
  };
}

/** Training instance references: [family index, user, position in the training sequence]. */
export function trainingRefs(t: TaskData, families: readonly Family[], maxPerFamily: number, seed: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (const f of families) {
    const fi = FAMILIES.indexOf(f);
    const refs: Array<[number, number]> = [];
    t.data.trainSeqs.forEach((seq, u) => {
      for (let k = 1; k < seq.length; k++) {
        const key = reviewKey(u, seq[k]);
        if (f === 'rating' && !t.ratings.has(key)) continue;
        if ((f === 'explanation' || f === 'review') && !t.data.reviews?.has(key)) continue;
        refs.push([u, k]);
      }
    });
    const rng = new Mulberry32(mixSeed(seed, 31 + fi));
    for (let i = refs.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [refs[i], refs[j]] = [refs[j], refs[i]];
    }
    for (const [u, k] of refs.slice(0, maxPerFamily)) out.push(Int32Array.of(fi, u, k));
  }
  return out;
}

/** The training instance of a reference. */
export function trainingInstance(t: TaskData, ref: ArrayLike<number>): TaskInstance {
  const family = FAMILIES[ref[0]];
  if (!family) throw new Error(`task reference: unknown family index ${ref[0]}`);
  const u = ref[1];
  const k = ref[2];
  const seq = t.data.trainSeqs[u];
  if (!seq || k < 1 || k >= seq.length) throw new Error(`task reference: no training position ${k} for user ${u}`);
  const item = seq[k];
  const key = reviewKey(u, item);
  return { family, user: u, item, history: Array.from(seq.subarray(0, k)), rating: t.ratings.get(key), review: t.data.reviews?.get(key) };
}

/** Evaluation instances of a family on the test split (users that have what the family needs). */
export function testInstances(t: TaskData, family: Family, users: readonly number[]): TaskInstance[] {
  const out: TaskInstance[] = [];
  const d = t.data;
  for (const u of users) {
    const seq = d.sequences[u];
    const item = d.test.target[u];
    if (d.test.user[u] !== u) throw new Error(`test split: row ${u} is user ${d.test.user[u]}; rows must be users in order`);
    const history = Array.from(seq.subarray(0, seq.length - 1));
    const key = reviewKey(u, item);
    const inst: TaskInstance = { family, user: u, item, history, rating: t.ratings.get(key), review: d.reviews?.get(key) };
    if (family === 'rating' && inst.rating === undefined) continue;
    if ((family === 'explanation' || family === 'review') && !inst.review) continue;
    out.push(inst);
  }
  return out;
}

/** The answer text of an instance (item answers are entities). */
export function answerSegment(inst: TaskInstance, meta: SplitDataset['itemMeta']): Segment {
  switch (inst.family) {
    case 'rating':
      if (inst.rating === undefined) throw new Error(`rating instance of user ${inst.user} has no rating`);
      return { text: String(Math.round(inst.rating)), entity: false };
    case 'sequential': case 'direct':
      return { text: itemTitle(meta.get(inst.item), inst.item), entity: true };
    case 'explanation':
      if (!inst.review) throw new Error(`explanation instance of user ${inst.user} has no review`);
      return { text: explanationOf(inst.review), entity: false };
    case 'review':
      if (!inst.review) throw new Error(`review instance of user ${inst.user} has no review`);
      return { text: inst.review.summary, entity: false };
  }
}

/** Whether the family's blank is filled with an item ([M]) or free text ([gM]). */
export function blankToken(family: Family, t: GlmTokens): number {
  return family === 'explanation' || family === 'review' ? t.gMask : t.mask;
}

function splitTemplate(tpl: string): Array<{ slot?: string; text: string }> {
  const out: Array<{ slot?: string; text: string }> = [];
  let last = 0;
  for (const m of tpl.matchAll(/\{(\w+)\}/g)) {
    if (m.index! > last) out.push({ text: tpl.slice(last, m.index) });
    out.push({ slot: m[1], text: '' });
    last = m.index! + m[0].length;
  }
  if (last < tpl.length) out.push({ text: tpl.slice(last) });
  return out;
}

/**
 * Renders an instance with a template into an infilling example with one
 * span (the answer). With `withAnswer` false the span is empty: the example
 * ends at [S] (a decoding prompt). History items are the most recent
 * `historyItems`, fewer when the prompt would exceed its token budget.
 */
export function renderTask(inst: TaskInstance, template: string, enc: SegmentEncoder, meta: SplitDataset['itemMeta'], t: GlmTokens,
  o: PromptOptions, entityAware: boolean, withAnswer = true): GlmExample {
  const answer = answerSegment(inst, meta);
  let answerIds = enc.tokens(answer);
  if (!answer.entity) answerIds = answerIds.slice(0, o.maxAnswerTokens);
  const pieces = splitTemplate(template);
  // Review text and feature are item text: the one escaping rule (src/methods/prompt_text.ts).
  const feature = escapeItemText(inst.review?.feature ?? '');
  const reviewText = inst.review ? escapeItemText(inst.review.text.slice(0, o.maxReviewChars)) : '';
  const build = (nHist: number): { doc: EncodedDoc; start: number } => {
    const segs: Array<Segment | 'answer'> = [];
    for (const p of pieces) {
      if (!p.slot) { segs.push({ text: p.text, entity: false }); continue; }
      switch (p.slot) {
        case 'history': {
          const items = nHist > 0 ? inst.history.slice(-nHist) : [];
          if (items.length === 0) segs.push({ text: 'nothing yet', entity: false });
          items.forEach((it, i) => {
            if (i > 0) segs.push({ text: ', ', entity: false });
            segs.push({ text: itemTitle(meta.get(it), it), entity: true });
          });
          break;
        }
        case 'item': segs.push({ text: itemTitle(meta.get(inst.item), inst.item), entity: true }); break;
        case 'feature': segs.push({ text: feature || 'features', entity: false }); break;
        case 'review': segs.push({ text: reviewText, entity: false }); break;
        case 'answer': segs.push('answer'); break;
      }
    }
    const doc: EncodedDoc = { ids: [], entity: [], sentence: [] };
    let e = 0;
    let start = -1;
    for (const s of segs) {
      if (s === 'answer') { start = doc.ids.length; continue; }
      const ids = enc.tokens(s);
      if (ids.length === 0) continue;
      for (const id of ids) { doc.ids.push(id); doc.entity.push(s.entity ? e : -1); doc.sentence.push(0); }
      if (s.entity) e++;
    }
    return { doc, start };
  };
  let n = Math.min(o.historyItems, inst.history.length);
  let b = build(n);
  while (b.doc.ids.length > o.maxPromptTokens && n > 1) b = build(--n);
  if (b.doc.ids.length > o.maxPromptTokens) throw new Error(`prompt of user ${inst.user} (${inst.family}) needs ${b.doc.ids.length} tokens, more than maxPromptTokens ${o.maxPromptTokens}`);
  // Insert the answer tokens at the blank and make them the one span.
  const { doc, start } = b;
  const ins = withAnswer ? answerIds : [];
  const full: EncodedDoc = {
    ids: [...doc.ids.slice(0, start), ...ins, ...doc.ids.slice(start)],
    entity: [...doc.entity.slice(0, start), ...ins.map(() => (answer.entity ? 1e6 : -1)), ...doc.entity.slice(start)],
    sentence: new Array<number>(doc.ids.length + ins.length).fill(0),
  };
  const ex = infillingExample(full, [{ start, end: start + ins.length }], blankToken(inst.family, t), t, entityAware);
  if (!withAnswer) {
    // Part A + [S]; the [E] label of the empty span is not needed.
    const m = ex.prefix + 1;
    return { ids: ex.ids.slice(0, m), inter: ex.inter.slice(0, m), intra: ex.intra.slice(0, m), labels: new Array<number>(m).fill(IGNORE_INDEX), prefix: ex.prefix };
  }
  return ex;
}

/** Picks a template index for training row `row` of `step` (uniform, seeded). */
export function pickTemplate(n: number, rng: { next(): number }): number {
  return Math.min(n - 1, Math.floor(rng.next() * n));
}
