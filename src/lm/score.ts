/**
 * Scoring with a causal LM: the log-probability of several continuations
 * after one prompt. The prompt runs once; its key/value cache is repeated
 * for each chunk of candidates, so the shared prefix is never recomputed.
 */
import { tf } from '../engine/index.js';
import { type CausalLM, disposeCache, type KVCache, repeatCache } from './families/decoder.js';

export interface Prompt {
  /** Token ids of the prompt (batch 1). */
  ids?: Int32Array;
  /** Or its input vectors [1, P, d] (e.g. with injected embeddings). */
  embeds?: tf.Tensor3D;
}

export interface ContinuationScores {
  /** Sum of token log-probabilities per candidate. */
  logProb: Float64Array;
  /** Number of tokens per candidate (for length-normalised scores). */
  tokens: Int32Array;
}

function promptInput(p: Prompt): { inputIds?: Int32Array; inputsEmbeds?: tf.Tensor3D; batch: number } {
  if (p.embeds) {
    if (p.embeds.shape[0] !== 1) throw new Error(`prompt embeds must have batch 1, got ${p.embeds.shape[0]}`);
    return { inputsEmbeds: p.embeds, batch: 1 };
  }
  if (!p.ids || p.ids.length === 0) throw new Error('prompt needs at least one token (ids) or embeds');
  return { inputIds: p.ids, batch: 1 };
}

/** Runs the prompt; returns its cache and the log-softmax of the next token [V]. */
export function encodePrompt(model: CausalLM, prompt: Prompt): { cache: KVCache; nextLogProbs: Float32Array } {
  const out = model.forward({ ...promptInput(prompt), useCache: true, lastLogitsOnly: true });
  const P = out.logits.shape[1];
  const next = tf.tidy(() => tf.logSoftmax(tf.reshape(tf.slice(out.logits, [0, P - 1, 0], [1, 1, -1]), [-1])).dataSync() as Float32Array);
  tf.dispose([out.logits, out.hidden]);
  return { cache: out.cache!, nextLogProbs: next };
}

/** log P(next token) after the prompt, [V] (TALLRec's answer-word scores). */
export function nextTokenLogProbs(model: CausalLM, prompt: Prompt): Float32Array {
  const { cache, nextLogProbs } = encodePrompt(model, prompt);
  disposeCache(cache);
  return nextLogProbs;
}

/**
 * log P(candidate | prompt) for every candidate (token-id arrays, each
 * non-empty), `chunk` candidates per forward pass over the cached prompt.
 */
export function scoreContinuations(model: CausalLM, prompt: Prompt, candidates: ArrayLike<number>[], opts: { chunk?: number } = {}): ContinuationScores {
  const n = candidates.length;
  const logProb = new Float64Array(n);
  const tokens = new Int32Array(n);
  if (n === 0) return { logProb, tokens };
  candidates.forEach((c, i) => {
    if (c.length === 0) throw new Error(`candidate ${i} is empty`);
    tokens[i] = c.length;
  });
  const V = model.vocabSize;
  const { cache, nextLogProbs } = encodePrompt(model, prompt);
  try {
    for (let i = 0; i < n; i++) logProb[i] = nextLogProbs[candidates[i][0]];
    const chunk = Math.max(1, opts.chunk ?? 32);
    for (let s = 0; s < n; s += chunk) {
      const group = candidates.slice(s, s + chunk).map((c) => Array.from(c));
      const L = Math.max(...group.map((c) => c.length)) - 1;
      if (L === 0) continue; // single-token candidates are scored by the prompt's last position
      const C = group.length;
      const ids = new Int32Array(C * L);
      const mask = new Int32Array(C * L);
      const target = new Int32Array(C * L);
      const valid = new Float32Array(C * L);
      group.forEach((c, r) => {
        for (let t = 0; t < L; t++) {
          if (t + 1 < c.length) {
            ids[r * L + t] = c[t];
            mask[r * L + t] = 1;
            target[r * L + t] = c[t + 1];
            valid[r * L + t] = 1;
          }
        }
      });
      for (const y of target) if (y < 0 || y >= V) throw new Error(`candidate token ${y} outside the vocabulary [0, ${V})`);
      const rep = repeatCache(cache, C);
      try {
        const sums = tf.tidy(() => {
          const out = model.forward({ inputIds: ids, batch: C, attentionMask: mask, cache: rep });
          const lp = tf.reshape(tf.logSoftmax(tf.reshape(out.logits, [C * L, V])), [C * L * V]);
          const flat = Int32Array.from(target, (y, i) => i * V + y);
          const picked = tf.mul(tf.gather(lp, tf.tensor1d(flat, 'int32')), tf.tensor1d(valid));
          tf.dispose([out.logits, out.hidden]);
          return tf.sum(tf.reshape(picked, [C, L]), 1).dataSync();
        });
        for (let r = 0; r < C; r++) logProb[s + r] += sums[r];
      } finally {
        disposeCache(rep);
      }
    }
  } finally {
    disposeCache(cache);
  }
  return { logProb, tokens };
}

/** log-softmax of row `r` of a [rows, V] buffer, picked at `y` (float64 accumulation). */
export function logProbAt(logits: Float32Array, r: number, V: number, y: number): number {
  const o = r * V;
  let max = -Infinity;
  for (let j = 0; j < V; j++) if (logits[o + j] > max) max = logits[o + j];
  let sum = 0;
  for (let j = 0; j < V; j++) sum += Math.exp(logits[o + j] - max);
  return logits[o + y] - max - Math.log(sum);
}
