/**
 * BIGRec's first step, grounding to the recommendation space: the LM is
 * fine-tuned to generate the next item's title after the history prompt
 * (docs/LLM.md "BIGRec"). An example is (prompt ids, target ids) with the
 * prompt = the history's titles, each followed by the separator (the small
 * LM's own document format, src/methods/text_lm/corpus.ts) and the target =
 * the next title + the separator. The loss is the causal LM loss on the
 * target tokens only (prompt and padding labels ignored, src/lm/loss.ts).
 *
 * Training runs on the one loop through `pretrain` (src/lm/pretrain.ts):
 * its blocks are references to examples (blockSize 1, as RecSysLLM's
 * fine-tuning), so the seeded batch order, warmup + cosine, checkpoints and
 * exact resume are the loop's. Examples are windows of the TRAINING
 * sequences only (no validation or test item is a target or in a prompt).
 */
import { tf } from '../../engine/index.js';
import type { SplitDataset } from '../../data/types.js';
import type { CausalLM } from '../../lm/families/decoder.js';
import { IGNORE_INDEX, maskedCrossEntropy } from '../../lm/loss.js';
import type { Objective } from '../../lm/pretrain.js';
import { Mulberry32, mixSeed } from '../../util/random.js';
import { itemTitle, TITLE_SEPARATOR } from '../text_lm/corpus.js';

export interface Example {
  prompt: number[];
  target: number[];
}

export interface PromptCodec {
  /** Ids of a text without special tokens. */
  encode: (text: string) => number[];
  /** Ids every prompt starts with (e.g. bos), may be empty. */
  startIds: number[];
  /** Ids of the title separator. */
  sepIds: number[];
  titleChars: number;
  maxPromptTokens: number;
}

/** Title ids of an item (no separator), cached by the caller. */
export function titleIds(data: SplitDataset, item: number, c: PromptCodec): number[] {
  return c.encode(itemTitle(data, item, c.titleChars));
}

/**
 * Prompt ids of a history (oldest first, 0 = padding skipped): start ids, then
 * each title + separator; the oldest titles are dropped while it exceeds
 * `maxPromptTokens` (at least the last one is kept, cut from the left if it
 * alone is too long). An empty history gives the start ids + separator.
 */
export function promptIds(history: ArrayLike<number>, title: (item: number) => number[], c: PromptCodec): number[] {
  const parts: number[][] = [];
  for (let i = 0; i < history.length; i++) if (history[i] > 0) parts.push([...title(history[i]), ...c.sepIds]);
  let total = parts.reduce((a, p) => a + p.length, 0);
  while (parts.length > 1 && c.startIds.length + total > c.maxPromptTokens) total -= parts.shift()!.length;
  let body = parts.flat();
  if (body.length === 0) body = [...c.sepIds];
  const room = Math.max(1, c.maxPromptTokens - c.startIds.length);
  if (body.length > room) body = body.slice(body.length - room);
  return [...c.startIds, ...body];
}

/**
 * Up to `max` training examples: every (last `H` items -> next item) window
 * of the training sequences with at least one history item, a seeded sample
 * when there are more.
 */
export function trainingExamples(data: SplitDataset, H: number, max: number, seed: number, title: (item: number) => number[], c: PromptCodec): Example[] {
  const windows: Array<[number, number]> = [];
  data.trainSeqs.forEach((seq, u) => { for (let i = 1; i < seq.length; i++) windows.push([u, i]); });
  const rng = new Mulberry32(mixSeed(seed, 31));
  for (let i = windows.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [windows[i], windows[j]] = [windows[j], windows[i]];
  }
  return windows.slice(0, max).map(([u, i]) => {
    const seq = data.trainSeqs[u];
    return { prompt: promptIds(seq.subarray(Math.max(0, i - H), i), title, c), target: [...title(seq[i]), ...c.sepIds] };
  });
}

/** A right-padded batch of examples: ids [B * T] and labels (target tokens only, IGNORE_INDEX elsewhere), shifted for next-token prediction. */
export function exampleBatch(examples: readonly Example[], pad: number): { ids: Int32Array; labels: Int32Array; mask: Float32Array; B: number; T: number } {
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.prompt.length + e.target.length));
  const ids = new Int32Array(B * T).fill(pad);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  const mask = new Float32Array(B * T);
  examples.forEach((e, b) => {
    const row = [...e.prompt, ...e.target];
    ids.set(row, b * T);
    mask.fill(1, b * T, b * T + row.length);
    // Position t predicts token t + 1: the labels of the positions before each target token.
    for (let k = 0; k < e.target.length; k++) labels[b * T + e.prompt.length - 1 + k] = e.target[k];
  });
  return { ids, labels, mask, B, T };
}

/** The objective over example references (blocks of one id: the example's index). */
export function nextTitleObjective(examples: readonly Example[], pad: number): Objective<CausalLM> {
  return {
    name: 'bigrec-next-title',
    loss: (model, refs, B, _T, _step, training) => {
      const batch = exampleBatch(Array.from(refs.subarray(0, B), (r) => examples[r]), pad);
      const { logits } = model.forward({ inputIds: batch.ids, batch: batch.B, attentionMask: batch.mask, training });
      return maskedCrossEntropy(logits, batch.labels);
    },
  };
}

/** Mean target-token loss of examples (no gradient), in batches. */
export function examplesLoss(model: CausalLM, examples: readonly Example[], pad: number, batch = 16): number {
  let sum = 0;
  let n = 0;
  for (let s = 0; s < examples.length; s += batch) {
    const g = examples.slice(s, s + batch);
    const b = exampleBatch(g, pad);
    const tokens = g.reduce((a, e) => a + e.target.length, 0);
    sum += tf.tidy(() => maskedCrossEntropy(model.forward({ inputIds: b.ids, batch: b.B, attentionMask: b.mask }).logits, b.labels).dataSync()[0]) * tokens;
    n += tokens;
  }
  return n ? sum / n : NaN;
}

export { TITLE_SEPARATOR };
