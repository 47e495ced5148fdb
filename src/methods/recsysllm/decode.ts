/**
 * RecSysLLM inference: the prompt is Part A (with one blank) followed by [S];
 * new tokens take the blank's inter-position and intra-positions that
 * count within the span. With `dynamic` intra-positions (the entity-aware
 * model, docs/METHODS.md §7) the count follows the entity pool: a token that
 * continues an entity prefix of the tokens before it increases the
 * intra-position, any other token restarts it at 1. Generation can be
 * constrained to the trie of real items, and candidate answers can be
 * scored by their log-probability (prefix-shared).
 */
import { tf } from '../../engine/index.js';
import { disposeCache, type KVCache, repeatCache } from '../../lm/families/decoder.js';
import { type Generated, type GenerateOptions, generateWith, lastLogProbs, type Stepper } from '../../lm/generate.js';
import { logProbAt } from '../../lm/score.js';
import type { TokenTrie } from '../../lm/trie.js';
import type { GlmExample } from './masking.js';
import type { RecSysLM } from './model.js';

/**
 * Intra-position of the newest of `generated` (the [S] token is 1 and
 * comes before them). Span mode: 1 + its index in the span. Dynamic mode:
 * follows runs of tokens that are entity prefixes in `trie`.
 */
export function intraPositionOf(generated: readonly number[], mode: 'span' | 'dynamic', trie?: TokenTrie): number {
  const k = generated.length;
  if (mode === 'span' || !trie) return k + 1;
  // The run starts at [S] (intra 1); token j continues it when generated[runStart..j] is a trie prefix.
  let intra = 1;
  let runStart = 0;
  for (let j = 0; j < k; j++) {
    const run = generated.slice(runStart, j + 1);
    if (trie.allowed(run.slice(0, -1)).includes(run[run.length - 1])) {
      intra++;
    } else {
      runStart = j;
      intra = 1;
    }
  }
  return intra;
}

/** A prompt ready for decoding: Part A with one blank, then [S] (from `answerPrompt`). */
export interface DecodePrompt {
  /** Part A + [S]. */
  ids: number[];
  inter: number[];
  intra: number[];
  /** Length of Part A. */
  prefix: number;
  /** Inter-position of the blank (shared by every new token). */
  blank: number;
}

/** Cuts a one-blank infilling example to Part A + [S] (the decoding prompt). */
export function decodePrompt(ex: GlmExample): DecodePrompt {
  const n = ex.prefix + 1;
  if (ex.ids.length < n) throw new Error('decodePrompt: the example has no span');
  return { ids: ex.ids.slice(0, n), inter: ex.inter.slice(0, n), intra: ex.intra.slice(0, n), prefix: ex.prefix, blank: ex.inter[ex.prefix] };
}

export function recSysStepper(model: RecSysLM, p: DecodePrompt, mode: 'span' | 'dynamic', trie?: TokenTrie): Stepper {
  return {
    start: () => {
      const out = model.forward({
        ids: Int32Array.from(p.ids), inter: Int32Array.from(p.inter), intra: Int32Array.from(p.intra), B: 1,
        prefix: [p.prefix], useCache: true, lastLogitsOnly: true,
      });
      const logp = lastLogProbs(out.logits)[0];
      tf.dispose([out.logits, out.hidden]);
      return { cache: out.cache!, nextLogProbs: logp };
    },
    step: (cache: KVCache, generated) => {
      const R = generated.length;
      const out = model.forward({
        ids: Int32Array.from(generated, (g) => g[g.length - 1] ?? 0),
        inter: new Int32Array(R).fill(p.blank),
        intra: Int32Array.from(generated, (g) => Math.min(model.intraPositions - 1, intraPositionOf(g, mode, trie))),
        B: R, cache, useCache: true,
      });
      const logp = lastLogProbs(out.logits);
      tf.dispose([out.logits, out.hidden]);
      return { cache: out.cache!, logp };
    },
  };
}

/** Generates answers for the blank (ending with [E], which `eosTokenId` should name). */
export function generateAnswer(model: RecSysLM, p: DecodePrompt, o: GenerateOptions & { intraMode: 'span' | 'dynamic'; entityTrie?: TokenTrie }): Generated[] {
  return generateWith(recSysStepper(model, p, o.intraMode, o.entityTrie ?? o.trie), o);
}

/**
 * Log-probability of each candidate answer (its tokens, then [E]) in the
 * blank; the prompt is encoded once and its cache shared by chunks of
 * candidates. Intra-positions count within the span (2..n+1 after [S]), as in
 * training and as dynamic decoding gives for a single entity.
 */
export function scoreAnswers(model: RecSysLM, p: DecodePrompt, answers: readonly (readonly number[])[], end: number, chunk = 32): Float64Array {
  const out = new Float64Array(answers.length);
  const first = model.forward({
    ids: Int32Array.from(p.ids), inter: Int32Array.from(p.inter), intra: Int32Array.from(p.intra), B: 1,
    prefix: [p.prefix], useCache: true, lastLogitsOnly: true,
  });
  const logp0 = lastLogProbs(first.logits)[0];
  tf.dispose([first.logits, first.hidden]);
  try {
    for (let s = 0; s < answers.length; s += chunk) {
      const group = answers.slice(s, s + chunk);
      const C = group.length;
      const M = Math.max(...group.map((a) => a.length));
      if (M === 0) throw new Error('scoreAnswers: an empty answer');
      const ids = new Int32Array(C * M);
      const intra = new Int32Array(C * M);
      const attention = new Uint8Array(C * M);
      group.forEach((a, c) => {
        for (let j = 0; j < M; j++) {
          ids[c * M + j] = j < a.length ? a[j] : end;
          intra[c * M + j] = Math.min(model.intraPositions - 1, j + 2);
          attention[c * M + j] = j < a.length ? 1 : 0;
        }
      });
      const cache = repeatCache(first.cache!, C);
      try {
        const res = model.forward({ ids, inter: new Int32Array(C * M).fill(p.blank), intra, B: C, attention, cache });
        const V = res.logits.shape[2];
        // Only the rows and entries needed (a log-softmax over the whole
        // [C, M, V] tensor costs seconds on wasm).
        const logits = res.logits.dataSync() as Float32Array;
        tf.dispose([res.logits, res.hidden]);
        group.forEach((a, c) => {
          let sum = logp0[a[0]];
          for (let j = 1; j < a.length; j++) sum += logProbAt(logits, c * M + j - 1, V, a[j]);
          sum += logProbAt(logits, c * M + a.length - 1, V, end);
          out[s + c] = sum;
        });
      } finally {
        disposeCache(cache);
      }
    }
  } finally {
    disposeCache(first.cache);
  }
  return out;
}
