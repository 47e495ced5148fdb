/**
 * GPT-2: learned absolute positions, pre-LayerNorm blocks, GELU (tanh
 * approximation, `gelu_new`), Conv1D weights stored [in, out], tied LM head.
 * Parameter names follow Hugging Face's GPT2LMHeadModel (`transformer.h.0.attn.c_attn.weight`).
 */
import { z } from 'zod';
import { tf } from '../../engine/index.js';
import { Embedding, LayerNorm, Linear, ParamStore } from '../../nn/index.js';
import { configToJSON, parseConfig } from './config_util.js';
import {
  attend, attentionMask, type CausalLM, type DecoderInput, type DecoderOutput, extendKv, headInput, inputVectors, makeCache,
  blockTidy, mergeHeads, resolveSteps, splitHeads, tidyForward,
} from './decoder.js';
import { hfActivation, lookupEmbeddings, SeededDropout } from './common.js';
import type { ModelInitOptions } from './llama.js';

export const Gpt2ConfigSchema = z.looseObject({
  model_type: z.literal('gpt2').default('gpt2'),
  vocab_size: z.number().int().positive().default(50257),
  n_positions: z.number().int().positive().default(1024),
  n_embd: z.number().int().positive().default(768),
  n_layer: z.number().int().positive().default(12),
  n_head: z.number().int().positive().default(12),
  n_inner: z.number().int().positive().nullable().default(null),
  activation_function: z.enum(['gelu_new', 'gelu_pytorch_tanh', 'gelu', 'relu']).default('gelu_new'),
  resid_pdrop: z.number().min(0).max(1).default(0.1),
  embd_pdrop: z.number().min(0).max(1).default(0.1),
  attn_pdrop: z.number().min(0).max(1).default(0.1),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  initializer_range: z.number().positive().default(0.02),
  scale_attn_weights: z.boolean().default(true),
  tie_word_embeddings: z.boolean().default(true),
  bos_token_id: z.number().int().nullable().optional(),
  eos_token_id: z.number().int().nullable().optional(),
  pad_token_id: z.number().int().nullable().optional(),
});

export type Gpt2Config = z.output<typeof Gpt2ConfigSchema>;

export function parseGpt2Config(json: unknown, source?: string): Gpt2Config {
  const cfg = parseConfig(Gpt2ConfigSchema, json, source);
  if (cfg.n_embd % cfg.n_head !== 0) throw new Error(`invalid model config ${source ?? 'config'}: n_embd ${cfg.n_embd} is not divisible by n_head ${cfg.n_head}`);
  if (!cfg.tie_word_embeddings) throw new Error(`invalid model config ${source ?? 'config'}: GPT-2 with an untied LM head is not supported`);
  return cfg;
}

interface Gpt2Block { ln1: LayerNorm; attn: Linear; proj: Linear; ln2: LayerNorm; fc: Linear; out: Linear }

export class Gpt2LMHeadModel implements CausalLM {
  readonly family = 'gpt2';
  readonly store: ParamStore;
  readonly config: Gpt2Config;
  readonly hiddenSize: number;
  readonly vocabSize: number;
  private readonly wte: Embedding;
  private readonly wpe: Embedding;
  private readonly blocks: Gpt2Block[];
  private readonly lnF: LayerNorm;
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  private readonly dropout: SeededDropout;

  constructor(config: Gpt2Config, opts: ModelInitOptions = {}) {
    this.config = config;
    const c = config;
    const s = this.store = new ParamStore(opts.seed ?? 0);
    this.dropout = new SeededDropout(((opts.seed ?? 0) ^ 0x5eed_d70b) >>> 0, s);
    const d = this.hiddenSize = c.n_embd;
    this.vocabSize = c.vocab_size;
    const zero = opts.init === 'zeros';
    const std = zero ? 0 : c.initializer_range;
    const w = zero ? { kind: 'zeros' as const } : { kind: 'normal' as const, std };
    // GPT-2 scales the init of residual projections by 1/sqrt(2 n_layer).
    const wRes = zero ? w : { kind: 'normal' as const, std: std / Math.sqrt(2 * c.n_layer) };
    const inner = c.n_inner ?? 4 * d;
    this.wte = new Embedding(s, 'transformer.wte', c.vocab_size, d, std);
    this.wpe = new Embedding(s, 'transformer.wpe', c.n_positions, d, std);
    this.blocks = Array.from({ length: c.n_layer }, (_, i) => {
      const p = `transformer.h.${i}`;
      return {
        ln1: new LayerNorm(s, `${p}.ln_1`, d, c.layer_norm_epsilon),
        attn: new Linear(s, `${p}.attn.c_attn`, d, 3 * d, true, 'in_out', w),
        proj: new Linear(s, `${p}.attn.c_proj`, d, d, true, 'in_out', wRes),
        ln2: new LayerNorm(s, `${p}.ln_2`, d, c.layer_norm_epsilon),
        fc: new Linear(s, `${p}.mlp.c_fc`, d, inner, true, 'in_out', w),
        out: new Linear(s, `${p}.mlp.c_proj`, inner, d, true, 'in_out', wRes),
      };
    });
    this.lnF = new LayerNorm(s, 'transformer.ln_f', d, c.layer_norm_epsilon);
    this.act = hfActivation(c.activation_function);
  }

  configJSON(): Record<string, unknown> {
    return { architectures: ['GPT2LMHeadModel'], ...configToJSON(this.config) };
  }

  /** Attention-mask buffers and the tied head are not parameters here. */
  stateDictIgnore(name: string): boolean {
    return /\.attn\.(masked_)?bias$/.test(name) || name === 'lm_head.weight';
  }

  embed(ids: Int32Array, batch: number): tf.Tensor3D {
    return lookupEmbeddings(this.wte, ids, batch, ids.length / batch);
  }


  /** Tidy: only logits, hidden and the new cache (kept) outlive the call. */
  forward(input: DecoderInput): DecoderOutput {
    return tidyForward(() => this.forwardRaw(input));
  }

  private forwardRaw(input: DecoderInput): DecoderOutput {
    const v = inputVectors(input, (ids, b) => this.embed(ids, b));
    let x = v.x;
    const { B, T } = v;
    const { keyMask, positions, P } = resolveSteps(input, B, T);
    for (const p of positions) {
      if (p < 0 || p >= this.config.n_positions) throw new Error(`position id ${p} is outside GPT-2's n_positions ${this.config.n_positions}`);
    }
    const c = this.config;
    const d = this.hiddenSize;
    const H = c.n_head;
    const D = d / H;
    const train = input.training === true;
    const drop = (t: tf.Tensor, rate: number): tf.Tensor => (train && rate > 0 ? this.dropout.apply(t, rate) : t);
    x = drop(tf.add(x, tf.reshape(this.wpe.apply(tf.tensor1d(positions, 'int32')), [B, T, d])), c.embd_pdrop) as tf.Tensor3D;
    const mask = attentionMask(keyMask, B, T, P, undefined, input.prefixLength);
    const scale = c.scale_attn_weights ? 1 / Math.sqrt(D) : 1;
    const newLayers: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }> = [];
    this.blocks.forEach((b, i) => {
      const r = blockTidy(input.useCache, () => {
        const qkv = b.attn.apply(b.ln1.apply(x));
        const [q, k, v] = tf.split(qkv, 3, -1);
        const kv = extendKv(input.cache?.layers[i], splitHeads(k, B, T, H, D), splitHeads(v, B, T, H, D));
        const att = attend(splitHeads(q, B, T, H, D), kv.k, kv.v, mask, scale, train && c.attn_pdrop > 0 ? (shape) => this.dropout.mask(shape, c.attn_pdrop) : undefined);
        const y = tf.add(x, drop(b.proj.apply(mergeHeads(att, B, T, H, D)), c.resid_pdrop)) as tf.Tensor3D;
        return { x: tf.add(y, drop(b.out.apply(this.act(b.fc.apply(b.ln2.apply(y)))), c.resid_pdrop)) as tf.Tensor3D, kv };
      });
      x = r.x;
      if (r.kv) newLayers.push(r.kv);
    });
    const hidden = this.lnF.apply(x) as tf.Tensor3D;
    const h = headInput(hidden, input.lastLogitsOnly);
    const Th = h.shape[1];
    const logits = tf.reshape(tf.matMul(tf.reshape(h, [B * Th, d]), this.wte.table, false, true), [B, Th, this.vocabSize]) as tf.Tensor3D;
    const out: DecoderOutput = { logits, hidden };
    if (input.useCache) out.cache = makeCache(newLayers, keyMask, positions, B, T, input.cache);
    return out;
  }

  dispose(): void {
    this.store.dispose();
  }
}
