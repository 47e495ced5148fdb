/**
 * GLM-style autoregressive blank infilling made entity-aware (docs/METHODS.md §7).
 *
 * Masking works on *units*: with `entityAware`, an entity's tokens form one
 * unit, so no span ever splits an item title or an attribute value; without
 * it (the ablation, plain GLM), every token is a unit. Three levels:
 *
 *   entity   [M]   spans of units with Poisson(lambda) lengths until `ratio` of the tokens is covered
 *   sentence [sM]  whole sentences until `ratio` of the tokens is covered
 *   document [gM]  one span covering the last 50-100% of the tokens
 *
 * The example: Part A is the corrupted text (each span replaced by its mask
 * token); Part B holds, for each span *in chronological order*, [S] followed
 * by the span, predicting the span and then [E]. 2-D positions:
 *
 *   inter  Part A: the token's index in Part A; Part B: the index of its span's mask
 *   intra  Part A: 0 outside entities, 1..n inside an entity (entity-aware only, else 0);
 *          Part B: 1..len(span)+1 counting the [S] token
 *
 * Part A is attended bidirectionally, Part B causally (prefixLength = |A|).
 */
import { IGNORE_INDEX } from '../../lm/loss.js';
import type { UniformSource } from '../../lm/objectives.js';
import type { EncodedDoc } from './text.js';
import type { MaskingOptions } from '../../config/recsysllm.js';

export { checkMasking, DEFAULT_MASKING, type MaskingOptions } from '../../config/recsysllm.js';

export type MaskLevel = 'entity' | 'sentence' | 'document';
export const MASK_LEVELS: readonly MaskLevel[] = ['entity', 'sentence', 'document'];

/** The token ids the infilling format needs. */
export interface GlmTokens {
  /** [M], [sM], [gM]. */
  mask: number;
  sentenceMask: number;
  gMask: number;
  /** Start and end of a predicted span ([S], [E]). */
  start: number;
  end: number;
  pad: number;
}

/** A masked span: token range [start, end) of the document. */
export interface Span { start: number; end: number }

/** One training or inference sequence in the infilling format. */
export interface GlmExample {
  ids: number[];
  inter: number[];
  intra: number[];
  /** Label per position (the next token of Part B; IGNORE_INDEX elsewhere). */
  labels: number[];
  /** Length of Part A (bidirectional). */
  prefix: number;
}

/** Unit boundaries: [start, end) token ranges; an entity is one unit when entity-aware. */
export function units(doc: EncodedDoc, entityAware: boolean): Span[] {
  const out: Span[] = [];
  let i = 0;
  const n = doc.ids.length;
  while (i < n) {
    let j = i + 1;
    if (entityAware && doc.entity[i] >= 0) while (j < n && doc.entity[j] === doc.entity[i]) j++;
    out.push({ start: i, end: j });
    i = j;
  }
  return out;
}

function poisson(lambda: number, rng: UniformSource): number {
  // Knuth's method (lambda is small).
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do { k++; p *= rng.next(); } while (p > l && k < 1000);
  return k - 1;
}

/**
 * Entity-level spans: Poisson span lengths (in units, at least 1) until the
 * lengths cover `ratio` of the tokens, then placed left to right with random
 * gaps of at least one unit between spans.
 */
export function entitySpans(doc: EncodedDoc, o: MaskingOptions, rng: UniformSource): Span[] {
  const us = units(doc, o.entityAware);
  const U = us.length;
  if (U === 0) return [];
  const target = Math.max(1, Math.round(o.ratio * doc.ids.length));
  // Draw span lengths (in units) whose token coverage reaches the target; the
  // token count of a span is only known once placed, so use the mean unit size.
  const meanUnit = doc.ids.length / U;
  const lens: number[] = [];
  let covered = 0;
  while (covered < target) {
    const len = Math.max(1, poisson(o.poissonLambda, rng));
    lens.push(len);
    covered += len * meanUnit;
  }
  // At least one unit stays visible and spans are separated by >= 1 unit.
  while (lens.length > 0 && lens.reduce((a, b) => a + b, 0) + lens.length - 1 > U - 1) {
    const last = lens.length - 1;
    if (lens[last] > 1) lens[last]--; else lens.pop();
  }
  if (lens.length === 0) lens.push(1);
  const used = lens.reduce((a, b) => a + b, 0) + lens.length - 1;
  let free = Math.max(0, U - used);
  // Spread the free units over the n + 1 gaps uniformly.
  const gaps = new Array<number>(lens.length + 1).fill(0);
  while (free > 0) { gaps[Math.floor(rng.next() * gaps.length)]++; free--; }
  const spans: Span[] = [];
  let u = gaps[0];
  lens.forEach((len, k) => {
    spans.push({ start: us[u].start, end: us[Math.min(U, u + len) - 1].end });
    u += len + 1 + gaps[k + 1];
  });
  return spans;
}

/** Sentence-level spans: whole sentences (random order of choice) until `ratio` of the tokens; at least one, never all. */
export function sentenceSpans(doc: EncodedDoc, o: MaskingOptions, rng: UniformSource): Span[] {
  const sents: Span[] = [];
  for (let i = 0; i < doc.ids.length;) {
    let j = i + 1;
    while (j < doc.ids.length && doc.sentence[j] === doc.sentence[i]) j++;
    sents.push({ start: i, end: j });
    i = j;
  }
  if (sents.length === 0) return [];
  const order = sents.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const target = o.ratio * doc.ids.length;
  const chosen: number[] = [];
  let covered = 0;
  for (const i of order) {
    if (covered >= target || (chosen.length > 0 && chosen.length === sents.length - 1)) break;
    chosen.push(i);
    covered += sents[i].end - sents[i].start;
  }
  return chosen.sort((a, b) => a - b).map((i) => sents[i]);
}

/** Document-level span: the last share f ~ U(range) of the tokens, starting on a unit boundary. */
export function documentSpan(doc: EncodedDoc, o: MaskingOptions, rng: UniformSource): Span[] {
  const n = doc.ids.length;
  if (n === 0) return [];
  const f = o.documentRange[0] + rng.next() * (o.documentRange[1] - o.documentRange[0]);
  const want = Math.max(1, Math.round(f * n));
  // Latest unit start s with n - s >= want (the span covers at least `want` tokens).
  const us = units(doc, o.entityAware);
  let start = 0;
  for (const u of us) if (n - u.start >= want) start = u.start;
  return [{ start, end: n }];
}

export function pickLevel(o: MaskingOptions, rng: UniformSource): MaskLevel {
  const total = o.levelWeights.reduce((a, b) => a + b, 0);
  let u = rng.next() * total;
  for (let i = 0; i < 3; i++) {
    u -= o.levelWeights[i];
    if (u < 0) return MASK_LEVELS[i];
  }
  return MASK_LEVELS[2];
}

export function spansFor(doc: EncodedDoc, level: MaskLevel, o: MaskingOptions, rng: UniformSource): Span[] {
  if (level === 'entity') return entitySpans(doc, o, rng);
  if (level === 'sentence') return sentenceSpans(doc, o, rng);
  return documentSpan(doc, o, rng);
}

export function maskTokenOf(level: MaskLevel, t: GlmTokens): number {
  return level === 'entity' ? t.mask : level === 'sentence' ? t.sentenceMask : t.gMask;
}

/**
 * Builds the infilling sequence of a document and its spans (sorted, not
 * overlapping). Spans are predicted in chronological order.
 */
export function infillingExample(doc: EncodedDoc, spans: readonly Span[], maskToken: number, t: GlmTokens, entityAware: boolean): GlmExample {
  const ex: GlmExample = { ids: [], inter: [], intra: [], labels: [], prefix: 0 };
  const maskPos: number[] = [];
  let i = 0;
  let s = 0;
  const n = doc.ids.length;
  const spanAt = (i: number) => s < spans.length && spans[s].start === i;
  while (i < n || spanAt(i)) {
    if (spanAt(i)) {
      if (spans[s].end < spans[s].start) throw new Error('infillingExample: a span ends before it starts');
      if (s > 0 && spans[s].start < spans[s - 1].end) throw new Error('infillingExample: spans overlap or are not sorted');
      maskPos.push(ex.ids.length);
      ex.ids.push(maskToken);
      i = spans[s].end;
      s++;
      continue;
    }
    ex.ids.push(doc.ids[i]);
    i++;
  }
  if (s !== spans.length) throw new Error('infillingExample: a span lies outside the document or spans are not sorted');
  // Part A positions and entity intra-positions.
  let pa = 0;
  s = 0;
  i = 0;
  let prevEntity = -1;
  let k = 0;
  while (i < n || spanAt(i)) {
    if (spanAt(i)) {
      ex.inter.push(pa++); ex.intra.push(0); i = spans[s].end; s++; prevEntity = -1; continue;
    }
    const e = doc.entity[i];
    if (entityAware && e >= 0) { k = e === prevEntity ? k + 1 : 1; prevEntity = e; } else { k = 0; prevEntity = -1; }
    ex.inter.push(pa++);
    ex.intra.push(entityAware && e >= 0 ? k : 0);
    i++;
  }
  ex.prefix = ex.ids.length;
  for (let q = 0; q < ex.prefix; q++) ex.labels.push(IGNORE_INDEX);
  spans.forEach((sp, q) => {
    const toks = doc.ids.slice(sp.start, sp.end);
    const inputs = [t.start, ...toks];
    const targets = [...toks, t.end];
    inputs.forEach((id, j) => {
      ex.ids.push(id);
      ex.inter.push(maskPos[q]);
      ex.intra.push(j + 1);
      ex.labels.push(targets[j]);
    });
  });
  return ex;
}

/** Masks a document at a random level (or the given one) and builds its example. */
export function corruptDocument(doc: EncodedDoc, o: MaskingOptions, t: GlmTokens, rng: UniformSource, level?: MaskLevel): { example: GlmExample; level: MaskLevel; spans: Span[] } {
  const lv = level ?? pickLevel(o, rng);
  const spans = spansFor(doc, lv, o, rng);
  return { example: infillingExample(doc, spans, maskTokenOf(lv, t), t, o.entityAware), level: lv, spans };
}

/** Right-pads examples into one batch (pad: attention 0, inter/intra 0, label ignored). */
export function padExamples(exs: readonly GlmExample[], pad: number): {
  ids: Int32Array; inter: Int32Array; intra: Int32Array; labels: Int32Array; attention: Uint8Array; prefix: Int32Array; B: number; T: number;
} {
  const B = exs.length;
  const T = Math.max(1, ...exs.map((e) => e.ids.length));
  const ids = new Int32Array(B * T).fill(pad);
  const inter = new Int32Array(B * T);
  const intra = new Int32Array(B * T);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  const attention = new Uint8Array(B * T);
  const prefix = new Int32Array(B);
  exs.forEach((e, b) => {
    ids.set(e.ids, b * T);
    inter.set(e.inter, b * T);
    intra.set(e.intra, b * T);
    labels.set(e.labels, b * T);
    attention.fill(1, b * T, b * T + e.ids.length);
    prefix[b] = e.prefix;
  });
  return { ids, inter, intra, labels, attention, prefix, B, T };
}
