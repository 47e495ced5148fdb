/**
 * The LLaMA family of decoder-only LMs: RMSNorm, rotary positions (RoPE,
 * rotate-half layout), SwiGLU feed-forward and grouped-query attention, with
 * Hugging Face's parameter names (`model.layers.0.self_attn.q_proj.weight`,
 * ...). The same code covers Mistral (sliding window) and Qwen2 (biases on
 * q/k/v) configs.
 */
import { z } from 'zod';
import { rope, swiglu, tf } from '../../engine/index.js';
import { Embedding, Linear, ParamStore, RMSNorm } from '../../nn/index.js';
import { parseConfig, configToJSON } from './config_util.js';
import {
  attend, attentionMask, type CausalLM, type DecoderInput, type DecoderOutput, extendKv, headInput, inputVectors, makeCache,
  blockTidy, mergeHeads, repeatKv, resolveSteps, splitHeads, tidyForward,
} from './decoder.js';
import { lookupEmbeddings, SeededDropout } from './common.js';

const RopeScaling = z.union([z.null(), z.looseObject({ type: z.string().optional(), rope_type: z.string().optional(), factor: z.number().optional() })]);

export const LlamaConfigSchema = z.looseObject({
  model_type: z.enum(['llama', 'mistral', 'qwen2']).default('llama'),
  vocab_size: z.number().int().positive(),
  hidden_size: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_key_value_heads: z.number().int().positive().optional(),
  head_dim: z.number().int().positive().optional(),
  max_position_embeddings: z.number().int().positive().default(2048),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  rope_scaling: RopeScaling.optional(),
  hidden_act: z.literal('silu').default('silu'),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().default(false),
  attention_dropout: z.number().min(0).max(1).default(0),
  tie_word_embeddings: z.boolean().default(false),
  initializer_range: z.number().positive().default(0.02),
  sliding_window: z.number().int().positive().nullable().optional(),
  use_sliding_window: z.boolean().optional(),
  bos_token_id: z.number().int().nullable().optional(),
  eos_token_id: z.union([z.number().int(), z.array(z.number().int())]).nullable().optional(),
  pad_token_id: z.number().int().nullable().optional(),
});

export type LlamaConfig = z.output<typeof LlamaConfigSchema>;

export function parseLlamaConfig(json: unknown, source?: string): LlamaConfig {
  const cfg = parseConfig(LlamaConfigSchema, json, source);
  const scaling = cfg.rope_scaling;
  const kind = scaling ? (scaling.rope_type ?? scaling.type) : undefined;
  if (kind && kind !== 'default' && kind !== 'linear') {
    throw new Error(`invalid model config ${source ?? 'config'}: rope_scaling type '${kind}' is not supported (default and linear are)`);
  }
  const H = cfg.num_attention_heads;
  const G = cfg.num_key_value_heads ?? H;
  if (H % G !== 0) throw new Error(`invalid model config ${source ?? 'config'}: num_attention_heads ${H} is not a multiple of num_key_value_heads ${G}`);
  if (cfg.head_dim === undefined && cfg.hidden_size % H !== 0) {
    throw new Error(`invalid model config ${source ?? 'config'}: hidden_size ${cfg.hidden_size} is not divisible by num_attention_heads ${H}`);
  }
  return cfg;
}

interface LlamaLayer {
  inputNorm: RMSNorm;
  q: Linear; k: Linear; v: Linear; o: Linear;
  postNorm: RMSNorm;
  gate: Linear; up: Linear; down: Linear;
}

export interface ModelInitOptions {
  /** Seed of the random initialisation. */
  seed?: number;
  /** 'random' (HF's init) or 'zeros' (fast, for weights about to be loaded). */
  init?: 'random' | 'zeros';
}

export class LlamaForCausalLM implements CausalLM {
  readonly family = 'llama';
  readonly store: ParamStore;
  readonly config: LlamaConfig;
  readonly hiddenSize: number;
  readonly vocabSize: number;
  readonly headDim: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  private readonly embedTokens: Embedding;
  private readonly layers: LlamaLayer[];
  private readonly norm: RMSNorm;
  private readonly lmHead?: Linear;
  private rope: { cos: tf.Tensor2D; sin: tf.Tensor2D; size: number } | null = null;
  private readonly dropout: SeededDropout;

  constructor(config: LlamaConfig, opts: ModelInitOptions = {}) {
    this.config = config;
    const c = config;
    this.store = new ParamStore(opts.seed ?? 0);
    this.dropout = new SeededDropout(((opts.seed ?? 0) ^ 0x5eed_d70b) >>> 0, this.store);
    const std = c.initializer_range;
    const init = opts.init === 'zeros' ? { kind: 'zeros' as const } : { kind: 'normal' as const, std };
    const d = c.hidden_size;
    this.hiddenSize = d;
    this.vocabSize = c.vocab_size;
    this.numHeads = c.num_attention_heads;
    this.numKvHeads = c.num_key_value_heads ?? c.num_attention_heads;
    this.headDim = c.head_dim ?? d / c.num_attention_heads;
    const qkvBias = c.attention_bias ?? c.model_type === 'qwen2';
    const oBias = c.model_type === 'qwen2' ? false : (c.attention_bias ?? false);
    const s = this.store;
    this.embedTokens = new Embedding(s, 'model.embed_tokens', c.vocab_size, d, opts.init === 'zeros' ? 0 : std);
    this.layers = Array.from({ length: c.num_hidden_layers }, (_, i) => {
      const p = `model.layers.${i}`;
      const qd = this.numHeads * this.headDim;
      const kvd = this.numKvHeads * this.headDim;
      return {
        inputNorm: new RMSNorm(s, `${p}.input_layernorm`, d, c.rms_norm_eps),
        q: new Linear(s, `${p}.self_attn.q_proj`, d, qd, qkvBias, 'out_in', init),
        k: new Linear(s, `${p}.self_attn.k_proj`, d, kvd, qkvBias, 'out_in', init),
        v: new Linear(s, `${p}.self_attn.v_proj`, d, kvd, qkvBias, 'out_in', init),
        o: new Linear(s, `${p}.self_attn.o_proj`, qd, d, oBias, 'out_in', init),
        postNorm: new RMSNorm(s, `${p}.post_attention_layernorm`, d, c.rms_norm_eps),
        gate: new Linear(s, `${p}.mlp.gate_proj`, d, c.intermediate_size, c.mlp_bias, 'out_in', init),
        up: new Linear(s, `${p}.mlp.up_proj`, d, c.intermediate_size, c.mlp_bias, 'out_in', init),
        down: new Linear(s, `${p}.mlp.down_proj`, c.intermediate_size, d, c.mlp_bias, 'out_in', init),
      };
    });
    this.norm = new RMSNorm(s, 'model.norm', d, c.rms_norm_eps);
    if (!c.tie_word_embeddings) this.lmHead = new Linear(s, 'lm_head', d, c.vocab_size, false, 'out_in', init);
  }

  configJSON(): Record<string, unknown> {
    return { architectures: [this.config.model_type === 'qwen2' ? 'Qwen2ForCausalLM' : this.config.model_type === 'mistral' ? 'MistralForCausalLM' : 'LlamaForCausalLM'], ...configToJSON(this.config) };
  }

  stateDictIgnore(name: string): boolean {
    return name.endsWith('rotary_emb.inv_freq') || (this.config.tie_word_embeddings && name === 'lm_head.weight');
  }

  embed(ids: Int32Array, batch: number): tf.Tensor3D {
    return lookupEmbeddings(this.embedTokens, ids, batch, ids.length / batch);
  }

  /** cos/sin rows for position ids [B*T] → [B, 1, T, D] each (tables grown on demand, kept). */
  private ropeAt(positions: Int32Array, B: number, T: number): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
    let max = 0;
    for (const p of positions) {
      if (p < 0) throw new Error(`position id ${p} is negative`);
      if (p > max) max = p;
    }
    if (!this.rope || this.rope.size <= max) {
      const size = Math.max(max + 1, this.rope ? this.rope.size * 2 : 256);
      if (this.rope) tf.dispose([this.rope.cos, this.rope.sin]);
      const D = this.headDim;
      const half = D / 2;
      const scaling = this.config.rope_scaling;
      const factor = scaling && (scaling.rope_type ?? scaling.type) === 'linear' ? (scaling.factor ?? 1) : 1;
      // inv_freq in float32 as PyTorch computes it, then t * inv_freq in float32.
      const inv = new Float32Array(half);
      for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(this.config.rope_theta, (2 * i) / D);
      const cos = new Float32Array(size * D);
      const sin = new Float32Array(size * D);
      const f = new Float32Array(1);
      for (let t = 0; t < size; t++) {
        for (let i = 0; i < half; i++) {
          f[0] = (t / factor) * inv[i];
          cos[t * D + i] = cos[t * D + i + half] = Math.cos(f[0]);
          sin[t * D + i] = sin[t * D + i + half] = Math.sin(f[0]);
        }
      }
      this.rope = { cos: tf.keep(tf.tensor2d(cos, [size, D])), sin: tf.keep(tf.tensor2d(sin, [size, D])), size };
    }
    const idx = tf.tensor1d(positions, 'int32');
    const shape: [number, number, number, number] = [B, 1, T, this.headDim];
    return { cos: tf.reshape(tf.gather(this.rope.cos, idx), shape), sin: tf.reshape(tf.gather(this.rope.sin, idx), shape) };
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
    const c = this.config;
    const window = c.model_type === 'mistral' || c.use_sliding_window ? (c.sliding_window ?? undefined) : undefined;
    const mask = attentionMask(keyMask, B, T, P, window, input.prefixLength);
    const { cos, sin } = this.ropeAt(positions, B, T);
    const H = this.numHeads;
    const G = this.numKvHeads;
    const D = this.headDim;
    const rotate = (t: tf.Tensor4D): tf.Tensor4D => rope(t, cos, sin) as tf.Tensor4D;
    const newLayers: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }> = [];
    const rate = input.training ? c.attention_dropout : 0;
    const drop = rate > 0 ? (shape: number[]) => this.dropout.mask(shape, rate) : undefined;
    this.layers.forEach((l, i) => {
      const r = blockTidy(input.useCache, () => {
        const h = l.inputNorm.apply(x);
        const q = rotate(splitHeads(l.q.apply(h), B, T, H, D));
        const kNew = rotate(splitHeads(l.k.apply(h), B, T, G, D));
        const vNew = splitHeads(l.v.apply(h), B, T, G, D);
        const kv = extendKv(input.cache?.layers[i], kNew, vNew);
        const att = attend(q, repeatKv(kv.k, H), repeatKv(kv.v, H), mask, 1 / Math.sqrt(D), drop);
        const y = tf.add(x, l.o.apply(mergeHeads(att, B, T, H, D))) as tf.Tensor3D;
        const h2 = l.postNorm.apply(y);
        return { x: tf.add(y, l.down.apply(swiglu(l.gate.apply(h2), l.up.apply(h2)))) as tf.Tensor3D, kv };
      });
      x = r.x;
      if (r.kv) newLayers.push(r.kv);
    });
    const hidden = this.norm.apply(x) as tf.Tensor3D;
    const h = headInput(hidden, input.lastLogitsOnly);
    const Th = h.shape[1];
    const logits = this.lmHead
      ? this.lmHead.apply(h) as tf.Tensor3D
      : tf.reshape(tf.matMul(tf.reshape(h, [B * Th, this.hiddenSize]), this.embedTokens.table, false, true), [B, Th, this.vocabSize]) as tf.Tensor3D;
    const out: DecoderOutput = { logits, hidden };
    if (input.useCache) out.cache = makeCache(newLayers, keyMask, positions, B, T, input.cache);
    return out;
  }

  dispose(): void {
    this.store.dispose();
    if (this.rope) tf.dispose([this.rope.cos, this.rope.sin]);
    this.rope = null;
  }
}
