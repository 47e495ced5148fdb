/**
 * Generation with a causal LM and its key/value cache: greedy, sampling
 * (temperature, top-k, top-p) and beam search, each optionally constrained
 * to a trie of allowed token sequences (so only real items come out).
 */
import { tf } from '../engine/index.js';
import { Mulberry32 } from '../util/random.js';
import { type CausalLM, disposeCache, type KVCache, repeatCache } from './families/decoder.js';
import { encodePrompt, type Prompt } from './score.js';
import type { TokenTrie } from './trie.js';

export interface GenerateOptions {
  maxNewTokens: number;
  /** 'greedy' (default), 'sample' or 'beam'. */
  strategy?: 'greedy' | 'sample' | 'beam';
  /** End-of-sequence token(s): generation of a sequence stops after one. */
  eosTokenId?: number | number[];
  /** Only sequences of this trie may be generated (eos allowed exactly when a stored sequence is complete). */
  trie?: TokenTrie;
  /** Sampling. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Sequences to sample, or beams to return (default 1). */
  numReturn?: number;
  /** Beam width (default max(4, numReturn)). */
  numBeams?: number;
  /** Beam scores are logProb / length^lengthPenalty (Hugging Face's default 1). */
  lengthPenalty?: number;
}

export interface Generated {
  /** New tokens (eos included when generated). */
  tokens: number[];
  logProb: number;
  /** Why it stopped: eos, a complete trie entry with no continuation, or the token limit. */
  finish: 'eos' | 'trie' | 'length';
}

function eosSet(e: GenerateOptions['eosTokenId']): Set<number> {
  return new Set(e === undefined ? [] : Array.isArray(e) ? e : [e]);
}

/** log-softmax rows of the last position: [rows][V]. */
export function lastLogProbs(logits: tf.Tensor3D): Float32Array[] {
  const [R, T, V] = logits.shape;
  const flat = tf.tidy(() => tf.logSoftmax(tf.reshape(tf.slice(logits, [0, T - 1, 0], [R, 1, V]), [R, V])).dataSync() as Float32Array);
  return Array.from({ length: R }, (_, r) => flat.subarray(r * V, (r + 1) * V));
}

/** Allowed next tokens for a prefix: all (null) without a trie. */
function allowedNext(trie: TokenTrie | undefined, prefix: number[], eos: Set<number>): number[] | null {
  if (!trie) return null;
  const next = trie.allowed(prefix);
  if (trie.isComplete(prefix)) for (const e of eos) next.push(e);
  return next;
}

/**
 * What generation needs from a model: the prompt's cache and first
 * log-probs, then one step per new token. Models with their own position
 * scheme (RecSysLLM's 2-D positions) provide their own.
 */
export interface Stepper {
  /** Encodes the prompt: its cache (batch 1) and the log-probs of the first new token. */
  start(): { cache: KVCache; nextLogProbs: Float32Array };
  /**
   * Feeds the newest token of each row (the last of `generated[r]`, the
   * row's tokens so far) and returns the extended cache and next log-probs.
   */
  step(cache: KVCache, generated: readonly (readonly number[])[]): { cache: KVCache; logp: Float32Array[] };
}

/** The stepper of a plain causal LM (consecutive positions). */
export function causalStepper(model: CausalLM, prompt: Prompt): Stepper {
  return {
    start: () => encodePrompt(model, prompt),
    step: (cache, generated) => {
      const tokens = generated.map((g) => g[g.length - 1] ?? 0);
      const out = model.forward({ inputIds: Int32Array.from(tokens), batch: tokens.length, cache, useCache: true });
      const logp = lastLogProbs(out.logits);
      tf.dispose([out.logits, out.hidden]);
      return { cache: out.cache!, logp };
    },
  };
}

function pick(logp: Float32Array, allowed: number[] | null, o: GenerateOptions, rng: Mulberry32): number {
  const cand = allowed ?? Array.from({ length: logp.length }, (_, i) => i);
  if (cand.length === 0) return -1;
  if ((o.strategy ?? 'greedy') === 'greedy') {
    let best = cand[0];
    for (const c of cand) if (logp[c] > logp[best] || (logp[c] === logp[best] && c < best)) best = c;
    return best;
  }
  const temp = o.temperature ?? 1;
  if (!(temp > 0)) throw new Error(`temperature must be > 0, got ${temp}`);
  let items = cand.map((c) => ({ c, s: logp[c] / temp })).sort((a, b) => b.s - a.s || a.c - b.c);
  if (o.topK && o.topK > 0) items = items.slice(0, o.topK);
  const m = items[0].s;
  let probs = items.map((x) => Math.exp(x.s - m));
  let z = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / z);
  if (o.topP !== undefined && o.topP < 1) {
    let acc = 0;
    let k = 0;
    while (k < probs.length && acc < o.topP) acc += probs[k++];
    items = items.slice(0, Math.max(1, k));
    probs = probs.slice(0, items.length);
    z = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / z);
  }
  let u = rng.next();
  for (let i = 0; i < items.length; i++) {
    u -= probs[i];
    if (u <= 0) return items[i].c;
  }
  return items[items.length - 1].c;
}

/** Generates continuations of one prompt. */
export function generate(model: CausalLM, prompt: Prompt, o: GenerateOptions): Generated[] {
  return generateWith(causalStepper(model, prompt), o);
}

/** Generates with any stepper (see `Stepper`). */
export function generateWith(stepper: Stepper, o: GenerateOptions): Generated[] {
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1) throw new Error(`maxNewTokens must be a positive integer, got ${o.maxNewTokens}`);
  return (o.strategy ?? 'greedy') === 'beam' ? beamSearch(stepper, o) : sampleOrGreedy(stepper, o);
}

function sampleOrGreedy(stepper: Stepper, o: GenerateOptions): Generated[] {
  const n = o.numReturn ?? 1;
  const eos = eosSet(o.eosTokenId);
  const rng = new Mulberry32(o.seed ?? 0);
  const first = stepper.start();
  let cache = repeatCache(first.cache, n);
  disposeCache(first.cache);
  const seqs: Generated[] = Array.from({ length: n }, () => ({ tokens: [], logProb: 0, finish: 'length' }));
  const done = new Array<boolean>(n).fill(false);
  let logp: Float32Array[] = Array.from({ length: n }, () => first.nextLogProbs);
  try {
    for (let t = 0; t < o.maxNewTokens; t++) {
      const next: number[] = [];
      for (let r = 0; r < n; r++) {
        if (done[r]) { next.push(seqs[r].tokens.at(-1) ?? 0); continue; }
        const allowed = allowedNext(o.trie, seqs[r].tokens, eos);
        const tok = pick(logp[r], allowed, o, rng);
        if (tok < 0) { done[r] = true; seqs[r].finish = 'trie'; next.push(0); continue; }
        seqs[r].tokens.push(tok);
        seqs[r].logProb += logp[r][tok];
        if (eos.has(tok)) { done[r] = true; seqs[r].finish = 'eos'; } else if (o.trie && o.trie.allowed(seqs[r].tokens).length === 0 && o.trie.isComplete(seqs[r].tokens) && eos.size === 0) {
          done[r] = true; seqs[r].finish = 'trie';
        }
        next.push(tok);
      }
      if (done.every(Boolean) || t + 1 === o.maxNewTokens) break;
      const s = stepper.step(cache, seqs.map((q, r) => (done[r] && q.tokens.length === 0 ? [next[r]] : q.tokens)));
      disposeCache(cache);
      cache = s.cache;
      logp = s.logp;
    }
  } finally {
    disposeCache(cache);
  }
  return seqs;
}

interface Beam { tokens: number[]; logProb: number }

function beamSearch(stepper: Stepper, o: GenerateOptions): Generated[] {
  const nRet = o.numReturn ?? 1;
  const W = Math.max(o.numBeams ?? 4, nRet);
  const eos = eosSet(o.eosTokenId);
  const lp = o.lengthPenalty ?? 1;
  const norm = (b: Generated) => b.logProb / Math.pow(Math.max(1, b.tokens.length), lp);
  const first = stepper.start();
  let beams: Beam[] = [{ tokens: [], logProb: 0 }];
  let cache = repeatCache(first.cache, 1);
  disposeCache(first.cache);
  let logp: Float32Array[] = [first.nextLogProbs];
  const finished: Generated[] = [];
  try {
    for (let t = 0; t < o.maxNewTokens && beams.length > 0; t++) {
      const cands: Array<{ from: number; tok: number; logProb: number }> = [];
      beams.forEach((b, i) => {
        const allowed = allowedNext(o.trie, b.tokens, eos) ?? Array.from({ length: logp[i].length }, (_, k) => k);
        // Only the best 2W of each beam can matter.
        const top = allowed.map((k) => ({ k, s: logp[i][k] })).sort((a, c) => c.s - a.s || a.k - c.k).slice(0, 2 * W);
        for (const x of top) cands.push({ from: i, tok: x.k, logProb: b.logProb + x.s });
      });
      cands.sort((a, b) => b.logProb - a.logProb || a.from - b.from || a.tok - b.tok);
      const next: Beam[] = [];
      const from: number[] = [];
      for (const c of cands) {
        const tokens = [...beams[c.from].tokens, c.tok];
        if (eos.has(c.tok)) {
          finished.push({ tokens, logProb: c.logProb, finish: 'eos' });
        } else if (o.trie && o.trie.allowed(tokens).length === 0) {
          finished.push({ tokens, logProb: c.logProb, finish: 'trie' });
        } else {
          next.push({ tokens, logProb: c.logProb });
          from.push(c.from);
        }
        if (next.length === W) break;
      }
      // Hugging Face's heuristic (early_stopping=False): stop once the best live
      // beam, scored at its current length, cannot beat the nRet-th finished one.
      if (finished.length >= nRet) {
        const sorted = [...finished].sort((a, b) => norm(b) - norm(a));
        const bar = norm(sorted[nRet - 1]);
        const bestLive = next.length ? Math.max(...next.map((b) => norm({ ...b, finish: 'length' }))) : -Infinity;
        if (bestLive <= bar) { beams = []; break; }
      }
      beams = next;
      if (beams.length === 0 || t + 1 === o.maxNewTokens) break;
      const idx = tf.tensor1d(Int32Array.from(from), 'int32');
      const reordered: KVCache = {
        layers: cache.layers.map((l) => ({ k: tf.keep(tf.gather(l.k, idx)), v: tf.keep(tf.gather(l.v, idx)) })),
        length: cache.length,
        keyMask: Uint8Array.from(from.flatMap((f) => Array.from(cache.keyMask.subarray(f * cache.length, (f + 1) * cache.length)))),
        nextPosition: Int32Array.from(from, (f) => cache.nextPosition[f]),
      };
      idx.dispose();
      disposeCache(cache);
      const s = stepper.step(reordered, beams.map((b) => b.tokens));
      disposeCache(reordered);
      cache = s.cache;
      logp = s.logp;
    }
  } finally {
    disposeCache(cache);
  }
  for (const b of beams) finished.push({ ...b, finish: 'length' });
  return finished.sort((a, b) => norm(b) - norm(a)).slice(0, nRet);
}
