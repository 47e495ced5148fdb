/**
 * BERT (masked LM): Hugging Face's BertForMaskedLM with its parameter names
 * (`bert.embeddings.word_embeddings.weight`,
 * `bert.encoder.layer.0.attention.self.query.weight`, ...,
 * `cls.predictions.transform.dense.weight`, `cls.predictions.bias`), so
 * checkpoints load unchanged and numerics match PyTorch.
 *
 * Architecture (as modeling_bert.py, absolute positions):
 *   x = dropout(LN(word[ids] (or inputsEmbeds) + position[0..T) + token_type[tt]))
 *   per layer (post-LN):
 *     x = LN(x + dropout(o(softmax(q k^T / sqrt(dh) + mask) v)))
 *     x = LN(x + dropout(W2 act(W1 x)))
 *   MLM head: logits = LN(act(dense(x))) word^T + cls.predictions.bias
 *     (the decoder is tied to the word embeddings unless tie_word_embeddings is false).
 * `hidden_act` 'gelu' is the exact (erf) GELU.
 *
 * Public methods run in their own tf.tidy and are differentiable; dropout is
 * active only with `training: true` and draws from the model's seeded stream.
 */
import { z } from 'zod';
import { fusedAttention, tf } from '../../engine/index.js';
import { Embedding, LayerNorm, Linear, ParamStore, type Init } from '../../nn/index.js';
import { maskedCrossEntropy } from '../loss.js';
import { configToJSON, parseConfig } from './config_util.js';
import { additiveKeyMask, flattenIds, hfActivation, lookupEmbeddings, SeededDropout, type TokenIds } from './common.js';

const ACTS = ['gelu', 'relu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'silu', 'swish', 'tanh'] as const;

export const BertConfigSchema = z.looseObject({
  model_type: z.literal('bert').default('bert'),
  vocab_size: z.number().int().positive().default(30522),
  hidden_size: z.number().int().positive().default(768),
  num_hidden_layers: z.number().int().positive().default(12),
  num_attention_heads: z.number().int().positive().default(12),
  intermediate_size: z.number().int().positive().default(3072),
  hidden_act: z.enum(ACTS).default('gelu'),
  hidden_dropout_prob: z.number().min(0).lt(1).default(0.1),
  attention_probs_dropout_prob: z.number().min(0).lt(1).default(0.1),
  max_position_embeddings: z.number().int().positive().default(512),
  type_vocab_size: z.number().int().positive().default(2),
  initializer_range: z.number().nonnegative().default(0.02),
  layer_norm_eps: z.number().positive().default(1e-12),
  pad_token_id: z.number().int().nonnegative().default(0),
  position_embedding_type: z.literal('absolute').default('absolute'),
  tie_word_embeddings: z.boolean().default(true),
});

/** A BERT config.json: HF field names, defaults filled in, unknown fields kept. */
export type BertConfig = z.output<typeof BertConfigSchema>;

/** Parses a BERT config.json object (HF defaults, validation; errors name `source` and the field). */
export function parseBertConfig(json: unknown, source?: string): BertConfig {
  const cfg = parseConfig(BertConfigSchema, json, source);
  const where = source ?? 'config';
  if (cfg.hidden_size % cfg.num_attention_heads !== 0) {
    throw new Error(`invalid model config ${where}:\n  hidden_size: ${cfg.hidden_size} is not divisible by num_attention_heads ${cfg.num_attention_heads}`);
  }
  if (cfg.pad_token_id >= cfg.vocab_size) throw new Error(`invalid model config ${where}:\n  pad_token_id: ${cfg.pad_token_id} is outside the vocabulary (vocab_size ${cfg.vocab_size})`);
  return cfg;
}

/** The config as a config.json object (parseBertConfig(bertConfigToJSON(c)) deep-equals c). */
export function bertConfigToJSON(cfg: BertConfig): Record<string, unknown> {
  return configToJSON(cfg);
}

interface BertLayer {
  q: Linear;
  k: Linear;
  v: Linear;
  attnOut: Linear;
  attnLn: LayerNorm;
  inter: Linear;
  out: Linear;
  outLn: LayerNorm;
}

export interface BertInitOptions {
  /** Seed of the initialisation and of the dropout stream. */
  seed?: number;
  /** 'random' (HF's init) or 'zeros' (fast, for weights about to be loaded). */
  init?: 'random' | 'zeros';
}

export interface BertInput {
  /** Token ids [B, T] (flat ones need `batch`). */
  inputIds?: TokenIds;
  batch?: number;
  /** Segment ids [B, T] (default 0). */
  tokenTypeIds?: TokenIds;
  /** 1 for real tokens, 0 for padding, [B, T] (default all 1). */
  attentionMask?: TokenIds | ArrayLike<number>;
  /** Vectors [B, T, hidden_size] replacing the word embeddings (positions and token types are still added). */
  inputsEmbeds?: tf.Tensor3D;
  /** Dropout on. */
  training?: boolean;
}

export interface BertMlmInput extends BertInput {
  /** Target ids [B, T]; -100 (every unmasked position) is ignored. */
  labels: TokenIds;
}

export type BertOutput = {
  /** Last encoder layer [B, T, hidden_size]. */
  hidden: tf.Tensor3D;
  /** MLM logits [B, T, V]. */
  logits: tf.Tensor3D;
};

/** BertForMaskedLM (no pooler: HF's masked-LM model has none). */
export class BertForMaskedLM {
  readonly family = 'bert';
  readonly store: ParamStore;
  readonly config: BertConfig;
  readonly hiddenSize: number;
  readonly vocabSize: number;
  readonly wordEmbeddings: Embedding;
  private readonly positionEmbeddings: Embedding;
  private readonly tokenTypeEmbeddings: Embedding;
  private readonly embLn: LayerNorm;
  private readonly layers: BertLayer[];
  private readonly transform: Linear;
  private readonly transformLn: LayerNorm;
  private readonly decoder?: Linear;
  private readonly decoderBias: tf.Variable;
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  private readonly dropout: SeededDropout;

  constructor(config: BertConfig, opts: BertInitOptions = {}) {
    this.config = config;
    const c = config;
    const seed = opts.seed ?? 0;
    const s = this.store = new ParamStore(seed);
    this.dropout = new SeededDropout((seed ^ 0x5eed_d70b) >>> 0, this.store);
    const zero = opts.init === 'zeros';
    const std = zero ? 0 : c.initializer_range;
    const init: Init = zero ? { kind: 'zeros' } : { kind: 'normal', std };
    const d = this.hiddenSize = c.hidden_size;
    this.vocabSize = c.vocab_size;
    this.act = hfActivation(c.hidden_act);
    const eps = c.layer_norm_eps;
    const e = 'bert.embeddings';
    this.wordEmbeddings = new Embedding(s, `${e}.word_embeddings`, c.vocab_size, d, std);
    // HF zeroes the padding row of the word embeddings at init.
    tf.tidy(() => {
      const keep = new Float32Array(c.vocab_size).fill(1);
      keep[c.pad_token_id] = 0;
      this.wordEmbeddings.table.assign(tf.mul(this.wordEmbeddings.table, tf.tensor2d(keep, [c.vocab_size, 1])));
    });
    this.positionEmbeddings = new Embedding(s, `${e}.position_embeddings`, c.max_position_embeddings, d, std);
    this.tokenTypeEmbeddings = new Embedding(s, `${e}.token_type_embeddings`, c.type_vocab_size, d, std);
    this.embLn = new LayerNorm(s, `${e}.LayerNorm`, d, eps);
    this.layers = Array.from({ length: c.num_hidden_layers }, (_, i) => {
      const p = `bert.encoder.layer.${i}`;
      return {
        q: new Linear(s, `${p}.attention.self.query`, d, d, true, 'out_in', init),
        k: new Linear(s, `${p}.attention.self.key`, d, d, true, 'out_in', init),
        v: new Linear(s, `${p}.attention.self.value`, d, d, true, 'out_in', init),
        attnOut: new Linear(s, `${p}.attention.output.dense`, d, d, true, 'out_in', init),
        attnLn: new LayerNorm(s, `${p}.attention.output.LayerNorm`, d, eps),
        inter: new Linear(s, `${p}.intermediate.dense`, d, c.intermediate_size, true, 'out_in', init),
        out: new Linear(s, `${p}.output.dense`, c.intermediate_size, d, true, 'out_in', init),
        outLn: new LayerNorm(s, `${p}.output.LayerNorm`, d, eps),
      };
    });
    this.transform = new Linear(s, 'cls.predictions.transform.dense', d, d, true, 'out_in', init);
    this.transformLn = new LayerNorm(s, 'cls.predictions.transform.LayerNorm', d, eps);
    this.decoderBias = s.add('cls.predictions.bias', [c.vocab_size], { kind: 'zeros' });
    if (!c.tie_word_embeddings) this.decoder = new Linear(s, 'cls.predictions.decoder', d, c.vocab_size, false, 'out_in', init);
  }

  /** The config.json object (with `architectures`). */
  configJSON(): Record<string, unknown> {
    return { architectures: ['BertForMaskedLM'], ...bertConfigToJSON(this.config) };
  }

  /**
   * Checkpoint tensors that are buffers, aliases of parameters here or heads
   * this model does not have: position_ids, the decoder weight (tied) and
   * bias (= cls.predictions.bias), the pooler and the next-sentence head.
   */
  stateDictIgnore(name: string): boolean {
    return name === 'bert.embeddings.position_ids' || name === 'bert.embeddings.token_type_ids'
      || name === 'cls.predictions.decoder.bias'
      || (this.config.tie_word_embeddings && name === 'cls.predictions.decoder.weight')
      || name.startsWith('bert.pooler.') || name.startsWith('cls.seq_relationship.');
  }

  /** Word embeddings [B, T, hidden_size] of ids (what `inputsEmbeds` replaces). */
  embed(ids: TokenIds, batch?: number): tf.Tensor3D {
    const f = flattenIds(ids, batch, 'ids');
    return tf.tidy(() => this.embedFlat(f.ids, f.B, f.T));
  }

  private embedFlat(ids: Int32Array, B: number, T: number): tf.Tensor3D {
    return lookupEmbeddings(this.wordEmbeddings, ids, B, T);
  }

  private drop(x: tf.Tensor, rate: number, training: boolean | undefined): tf.Tensor {
    return training ? this.dropout.apply(x, rate) : x;
  }

  private encodeRaw(input: BertInput): tf.Tensor3D {
    const c = this.config;
    const training = input.training;
    let words: tf.Tensor3D;
    if (input.inputsEmbeds) {
      words = input.inputsEmbeds;
      if (words.rank !== 3 || words.shape[2] !== this.hiddenSize) throw new Error(`inputsEmbeds: expected [B, T, ${this.hiddenSize}], got [${words.shape}]`);
    } else {
      if (!input.inputIds) throw new Error('BERT: inputIds or inputsEmbeds is required');
      const f = flattenIds(input.inputIds, input.batch, 'inputIds');
      words = this.embedFlat(f.ids, f.B, f.T);
    }
    const [B, T, d] = words.shape;
    if (T > c.max_position_embeddings) throw new Error(`BERT: sequence length ${T} exceeds max_position_embeddings ${c.max_position_embeddings}`);
    const types = new Int32Array(B * T);
    if (input.tokenTypeIds) {
      const f = flattenIds(input.tokenTypeIds, B, 'tokenTypeIds');
      if (f.B !== B || f.T !== T) throw new Error(`tokenTypeIds: shape [${f.B}, ${f.T}], the inputs are [${B}, ${T}]`);
      for (let i = 0; i < f.ids.length; i++) {
        if (f.ids[i] < 0 || f.ids[i] >= c.type_vocab_size) throw new Error(`tokenTypeIds: ${f.ids[i]} at index ${i} is outside [0, ${c.type_vocab_size})`);
      }
      types.set(f.ids);
    }
    const positions = tf.slice(this.positionEmbeddings.table, [0, 0], [T, d]); // [T, d], broadcast over B
    const typeVecs = tf.reshape(this.tokenTypeEmbeddings.apply(tf.tensor1d(types, 'int32')), [B, T, d]);
    let h = this.drop(this.embLn.apply(tf.add(tf.add(words, typeVecs), positions)), c.hidden_dropout_prob, training);

    let mask: tf.Tensor4D | null = null;
    if (input.attentionMask) {
      const f = flattenIds(input.attentionMask, B, 'attentionMask');
      if (f.B !== B || f.T !== T) throw new Error(`attentionMask: shape [${f.B}, ${f.T}], the inputs are [${B}, ${T}]`);
      for (let i = 0; i < f.ids.length; i++) if (f.ids[i] !== 0 && f.ids[i] !== 1) throw new Error(`attentionMask: values must be 0/1, got ${f.ids[i]} at index ${i}`);
      mask = additiveKeyMask(f.ids, B, T);
    }
    const H = c.num_attention_heads;
    const D = d / H;
    const split = (x: tf.Tensor): tf.Tensor4D => tf.transpose(tf.reshape(x, [B, T, H, D]), [0, 2, 1, 3]);
    for (const l of this.layers) {
      const q = split(l.q.apply(h));
      const k = split(l.k.apply(h));
      const v = split(l.v.apply(h));
      // One fused kernel each way (engine fusedAttention); attention dropout is its keep multiplier.
      let keep: tf.Tensor | null = null;
      if (training && c.attention_probs_dropout_prob > 0) keep = this.dropout.mask([B, H, T, T], c.attention_probs_dropout_prob);
      const att = fusedAttention(q, k, v, { mask, scale: 1 / Math.sqrt(D), keep });
      const ctx = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [B, T, d]);
      h = l.attnLn.apply(tf.add(this.drop(l.attnOut.apply(ctx), c.hidden_dropout_prob, training), h));
      const ff = l.out.apply(this.act(l.inter.apply(h)));
      h = l.outLn.apply(tf.add(this.drop(ff, c.hidden_dropout_prob, training), h));
    }
    return h as tf.Tensor3D;
  }

  private forwardRaw(input: BertInput): BertOutput {
    const hidden = this.encodeRaw(input);
    const [B, T, d] = hidden.shape;
    const t = this.transformLn.apply(this.act(this.transform.apply(tf.reshape(hidden, [B * T, d])))) as tf.Tensor2D;
    const scores = this.decoder ? this.decoder.apply(t) : tf.matMul(t, this.wordEmbeddings.table, false, true);
    const logits = tf.reshape(tf.add(scores, this.decoderBias), [B, T, this.vocabSize]) as tf.Tensor3D;
    return { hidden, logits };
  }

  /** Encoder output [B, T, d] and MLM logits [B, T, V]. */
  forward(input: BertInput): BertOutput {
    return tf.tidy(() => this.forwardRaw(input));
  }

  /** Mean MLM cross-entropy over the labels that are not -100 (torch's CrossEntropyLoss(ignore_index=-100)). */
  mlmLoss(input: BertMlmInput): tf.Scalar {
    return tf.tidy(() => {
      const { logits } = this.forwardRaw(input);
      const lab = flattenIds(input.labels, logits.shape[0], 'labels');
      if (lab.B !== logits.shape[0] || lab.T !== logits.shape[1]) throw new Error(`BERT mlmLoss: labels [${lab.B}, ${lab.T}] do not match logits [${logits.shape.slice(0, 2)}]`);
      return maskedCrossEntropy(logits, lab.ids);
    });
  }

  dispose(): void {
    this.store.dispose();
  }
}
