/**
 * What every decoder-only family (LLaMA, GPT-2) shares: the forward-pass
 * contract, the key/value cache, attention masks with padding and caches,
 * position ids, and attention itself (grouped-query aware).
 *
 * Shapes: B batch, T new tokens, P cached tokens, H query heads, G key/value
 * heads, D head size, V vocabulary.
 */
import { fusedAttention, MASK_NEG, tf } from '../../engine/index.js';
import type { ParamStore } from '../../nn/index.js';
import { flattenIds } from './common.js';

export { mergeHeads, splitHeads } from './common.js';

/** Keys and values of every layer for the tokens seen so far: [B, G, P, D] each. */
export interface KVCache {
  layers: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }>;
  /** Cached positions P. */
  length: number;
  /** 1/0 per cached key [B * P] (padding is 0). */
  keyMask: Uint8Array;
  /** Next position id per row (after the cached tokens). */
  nextPosition: Int32Array;
}

export interface DecoderInput {
  /** Token ids [B, T], row-major; needs `batch` when flat. */
  inputIds?: Int32Array | number[][];
  batch?: number;
  /** Input vectors [B, T, d] instead of looked-up token embeddings (see lm/inject.ts). */
  inputsEmbeds?: tf.Tensor3D;
  /** 1 for real tokens, 0 for padding, [B * T] (the new tokens only; cached keys keep their own). */
  attentionMask?: ArrayLike<number>;
  /** Position ids [B * T]; default: continue each row's count of real tokens (left padding works). */
  positionIds?: Int32Array;
  cache?: KVCache;
  /** Return the cache extended by these tokens (tensors kept; dispose with disposeCache). */
  useCache?: boolean;
  /** Dropout on (for families that have it). */
  training?: boolean;
  /** Compute logits for the last position only ([B, 1, V]; prompts before scoring or generation). */
  lastLogitsOnly?: boolean;
  /**
   * Per row, the number of leading tokens every query of that row may see
   * (GLM's bidirectional Part A; absolute indices, cached keys included).
   * Later tokens stay causal. Absent: fully causal.
   */
  prefixLength?: ArrayLike<number>;
}

export interface DecoderOutput {
  /** [B, T, V], or [B, 1, V] with lastLogitsOnly. */
  logits: tf.Tensor3D;
  /** Final hidden states (after the last norm) [B, T, d]. */
  hidden: tf.Tensor3D;
  cache?: KVCache;
}

/** A decoder-only language model. */
export interface CausalLM {
  readonly family: string;
  readonly store: ParamStore;
  readonly hiddenSize: number;
  readonly vocabSize: number;
  /** Token embeddings [B, T, d] of ids (what `inputsEmbeds` replaces). */
  embed(ids: Int32Array, batch: number): tf.Tensor3D;
  forward(input: DecoderInput): DecoderOutput;
  /** Tensor names real checkpoints carry that are not parameters here (buffers, tied aliases). */
  stateDictIgnore(name: string): boolean;
  /** The Hugging Face config.json object. */
  configJSON(): Record<string, unknown>;
  dispose(): void;
}

/** Resolves batch size, length, key mask and positions of a forward call. */
export function resolveSteps(input: DecoderInput, B: number, T: number): { keyMask: Uint8Array; positions: Int32Array; P: number } {
  const cache = input.cache;
  const P = cache?.length ?? 0;
  if (cache && cache.nextPosition.length !== B) throw new Error(`cache holds batch ${cache.nextPosition.length}, input has ${B}`);
  const keyMask = new Uint8Array(B * (P + T));
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < P; j++) keyMask[b * (P + T) + j] = cache!.keyMask[b * P + j];
    for (let t = 0; t < T; t++) {
      const m = input.attentionMask ? input.attentionMask[b * T + t] : 1;
      if (m !== 0 && m !== 1) throw new Error(`attentionMask must be 0/1, got ${m} at [${b}, ${t}]`);
      keyMask[b * (P + T) + P + t] = m;
    }
  }
  let positions = input.positionIds;
  if (positions) {
    if (positions.length !== B * T) throw new Error(`positionIds: ${positions.length} values, expected ${B * T}`);
  } else {
    positions = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      let next = cache ? cache.nextPosition[b] : 0;
      for (let t = 0; t < T; t++) {
        positions[b * T + t] = next;
        if (keyMask[b * (P + T) + P + t]) next++;
      }
    }
  }
  return { keyMask, positions, P };
}

/**
 * Additive mask [B, 1, T, P + T]: query t (absolute index P + t) sees key j
 * when j <= P + t, key j is not padding and, with a sliding window w,
 * (P + t) - j < w (indices, as Hugging Face's Mistral masks). With a prefix
 * length n_b, keys j < n_b of row b are seen by every query of the row
 * (bidirectional prefix, GLM's Part A). A query whose keys are all masked (a padding
 * query) sees only itself, so its softmax stays finite.
 */
export function attentionMask(keyMask: Uint8Array, B: number, T: number, P: number, window?: number, prefix?: ArrayLike<number>): tf.Tensor4D {
  const K = P + T;
  if (prefix && prefix.length !== B) throw new Error(`prefixLength: ${prefix.length} values for batch ${B}`);
  const m = new Float32Array(B * T * K);
  for (let b = 0; b < B; b++) {
    const pre = prefix ? prefix[b] : 0;
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * K;
      let any = false;
      for (let j = 0; j < K; j++) {
        const ok = (j <= P + t || j < pre) && keyMask[b * K + j] === 1 && (window === undefined || P + t - j < window);
        if (ok) any = true; else m[row + j] = MASK_NEG;
      }
      if (!any) m[row + P + t] = 0;
    }
  }
  return tf.tensor4d(m, [B, 1, T, K]);
}

/**
 * Repeats G key/value heads to H query heads ([B, G, K, D] → [B, H, K, D];
 * grouped-query attention, head h reads kv head floor(h / (H / G))). A row
 * gather (block copies, a segment-sum gradient) rather than Tile, whose wasm
 * kernel copies element by element.
 */
export function repeatKv(x: tf.Tensor4D, H: number): tf.Tensor4D {
  const [B, G, K, D] = x.shape;
  if (G === H) return x;
  if (H % G !== 0) throw new Error(`num_attention_heads ${H} is not a multiple of num_key_value_heads ${G}`);
  const rep = H / G;
  const idx = new Int32Array(B * H);
  for (let r = 0; r < B * G; r++) idx.fill(r, r * rep, (r + 1) * rep);
  return tf.reshape(tf.gather(tf.reshape(x, [B * G, K * D]), tf.tensor1d(idx, 'int32')), [B, H, K, D]);
}

/**
 * softmax(q k^T * scale + mask) v for q [B, H, T, D], k/v [B, H, K, D], mask
 * [B, 1, T, K], as one fused kernel each way (engine `fusedAttention`).
 * `keepMask` (attention dropout) gives the kernel's `keep` multiplier of the
 * scores' shape [B, H, T, K] (a dropout stream's next mask, `SeededDropout.mask`).
 */
export function attend(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor4D, scale: number, keepMask?: (shape: number[]) => tf.Tensor): tf.Tensor4D {
  const keep = keepMask ? keepMask([...q.shape.slice(0, 3), k.shape[2]]) : null;
  return fusedAttention(q, k, v, { mask, scale, keep }) as tf.Tensor4D;
}

/** Appends this step's keys/values to the cache's (along the position axis). */
export function extendKv(cached: { k: tf.Tensor4D; v: tf.Tensor4D } | undefined, k: tf.Tensor4D, v: tf.Tensor4D): { k: tf.Tensor4D; v: tf.Tensor4D } {
  if (!cached) return { k, v };
  return { k: tf.concat([cached.k, k], 2) as tf.Tensor4D, v: tf.concat([cached.v, v], 2) as tf.Tensor4D };
}

/** Builds the cache a forward call returns (tensors kept out of any tidy). */
export function makeCache(layers: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }>, keyMask: Uint8Array, positions: Int32Array, B: number, T: number, prev?: KVCache): KVCache {
  const K = keyMask.length / B;
  const nextPosition = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let next = prev ? prev.nextPosition[b] : 0;
    for (let t = 0; t < T; t++) if (keyMask[b * K + (K - T) + t]) next = Math.max(next, positions[b * T + t] + 1);
    nextPosition[b] = next;
  }
  for (const l of layers) { tf.keep(l.k); tf.keep(l.v); }
  return { layers, length: K, keyMask, nextPosition };
}

export function disposeCache(cache: KVCache | undefined): void {
  if (!cache) return;
  for (const l of cache.layers) tf.dispose([l.k, l.v]);
  cache.layers = [];
}

/**
 * A cache for B = 1 repeated n times (the shared prompt of n candidates).
 * The result owns new tensors; the source cache is left as is.
 */
export function repeatCache(cache: KVCache, n: number): KVCache {
  if (cache.nextPosition.length !== 1) throw new Error(`repeatCache needs a batch-1 cache, got batch ${cache.nextPosition.length}`);
  const rows = (t: tf.Tensor4D) => tf.tidy(() => {
    const [, G, K, D] = t.shape;
    return tf.keep(tf.reshape(tf.gather(tf.reshape(t, [1, G * K * D]), tf.zeros([n], 'int32')), [n, G, K, D])) as tf.Tensor4D;
  });
  const layers = cache.layers.map((l) => ({ k: rows(l.k), v: rows(l.v) }));
  const keyMask = new Uint8Array(n * cache.length);
  for (let i = 0; i < n; i++) keyMask.set(cache.keyMask, i * cache.length);
  return { layers, length: cache.length, keyMask, nextPosition: new Int32Array(n).fill(cache.nextPosition[0]) };
}

/** The hidden states the LM head needs: all positions, or the last one ([B, 1, d]). */
export function headInput(hidden: tf.Tensor3D, lastOnly: boolean | undefined): tf.Tensor3D {
  if (!lastOnly) return hidden;
  const [B, T, d] = hidden.shape;
  return tf.slice(hidden, [0, T - 1, 0], [B, 1, d]);
}

/**
 * Runs a decoder's raw forward in a tidy: only logits, hidden states and the
 * new cache (whose tensors the raw forward kept) outlive the call.
 */
export function tidyForward(raw: () => DecoderOutput): DecoderOutput {
  let cache: DecoderOutput['cache'];
  const out = tf.tidy(() => {
    const r = raw();
    cache = r.cache;
    return { logits: r.logits, hidden: r.hidden };
  });
  return cache ? { ...out, cache } : out;
}

/**
 * One decoder block in its own tidy: only its output and, when the forward
 * builds a cache, its keys and values outlive it. So a forward holds one
 * block's intermediates at a time instead of every block's until the
 * forward's own tidy ends (scoring 5 cases x 10 candidates with a GPT-2
 * 124M-shaped LM grew the wasm heap by 1.4 GB over 0.5 GB of live tensors;
 * docs/RESULTS.md, "Real-size LMs in the in-process engine"). Under a
 * gradient tape tfjs keeps what the backward pass needs, so training is
 * unchanged.
 */
export function blockTidy(withCache: boolean | undefined, block: () => { x: tf.Tensor3D; kv: { k: tf.Tensor4D; v: tf.Tensor4D } }): { x: tf.Tensor3D; kv?: { k: tf.Tensor4D; v: tf.Tensor4D } } {
  return tf.tidy(() => {
    const o = block();
    return withCache ? o : { x: o.x };
  });
}

/** The input vectors of a forward call: `inputsEmbeds`, or the embeddings of `inputIds`. */
export function inputVectors(input: DecoderInput, embed: (ids: Int32Array, batch: number) => tf.Tensor3D): { x: tf.Tensor3D; B: number; T: number } {
  if (input.inputsEmbeds) {
    const [B, T] = input.inputsEmbeds.shape;
    return { x: input.inputsEmbeds, B, T };
  }
  if (!input.inputIds) throw new Error('forward needs inputIds or inputsEmbeds');
  const f = flattenIds(input.inputIds, input.batch, 'inputIds');
  return { x: embed(f.ids, f.B), B: f.B, T: f.T };
}
