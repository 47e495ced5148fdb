/**
 * T5 (encoder-decoder): Hugging Face's T5Model / T5ForConditionalGeneration
 * with its parameter names (`shared.weight`,
 * `encoder.block.0.layer.0.SelfAttention.q.weight`, ...), so checkpoints load
 * unchanged and numerics match PyTorch.
 *
 * Architecture (as modeling_t5.py):
 *   - pre-norm blocks with T5LayerNorm (RMS without mean subtraction or bias,
 *     eps layer_norm_epsilon), residual adds, dropout on every sub-layer output;
 *   - attention without the 1/sqrt(d_kv) scaling and without biases; a learned
 *     relative position bias (log-spaced buckets; bidirectional in the encoder,
 *     causal in the decoder) held by the first block of each stack and shared
 *     by all its blocks; cross-attention has no position bias;
 *   - feed-forward `relu` (v1.0: wo(act(wi(x)))) or `gated-<act>` (v1.1:
 *     wo(act(wi_0(x)) * wi_1(x)); `gated-gelu` uses gelu_new as HF does);
 *   - tied LM head (tie_word_embeddings) rescales the decoder output by
 *     d_model^-0.5 before the product with `shared`; untied uses `lm_head`.
 *
 * Shapes: B batch, S encoder length, T decoder length, H heads, D d_kv, V vocabulary.
 * Public methods run in their own tf.tidy and may be called inside
 * tf.variableGrads (they are differentiable); dropout is active only with
 * `training: true` and draws from the model's seeded stream.
 */
import { z } from 'zod';
import { fusedAttention, MASK_NEG, tf } from '../../engine/index.js';
import { Embedding, Linear, ParamStore, RMSNorm, type Init } from '../../nn/index.js';
import { IGNORE_INDEX, maskedCrossEntropy } from '../loss.js';
import { configToJSON, parseConfig } from './config_util.js';
import { additiveKeyMask, flattenIds, hfActivation, lookupEmbeddings, mergeHeads, SeededDropout, splitHeads, type TokenIds } from './common.js';

export { additiveKeyMask, flattenIds, hfActivation, SeededDropout, type TokenIds };

// ------------------------------------------------------------------ config

const ACT = '(relu|gelu|gelu_new|gelu_pytorch_tanh|gelu_fast|silu|swish|tanh)';

export const T5ConfigSchema = z.looseObject({
  model_type: z.enum(['t5', 'mt5']).default('t5'),
  vocab_size: z.number().int().positive().default(32128),
  d_model: z.number().int().positive().default(512),
  d_kv: z.number().int().positive().default(64),
  d_ff: z.number().int().positive().default(2048),
  num_layers: z.number().int().positive().default(6),
  /** null: same as num_layers (HF's default). */
  num_decoder_layers: z.number().int().positive().nullable().default(null),
  num_heads: z.number().int().positive().default(8),
  relative_attention_num_buckets: z.number().int().min(2).default(32),
  relative_attention_max_distance: z.number().int().positive().default(128),
  dropout_rate: z.number().min(0).lt(1).default(0.1),
  layer_norm_epsilon: z.number().positive().default(1e-6),
  initializer_factor: z.number().nonnegative().default(1.0),
  feed_forward_proj: z.string().regex(new RegExp(`^(gated-)?${ACT}$`), `must be '<act>' or 'gated-<act>' with act one of ${ACT}`).default('relu'),
  tie_word_embeddings: z.boolean().default(true),
  pad_token_id: z.number().int().nonnegative().default(0),
  eos_token_id: z.number().int().nonnegative().default(1),
  /** null: pad_token_id (what every T5 checkpoint uses). */
  decoder_start_token_id: z.number().int().nonnegative().nullable().default(null),
});

/** A T5 config.json: HF field names, defaults filled in, unknown fields kept (index signature). */
export interface T5Config {
  model_type: 't5' | 'mt5';
  vocab_size: number;
  d_model: number;
  /** Size of one attention head (inner attention size = num_heads * d_kv). */
  d_kv: number;
  d_ff: number;
  /** Encoder blocks. */
  num_layers: number;
  /** Decoder blocks (HF: num_layers when absent). */
  num_decoder_layers: number;
  num_heads: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  dropout_rate: number;
  layer_norm_epsilon: number;
  /** Scales every init std (HF's initializer_factor). */
  initializer_factor: number;
  /** 'relu' (T5 v1.0) or 'gated-gelu' (v1.1), or another '<act>' / 'gated-<act>'. */
  feed_forward_proj: string;
  tie_word_embeddings: boolean;
  pad_token_id: number;
  eos_token_id: number;
  /** First decoder input (pad_token_id when absent). */
  decoder_start_token_id: number;
  [extra: string]: unknown;
}

/** Parses a T5 config.json object (HF defaults, validation; errors name `source` and the field). */
export function parseT5Config(json: unknown, source?: string): T5Config {
  const cfg = parseConfig(T5ConfigSchema, json, source);
  const where = source ?? 'config';
  for (const [k, v] of [['pad_token_id', cfg.pad_token_id], ['eos_token_id', cfg.eos_token_id], ['decoder_start_token_id', cfg.decoder_start_token_id]] as const) {
    if (v !== null && v >= cfg.vocab_size) throw new Error(`invalid model config ${where}:\n  ${k}: ${v} is outside the vocabulary (vocab_size ${cfg.vocab_size})`);
  }
  return {
    ...cfg,
    num_decoder_layers: cfg.num_decoder_layers ?? cfg.num_layers,
    decoder_start_token_id: cfg.decoder_start_token_id ?? cfg.pad_token_id,
  };
}

/** The config as a config.json object (parseT5Config(t5ConfigToJSON(c)) deep-equals c). */
export function t5ConfigToJSON(cfg: T5Config): Record<string, unknown> {
  return configToJSON(cfg);
}

// ----------------------------------------------------- helpers

/** A 0/1 attention mask as a flat Int32Array [B*T] checked against [B, T]. */
function maskValues(m: TokenIds | ArrayLike<number>, B: number, T: number, what: string): Int32Array {
  const f = flattenIds(m, B, what);
  if (f.B !== B || f.T !== T) throw new Error(`${what}: shape [${f.B}, ${f.T}], the inputs are [${B}, ${T}]`);
  for (let i = 0; i < f.ids.length; i++) {
    if (f.ids[i] !== 0 && f.ids[i] !== 1) throw new Error(`${what}: values must be 0/1, got ${f.ids[i]} at index ${i}`);
  }
  return f.ids;
}

// ------------------------------------------------- relative positions

/**
 * T5's bucket of a relative position (key - query), bit-exact with HF's
 * `_relative_position_bucket` (its float32 log arithmetic is emulated with
 * Math.fround, which decides the bucket at the exact boundaries, e.g. 16).
 */
export function t5RelativePositionBucket(relativePosition: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let bucket = 0;
  let n = numBuckets;
  let rp = relativePosition;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rp > 0) bucket += n;
    rp = Math.abs(rp);
  } else {
    rp = -Math.min(rp, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (rp < maxExact) return bucket + rp;
  const f = Math.fround;
  const ratio = f(f(rp) / maxExact);
  const scaled = f(f(f(Math.log(ratio)) / f(Math.log(maxDistance / maxExact))) * (n - maxExact));
  return bucket + Math.min(maxExact + Math.trunc(scaled), n - 1);
}

/** Buckets [Tq * Tk] for queries at offset..offset+Tq-1 and keys 0..Tk-1. */
export function t5BucketTable(Tq: number, Tk: number, bidirectional: boolean, numBuckets: number, maxDistance: number, offset = 0): Int32Array {
  const out = new Int32Array(Tq * Tk);
  for (let i = 0; i < Tq; i++) {
    for (let j = 0; j < Tk; j++) out[i * Tk + j] = t5RelativePositionBucket(j - (i + offset), bidirectional, numBuckets, maxDistance);
  }
  return out;
}

// ------------------------------------------------------------ modules

/** T5Attention: q/k/v/o without bias, no score scaling, optional relative position bias. */
class T5Attention {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly relBias?: Embedding;

  constructor(store: ParamStore, readonly prefix: string, c: T5Config, hasRelBias: boolean, zero: boolean) {
    const d = c.d_model;
    const inner = c.num_heads * c.d_kv;
    const f = c.initializer_factor;
    const init = (std: number): Init => zero ? { kind: 'zeros' } : { kind: 'normal', std: f * std };
    this.q = new Linear(store, `${prefix}.q`, d, inner, false, 'out_in', init((d * c.d_kv) ** -0.5));
    this.k = new Linear(store, `${prefix}.k`, d, inner, false, 'out_in', init(d ** -0.5));
    this.v = new Linear(store, `${prefix}.v`, d, inner, false, 'out_in', init(d ** -0.5));
    this.o = new Linear(store, `${prefix}.o`, inner, d, false, 'out_in', init(inner ** -0.5));
    if (hasRelBias) this.relBias = new Embedding(store, `${prefix}.relative_attention_bias`, c.relative_attention_num_buckets, c.num_heads, zero ? 0 : f * d ** -0.5);
  }
}

/** T5DenseActDense (wi, wo) or T5DenseGatedActDense (wi_0, wi_1, wo). */
class T5FeedForward {
  readonly wi?: Linear;
  readonly wi0?: Linear;
  readonly wi1?: Linear;
  readonly wo: Linear;
  constructor(store: ParamStore, prefix: string, c: T5Config, gated: boolean, zero: boolean) {
    const f = c.initializer_factor;
    const init = (std: number): Init => zero ? { kind: 'zeros' } : { kind: 'normal', std: f * std };
    if (gated) {
      this.wi0 = new Linear(store, `${prefix}.wi_0`, c.d_model, c.d_ff, false, 'out_in', init(c.d_model ** -0.5));
      this.wi1 = new Linear(store, `${prefix}.wi_1`, c.d_model, c.d_ff, false, 'out_in', init(c.d_model ** -0.5));
    } else {
      this.wi = new Linear(store, `${prefix}.wi`, c.d_model, c.d_ff, false, 'out_in', init(c.d_model ** -0.5));
    }
    this.wo = new Linear(store, `${prefix}.wo`, c.d_ff, c.d_model, false, 'out_in', init(c.d_ff ** -0.5));
  }
}

interface T5Block {
  selfNorm: RMSNorm;
  self: T5Attention;
  crossNorm?: RMSNorm;
  cross?: T5Attention;
  ffNorm: RMSNorm;
  ff: T5FeedForward;
}

export interface T5InitOptions {
  /** Seed of the initialisation and of the dropout stream. */
  seed?: number;
  /** 'random' (HF's init) or 'zeros' (fast, for weights about to be loaded). */
  init?: 'random' | 'zeros';
}

export interface T5EncodeInput {
  /** Encoder token ids [B, S] (flat ones need `batch`). */
  inputIds?: TokenIds;
  batch?: number;
  /** 1 for real tokens, 0 for padding, [B, S] (default all 1). */
  attentionMask?: TokenIds | ArrayLike<number>;
  /** Encoder input vectors [B, S, d_model] instead of `shared` lookups (e.g. injected user/item slots). */
  inputsEmbeds?: tf.Tensor3D;
  /** Dropout on. */
  training?: boolean;
}

export interface T5ForwardInput extends T5EncodeInput {
  /** Decoder token ids [B, T] (shiftRight(labels) for teacher forcing). */
  decoderInputIds?: TokenIds;
  /** Decoder input vectors [B, T, d_model] instead of `shared` lookups. */
  decoderInputsEmbeds?: tf.Tensor3D;
  /** 0/1 mask of decoder keys [B, T] on top of the causal mask (default all 1). */
  decoderAttentionMask?: TokenIds | ArrayLike<number>;
  /** Precomputed encoder output [B, S, d_model] (skips the encoder). */
  encoderHidden?: tf.Tensor3D;
}

export interface T5LossInput extends T5ForwardInput {
  /** Target ids [B, T]; -100 is ignored. Decoder inputs default to shiftRight(labels). */
  labels: TokenIds;
}

export type T5Output = {
  /** LM logits [B, T, V]. */
  logits: tf.Tensor3D;
  /** Encoder output [B, S, d_model]. */
  encoderHidden: tf.Tensor3D;
  /** Decoder output after the final norm [B, T, d_model] (before the tied-head rescale). */
  decoderHidden: tf.Tensor3D;
};

/** Incremental decoding state (kept tensors; free with `dispose`). */
export interface T5DecodeState {
  readonly batch: number;
  /** Decoder tokens consumed so far. */
  length: number;
  /** Additive encoder key mask [B, 1, 1, S]. */
  encoderMask: tf.Tensor4D;
  /** Cross-attention keys/values per decoder block [B, H, S, D]. */
  cross: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }>;
  /** Self-attention keys/values per decoder block [B, H, length, D]. */
  self: Array<{ k: tf.Tensor4D; v: tf.Tensor4D } | null>;
  dispose(): void;
}

/** T5ForConditionalGeneration (T5Model plus the LM head). */
export class T5Model {
  readonly family = 't5';
  readonly store: ParamStore;
  readonly config: T5Config;
  readonly hiddenSize: number;
  readonly vocabSize: number;
  readonly shared: Embedding;
  private readonly encBlocks: T5Block[];
  private readonly decBlocks: T5Block[];
  private readonly encFinal: RMSNorm;
  private readonly decFinal: RMSNorm;
  private readonly lmHead?: Linear;
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  private readonly gated: boolean;
  private readonly dropout: SeededDropout;

  constructor(config: T5Config, opts: T5InitOptions = {}) {
    this.config = config;
    const c = config;
    const seed = opts.seed ?? 0;
    const s = this.store = new ParamStore(seed);
    this.dropout = new SeededDropout((seed ^ 0x5eed_d70b) >>> 0, this.store);
    const zero = opts.init === 'zeros';
    this.hiddenSize = c.d_model;
    this.vocabSize = c.vocab_size;
    const [gatedWord, actName] = c.feed_forward_proj.startsWith('gated-') ? ['gated', c.feed_forward_proj.slice(6)] : ['', c.feed_forward_proj];
    this.gated = gatedWord === 'gated';
    // HF maps 'gated-gelu' to gelu_new (the T5 v1.1 checkpoints' activation).
    this.act = hfActivation(c.feed_forward_proj === 'gated-gelu' ? 'gelu_new' : actName);
    const f = c.initializer_factor;
    this.shared = new Embedding(s, 'shared', c.vocab_size, c.d_model, zero ? 0 : f);
    const eps = c.layer_norm_epsilon;
    const block = (stack: 'encoder' | 'decoder', i: number): T5Block => {
      const p = `${stack}.block.${i}.layer`;
      const dec = stack === 'decoder';
      // Registered in HF's order (layer.0 self-attention, layer.1 cross-attention, then the feed-forward).
      const selfNorm = new RMSNorm(s, `${p}.0.layer_norm`, c.d_model, eps);
      const self = new T5Attention(s, `${p}.0.SelfAttention`, c, i === 0, zero);
      const crossNorm = dec ? new RMSNorm(s, `${p}.1.layer_norm`, c.d_model, eps) : undefined;
      const cross = dec ? new T5Attention(s, `${p}.1.EncDecAttention`, c, false, zero) : undefined;
      const ffIdx = dec ? 2 : 1;
      const ffNorm = new RMSNorm(s, `${p}.${ffIdx}.layer_norm`, c.d_model, eps);
      const ff = new T5FeedForward(s, `${p}.${ffIdx}.DenseReluDense`, c, this.gated, zero);
      return { selfNorm, self, crossNorm, cross, ffNorm, ff };
    };
    this.encBlocks = Array.from({ length: c.num_layers }, (_, i) => block('encoder', i));
    this.encFinal = new RMSNorm(s, 'encoder.final_layer_norm', c.d_model, eps);
    this.decBlocks = Array.from({ length: c.num_decoder_layers }, (_, i) => block('decoder', i));
    this.decFinal = new RMSNorm(s, 'decoder.final_layer_norm', c.d_model, eps);
    if (!c.tie_word_embeddings) {
      this.lmHead = new Linear(s, 'lm_head', c.d_model, c.vocab_size, false, 'out_in', zero ? { kind: 'zeros' } : { kind: 'normal', std: f });
    }
  }

  /** The config.json object (with `architectures`). */
  configJSON(): Record<string, unknown> {
    return { architectures: ['T5ForConditionalGeneration'], ...t5ConfigToJSON(this.config) };
  }

  /** Checkpoint tensors that are aliases of parameters here (embed_tokens, a tied lm_head) or unused. */
  stateDictIgnore(name: string): boolean {
    return name === 'encoder.embed_tokens.weight' || name === 'decoder.embed_tokens.weight'
      || (this.config.tie_word_embeddings && name === 'lm_head.weight')
      // The original t5 checkpoints carry a cross-attention bias that is never used (HF ignores it too).
      || name === 'decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight';
  }

  /** Token embeddings [B, T, d_model] (what `inputsEmbeds` replaces). */
  embed(ids: TokenIds, batch?: number): tf.Tensor3D {
    const f = flattenIds(ids, batch, 'ids');
    return tf.tidy(() => this.embedFlat(f.ids, f.B, f.T));
  }

  private embedFlat(ids: Int32Array, B: number, T: number): tf.Tensor3D {
    return lookupEmbeddings(this.shared, ids, B, T);
  }

  /** Position bias [1, H, Tq, Tk] of a stack's first block (queries at offset..offset+Tq-1). */
  private positionBias(att: T5Attention, Tq: number, Tk: number, bidirectional: boolean, offset = 0): tf.Tensor4D {
    const c = this.config;
    const buckets = t5BucketTable(Tq, Tk, bidirectional, c.relative_attention_num_buckets, c.relative_attention_max_distance, offset);
    const vals = tf.gather(att.relBias!.table, tf.tensor1d(buckets, 'int32')); // [Tq*Tk, H]
    return tf.reshape(tf.transpose(tf.reshape(vals, [Tq, Tk, c.num_heads]), [2, 0, 1]), [1, c.num_heads, Tq, Tk]);
  }

  private drop(x: tf.Tensor, training: boolean | undefined): tf.Tensor {
    return training ? this.dropout.apply(x, this.config.dropout_rate) : x;
  }

  /**
   * softmax(q k^T + bias) v, merged to [B, Tq, H*D], through `o`: one fused
   * kernel each way (engine fusedAttention, unscaled). `learnedBias`: the bias
   * holds the relative position bias, which gets its gradient through the
   * kernel (the cross-attention's bias is a constant mask).
   */
  private attention(att: T5Attention, x: tf.Tensor, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor, training?: boolean, learnedBias = false): tf.Tensor3D {
    const [B, Tq] = x.shape as [number, number, number];
    const H = this.config.num_heads;
    const D = this.config.d_kv;
    const q = splitHeads(att.q.apply(x), B, Tq, H, D);
    const keep = training && this.config.dropout_rate > 0 ? this.dropout.mask([B, H, Tq, k.shape[2]], this.config.dropout_rate) : null;
    const ctx = mergeHeads(fusedAttention(q, k, v, { mask: bias, scale: 1, keep, maskGrad: learnedBias }), B, Tq, H, D);
    return att.o.apply(ctx) as tf.Tensor3D;
  }

  private keysValues(att: T5Attention, x: tf.Tensor): { k: tf.Tensor4D; v: tf.Tensor4D } {
    const [B, T] = x.shape as [number, number, number];
    const H = this.config.num_heads;
    const D = this.config.d_kv;
    return { k: splitHeads(att.k.apply(x), B, T, H, D), v: splitHeads(att.v.apply(x), B, T, H, D) };
  }

  private feedForward(ff: T5FeedForward, x: tf.Tensor, training?: boolean): tf.Tensor {
    const h = ff.wi ? this.act(ff.wi.apply(x)) : tf.mul(this.act(ff.wi0!.apply(x)), ff.wi1!.apply(x));
    return ff.wo.apply(this.drop(h, training));
  }

  private inputVectors(ids: TokenIds | undefined, embeds: tf.Tensor3D | undefined, batch: number | undefined, what: string): tf.Tensor3D {
    if (embeds) {
      if (embeds.rank !== 3 || embeds.shape[2] !== this.hiddenSize) throw new Error(`${what}Embeds: expected [B, T, ${this.hiddenSize}], got [${embeds.shape}]`);
      return embeds;
    }
    if (!ids) throw new Error(`T5: ${what}Ids or ${what}Embeds is required`);
    const f = flattenIds(ids, batch, `${what}Ids`);
    return this.embedFlat(f.ids, f.B, f.T);
  }

  private encodeRaw(input: T5EncodeInput): { hidden: tf.Tensor3D; mask: Int32Array | null } {
    const x = this.inputVectors(input.inputIds, input.inputsEmbeds, input.batch, 'input');
    const [B, S] = x.shape;
    const mask = input.attentionMask ? maskValues(input.attentionMask, B, S, 'attentionMask') : null;
    const training = input.training;
    let h = this.drop(x, training);
    let bias: tf.Tensor = this.positionBias(this.encBlocks[0].self, S, S, true);
    if (mask) bias = tf.add(bias, additiveKeyMask(mask, B, S));
    for (const b of this.encBlocks) {
      const n = b.selfNorm.apply(h);
      const { k, v } = this.keysValues(b.self, n);
      h = tf.add(h, this.drop(this.attention(b.self, n, k, v, bias, training, true), training));
      h = tf.add(h, this.drop(this.feedForward(b.ff, b.ffNorm.apply(h), training), training));
    }
    return { hidden: this.drop(this.encFinal.apply(h), training) as tf.Tensor3D, mask };
  }

  /** Encoder hidden states [B, S, d_model] (after the final norm). */
  encode(input: T5EncodeInput): tf.Tensor3D {
    return tf.tidy(() => this.encodeRaw(input).hidden);
  }

  /** LM logits of decoder outputs [B, T, d] → [B, T, V]. */
  private lmLogits(h: tf.Tensor3D): tf.Tensor3D {
    const [B, T, d] = h.shape;
    if (this.lmHead) return this.lmHead.apply(h) as tf.Tensor3D;
    const scaled = tf.mul(tf.reshape(h, [B * T, d]), d ** -0.5) as tf.Tensor2D;
    return tf.reshape(tf.matMul(scaled, this.shared.table, false, true), [B, T, this.vocabSize]);
  }

  private forwardRaw(input: T5ForwardInput): T5Output {
    const training = input.training;
    let encoderHidden: tf.Tensor3D;
    let encMask: Int32Array | null;
    if (input.encoderHidden) {
      encoderHidden = input.encoderHidden;
      const [B, S] = encoderHidden.shape;
      encMask = input.attentionMask ? maskValues(input.attentionMask, B, S, 'attentionMask') : null;
    } else {
      ({ hidden: encoderHidden, mask: encMask } = this.encodeRaw(input));
    }
    const [B, S] = encoderHidden.shape;
    const x = this.inputVectors(input.decoderInputIds, input.decoderInputsEmbeds, B, 'decoderInput');
    const T = x.shape[1];
    if (x.shape[0] !== B) throw new Error(`T5: decoder batch ${x.shape[0]} != encoder batch ${B}`);
    const decMask = input.decoderAttentionMask ? maskValues(input.decoderAttentionMask, B, T, 'decoderAttentionMask') : null;
    const selfMask = new Float32Array((decMask ? B : 1) * T * T);
    for (let b = 0; b < (decMask ? B : 1); b++) {
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) if (j > i || (decMask && decMask[b * T + j] === 0)) selfMask[(b * T + i) * T + j] = MASK_NEG;
      }
    }
    const selfBias = tf.add(this.positionBias(this.decBlocks[0].self, T, T, false), tf.tensor4d(selfMask, [decMask ? B : 1, 1, T, T]));
    const crossBias: tf.Tensor = encMask ? additiveKeyMask(encMask, B, S) : tf.zeros([1, 1, 1, S]);
    let h = this.drop(x, training);
    for (const b of this.decBlocks) {
      const n = b.selfNorm.apply(h);
      const kv = this.keysValues(b.self, n);
      h = tf.add(h, this.drop(this.attention(b.self, n, kv.k, kv.v, selfBias, training, true), training));
      const ckv = this.keysValues(b.cross!, encoderHidden);
      h = tf.add(h, this.drop(this.attention(b.cross!, b.crossNorm!.apply(h), ckv.k, ckv.v, crossBias, training), training));
      h = tf.add(h, this.drop(this.feedForward(b.ff, b.ffNorm.apply(h), training), training));
    }
    const decoderHidden = this.drop(this.decFinal.apply(h), training) as tf.Tensor3D;
    return { logits: this.lmLogits(decoderHidden), encoderHidden, decoderHidden };
  }

  /** Encoder + decoder (teacher forcing): logits [B, T, V] and the hidden states. */
  forward(input: T5ForwardInput): T5Output {
    return tf.tidy(() => this.forwardRaw(input));
  }

  /** HF's `_shift_right`: decoder_start_token_id then labels[:-1], with -100 replaced by pad (flat [B*T]). */
  shiftRight(labels: TokenIds, batch?: number): Int32Array {
    const f = flattenIds(labels, batch, 'labels');
    const out = new Int32Array(f.B * f.T);
    for (let b = 0; b < f.B; b++) {
      out[b * f.T] = this.config.decoder_start_token_id;
      for (let t = 1; t < f.T; t++) {
        const y = f.ids[b * f.T + t - 1];
        out[b * f.T + t] = y === IGNORE_INDEX ? this.config.pad_token_id : y;
      }
    }
    return out;
  }

  /**
   * Mean cross-entropy over the labels that are not -100 (torch's
   * CrossEntropyLoss(ignore_index=-100)), e.g. for span-corruption training.
   */
  loss(input: T5LossInput): tf.Scalar {
    return tf.tidy(() => {
      const batch = input.batch;
      const lab = flattenIds(input.labels, batch, 'labels');
      const decoderInputIds = input.decoderInputIds ?? (input.decoderInputsEmbeds ? undefined : this.shiftRight(input.labels, batch));
      const { logits } = this.forwardRaw({ ...input, decoderInputIds });
      if (logits.shape[0] * logits.shape[1] !== lab.ids.length) {
        throw new Error(`T5 loss: labels [${lab.B}, ${lab.T}] do not match logits [${logits.shape.slice(0, 2)}]`);
      }
      return maskedCrossEntropy(logits, lab.ids);
    });
  }

  // ---------------------------------------------------- incremental decoding

  /**
   * Starts incremental decoding against an encoder output: precomputes the
   * cross-attention keys/values. Free the state with `state.dispose()`.
   */
  beginDecode(encoderHidden: tf.Tensor3D, attentionMask?: TokenIds | ArrayLike<number>): T5DecodeState {
    const [B, S] = encoderHidden.shape;
    const mask = attentionMask ? maskValues(attentionMask, B, S, 'attentionMask') : new Int32Array(B * S).fill(1);
    const made = tf.tidy(() => ({
      encoderMask: additiveKeyMask(mask, B, S),
      cross: this.decBlocks.map((b) => this.keysValues(b.cross!, encoderHidden)),
    }));
    tf.keep(made.encoderMask);
    for (const kv of made.cross) { tf.keep(kv.k); tf.keep(kv.v); }
    const state: T5DecodeState = {
      batch: B,
      length: 0,
      encoderMask: made.encoderMask,
      cross: made.cross,
      self: this.decBlocks.map(() => null),
      dispose() {
        tf.dispose([state.encoderMask, ...state.cross.flatMap((kv) => [kv.k, kv.v]), ...state.self.flatMap((kv) => kv ? [kv.k, kv.v] : [])]);
        state.cross = [];
        state.self = state.self.map(() => null);
      },
    };
    return state;
  }

  /**
   * Feeds one decoder token per row ([B] ids) and returns the next-token
   * logits [B, V] (caller disposes); the state's self-attention cache grows by one.
   * Equal to the last row of `forward` over the whole prefix.
   */
  decodeStep(state: T5DecodeState, tokenIds: ArrayLike<number>): tf.Tensor2D {
    const B = state.batch;
    if (tokenIds.length !== B) throw new Error(`decodeStep: ${tokenIds.length} token ids for batch ${B}`);
    if (state.cross.length === 0) throw new Error('decodeStep: the decode state was disposed');
    const t = state.length;
    const H = this.config.num_heads;
    const D = this.config.d_kv;
    const out = tf.tidy(() => {
      const x = this.embedFlat(Int32Array.from(tokenIds), B, 1);
      const selfBias = this.positionBias(this.decBlocks[0].self, 1, t + 1, false, t);
      let h: tf.Tensor = x;
      const kvs: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }> = [];
      this.decBlocks.forEach((b, i) => {
        const n = b.selfNorm.apply(h);
        const kNew = splitHeads(b.self.k.apply(n), B, 1, H, D);
        const vNew = splitHeads(b.self.v.apply(n), B, 1, H, D);
        const prev = state.self[i];
        const kv = prev
          ? { k: tf.concat([prev.k, kNew], 2) as tf.Tensor4D, v: tf.concat([prev.v, vNew], 2) as tf.Tensor4D }
          : { k: kNew, v: vNew };
        kvs.push(kv);
        h = tf.add(h, this.attention(b.self, n, kv.k, kv.v, selfBias, false, true));
        const c = state.cross[i];
        h = tf.add(h, this.attention(b.cross!, b.crossNorm!.apply(h), c.k, c.v, state.encoderMask));
        h = tf.add(h, this.feedForward(b.ff, b.ffNorm.apply(h)));
      });
      const logits = tf.reshape(this.lmLogits(this.decFinal.apply(h) as tf.Tensor3D), [B, this.vocabSize]) as tf.Tensor2D;
      return { logits, kvs };
    });
    for (const kv of state.self) if (kv) tf.dispose([kv.k, kv.v]);
    state.self = out.kvs.map((kv) => ({ k: tf.keep(kv.k), v: tf.keep(kv.v) }));
    state.length = t + 1;
    return out.logits;
  }

  /**
   * Greedy decoding from decoder_start_token_id until every row has emitted
   * eos_token_id or `maxNewTokens` tokens; returns the generated ids per row
   * (without the start token, eos included when emitted).
   */
  generateGreedy(input: T5EncodeInput & { maxNewTokens: number }): number[][] {
    const enc = this.encode({ ...input, training: false });
    const B = enc.shape[0];
    const S = enc.shape[1];
    const mask = input.attentionMask ? maskValues(input.attentionMask, B, S, 'attentionMask') : undefined;
    const state = this.beginDecode(enc, mask);
    enc.dispose();
    const outs: number[][] = Array.from({ length: B }, () => []);
    const done = new Array<boolean>(B).fill(false);
    let next = new Int32Array(B).fill(this.config.decoder_start_token_id);
    try {
      for (let step = 0; step < input.maxNewTokens && done.includes(false); step++) {
        const logits = this.decodeStep(state, next);
        const arg = tf.tidy(() => tf.argMax(logits, 1));
        const ids = arg.dataSync() as Int32Array;
        tf.dispose([logits, arg]);
        next = Int32Array.from(ids);
        for (let b = 0; b < B; b++) {
          if (done[b]) { next[b] = this.config.pad_token_id; continue; }
          outs[b].push(ids[b]);
          if (ids[b] === this.config.eos_token_id) done[b] = true;
        }
      }
    } finally {
      state.dispose();
    }
    return outs;
  }

  dispose(): void {
    this.store.dispose();
  }
}
