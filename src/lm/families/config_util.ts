/**
 * Config objects of the language-model families: Hugging Face `config.json`
 * field names, validated by zod with HF's defaults filled in, unknown fields
 * kept (HF configs carry many) so a config round-trips to JSON unchanged.
 *
 * Every parsed config is also bounded before any weight is allocated (a
 * config.json is input like any other, docs/HOSTILE.md): each size field has
 * a maximum (DIMENSION_LIMITS) and the parameter count the config implies
 * (`minParamCount`, a lower bound) must stay under `maxParams()`.
 */
import type { z } from 'zod';
import { parseWith } from '../../util/validate.js';

/** Parses `json` with `schema`; errors name the source and every bad field. */
export function parseConfig<S extends z.ZodType>(schema: S, json: unknown, source = 'config'): z.output<S> {
  const parsed = parseWith(schema, json, 'invalid model config', source);
  checkConfigBounds(parsed as Record<string, unknown>, source);
  return parsed;
}

/**
 * Largest accepted value of each size field of the families' configs. Far
 * above any published checkpoint of these families (LLaMA-3-405B: hidden
 * 16384, 126 layers, vocab 128256; Qwen2: vocab 152064), far below sizes
 * that cannot be allocated as typed arrays.
 */
export const DIMENSION_LIMITS: Readonly<Record<string, number>> = {
  vocab_size: 1 << 22,
  hidden_size: 1 << 16,
  n_embd: 1 << 16,
  d_model: 1 << 16,
  intermediate_size: 1 << 18,
  n_inner: 1 << 18,
  d_ff: 1 << 18,
  d_kv: 1 << 13,
  head_dim: 1 << 13,
  num_hidden_layers: 1024,
  n_layer: 1024,
  num_layers: 1024,
  num_decoder_layers: 1024,
  num_attention_heads: 1024,
  num_key_value_heads: 1024,
  n_head: 1024,
  num_heads: 1024,
  max_position_embeddings: 1 << 20,
  n_positions: 1 << 20,
  type_vocab_size: 1 << 16,
  relative_attention_num_buckets: 1 << 12,
  relative_attention_max_distance: 1 << 20,
};

/** Default of `maxParams()`: 2^31 parameters (8 GiB as f32). */
export const DEFAULT_MAX_PARAMS = 2 ** 31;

/** The parameter budget: env LLMREC_MAX_PARAMS (a positive integer), else DEFAULT_MAX_PARAMS. */
export function maxParams(): number {
  const env = process.env.LLMREC_MAX_PARAMS;
  if (env === undefined || env === '') return DEFAULT_MAX_PARAMS;
  const n = Number(env);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`LLMREC_MAX_PARAMS must be a positive integer, got '${env}'`);
  return n;
}

const num = (c: Record<string, unknown>, k: string): number | undefined => (typeof c[k] === 'number' ? (c[k] as number) : undefined);

/**
 * A lower bound of the parameter count a parsed config implies (embeddings,
 * attention and MLP matrices; biases and norms left out), by model_type;
 * 0 for a type it does not know.
 */
export function minParamCount(c: Record<string, unknown>): number {
  const mt = c.model_type;
  const V = num(c, 'vocab_size') ?? 0;
  switch (mt) {
    case 'llama': case 'mistral': case 'qwen2': {
      const d = num(c, 'hidden_size') ?? 0;
      const H = num(c, 'num_attention_heads') ?? 1;
      const G = num(c, 'num_key_value_heads') ?? H;
      const hd = num(c, 'head_dim') ?? d / H;
      const ff = num(c, 'intermediate_size') ?? 0;
      const L = num(c, 'num_hidden_layers') ?? 0;
      const layer = 2 * d * H * hd + 2 * d * G * hd + 3 * d * ff;
      return V * d * (c.tie_word_embeddings === true ? 1 : 2) + L * layer;
    }
    case 'gpt2': {
      const d = num(c, 'n_embd') ?? 0;
      const inner = num(c, 'n_inner') ?? 4 * d;
      const L = num(c, 'n_layer') ?? 0;
      return V * d + (num(c, 'n_positions') ?? 0) * d + L * (4 * d * d + 2 * d * inner);
    }
    case 't5': {
      const d = num(c, 'd_model') ?? 0;
      const inner = (num(c, 'num_heads') ?? 0) * (num(c, 'd_kv') ?? 0);
      const ff = num(c, 'd_ff') ?? 0;
      const Le = num(c, 'num_layers') ?? 0;
      const Ld = num(c, 'num_decoder_layers') ?? Le;
      return V * d + Le * (4 * d * inner + 2 * d * ff) + Ld * (8 * d * inner + 2 * d * ff);
    }
    case 'bert': {
      const d = num(c, 'hidden_size') ?? 0;
      const ff = num(c, 'intermediate_size') ?? 0;
      const L = num(c, 'num_hidden_layers') ?? 0;
      return V * d + (num(c, 'max_position_embeddings') ?? 0) * d + L * (4 * d * d + 2 * d * ff);
    }
    default:
      return 0;
  }
}

/**
 * Throws when a size field is above DIMENSION_LIMITS or the implied
 * parameter count above maxParams(), naming the source and the field, e.g.
 * `invalid model config m/config.json: hidden_size 1000000000 is out of range (max 65536)`.
 */
export function checkConfigBounds(c: Record<string, unknown>, source = 'config'): void {
  for (const [k, max] of Object.entries(DIMENSION_LIMITS)) {
    const v = c[k];
    if (typeof v === 'number' && v > max) throw new Error(`invalid model config ${source}: ${k} ${v} is out of range (max ${max})`);
  }
  const n = minParamCount(c);
  const budget = maxParams();
  if (n > budget) {
    throw new Error(`invalid model config ${source}: the sizes imply at least ${n} parameters, more than the limit of ${budget} (env LLMREC_MAX_PARAMS)`);
  }
}

/** A JSON-safe copy without undefined fields. */
export function configToJSON(cfg: object): Record<string, unknown> {
  return JSON.parse(JSON.stringify(cfg)) as Record<string, unknown>;
}
