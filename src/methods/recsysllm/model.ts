/**
 * The RecSysLLM network: a GPT-2 decoder whose learned absolute position
 * table is the *inter*-position table, plus a second learned table of
 * *intra*-positions (GLM's block positions) added to the token embeddings;
 * Part A of a sequence is attended bidirectionally (GLM). Saved as a Hugging
 * Face GPT-2 folder with one extra tensor,
 * `transformer.intra_position_embeddings.weight`, and a `recsysllm` field in
 * config.json ({ intra_positions, entity_aware }).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../engine/index.js';
import { Embedding } from '../../nn/index.js';
import { readSafetensors, type SafeTensor } from '../../io/safetensors.js';
import { readConfig, savePretrained, weightFiles } from '../../lm/checkpoint.js';
import type { DecoderOutput, KVCache } from '../../lm/families/decoder.js';
import { Gpt2LMHeadModel, parseGpt2Config } from '../../lm/families/gpt2.js';
import { lookupEmbeddings } from '../../lm/families/common.js';
import { loadStateDict } from '../../lm/state_dict.js';
import { Tokenizer } from '../../lm/tokenizer/index.js';
import { addGlmMaskTokens } from '../../lm/tokenizer/special.js';
import type { GlmTokens } from './masking.js';

export const INTRA_TABLE = 'transformer.intra_position_embeddings';
/** GLM's span start / end tokens. */
export const SPAN_START_TOKEN = '<|startofpiece|>';
export const SPAN_END_TOKEN = '<|endofpiece|>';

export interface RecSysModelOptions {
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  /** Inter-position table size (longest sequence). */
  maxPositions: number;
  /** Intra-position table size (longest entity or span + 2). */
  intraPositions: number;
  /** Recorded in the config: whether it was trained with the entity-aware mechanisms. */
  entityAware: boolean;
  dropout: number;
  seed: number;
}

export interface RecSysForward {
  ids: Int32Array;
  inter: Int32Array;
  intra: Int32Array;
  B: number;
  /** 1 real / 0 padding per token (default all real). */
  attention?: ArrayLike<number>;
  /** Part A length per row (bidirectional). */
  prefix?: ArrayLike<number>;
  cache?: KVCache;
  useCache?: boolean;
  training?: boolean;
  lastLogitsOnly?: boolean;
}

export class RecSysLM {
  readonly intra: Embedding;
  private constructor(readonly lm: Gpt2LMHeadModel, readonly intraPositions: number, readonly entityAware: boolean) {
    this.intra = new Embedding(lm.store, INTRA_TABLE, intraPositions, lm.hiddenSize, lm.config.initializer_range);
  }

  static create(o: RecSysModelOptions, tok?: { bos?: number; eos?: number; pad?: number }): RecSysLM {
    const config = parseGpt2Config({
      model_type: 'gpt2', vocab_size: o.vocabSize, n_positions: o.maxPositions, n_embd: o.hiddenSize, n_layer: o.layers, n_head: o.heads,
      resid_pdrop: o.dropout, embd_pdrop: o.dropout, attn_pdrop: o.dropout,
      bos_token_id: tok?.bos ?? null, eos_token_id: tok?.eos ?? null, pad_token_id: tok?.pad ?? null,
      recsysllm: { intra_positions: o.intraPositions, entity_aware: o.entityAware },
    });
    return new RecSysLM(new Gpt2LMHeadModel(config, { seed: o.seed }), o.intraPositions, o.entityAware);
  }

  /** Loads a folder written by `save` (config.json + model.safetensors). */
  static load(dir: string): RecSysLM {
    const cfg = readConfig(dir);
    const r = cfg.recsysllm as { intra_positions?: unknown; entity_aware?: unknown } | undefined;
    if (!r || typeof r.intra_positions !== 'number' || typeof r.entity_aware !== 'boolean') {
      throw new Error(`checkpoint ${join(dir, 'config.json')}: field 'recsysllm' ({ intra_positions, entity_aware }) is missing; not a RecSysLLM model`);
    }
    const config = parseGpt2Config(cfg, join(dir, 'config.json'));
    const m = new RecSysLM(new Gpt2LMHeadModel(config, { init: 'zeros' }), r.intra_positions, r.entity_aware);
    try {
      const tensors = new Map<string, SafeTensor>();
      for (const f of weightFiles(dir)) for (const [name, t] of readSafetensors(f).tensors) tensors.set(name, t);
      const rep = loadStateDict(m.lm.store, tensors, { strict: true, ignore: (n) => m.lm.stateDictIgnore(n), source: dir });
      if (rep.unexpected.length > 0) throw new Error(`checkpoint ${dir}: unexpected tensors ${rep.unexpected.slice(0, 8).join(', ')}`);
      return m;
    } catch (e) {
      m.dispose();
      throw e;
    }
  }

  save(dir: string): void {
    savePretrained(this.lm, dir);
  }

  get store() { return this.lm.store; }
  get maxPositions(): number { return this.lm.config.n_positions; }

  /** Token + intra-position embeddings; the inter positions go to GPT-2's own table. Tidy. */
  forward(f: RecSysForward): DecoderOutput {
    const T = f.ids.length / f.B;
    for (const p of f.intra) if (p < 0 || p >= this.intraPositions) throw new Error(`intra-position ${p} is outside [0, ${this.intraPositions}) (a longer entity or span than the table allows)`);
    const x = tf.tidy(() => tf.add(this.lm.embed(f.ids, f.B), lookupEmbeddings(this.intra, f.intra, f.B, T)) as tf.Tensor3D);
    try {
      return this.lm.forward({
        inputsEmbeds: x, positionIds: f.inter, attentionMask: f.attention, prefixLength: f.prefix,
        cache: f.cache, useCache: f.useCache, training: f.training, lastLogitsOnly: f.lastLogitsOnly,
      });
    } finally {
      // Inside a gradient tape x must live until the backward pass; tf's tape keeps what it needs.
      if (!f.training) x.dispose();
    }
  }

  dispose(): void {
    this.lm.dispose();
  }
}

/** Adds (idempotently) the infilling tokens to a tokenizer and returns their ids. */
export function glmTokens(tok: Tokenizer): GlmTokens {
  const [mask, sentenceMask, gMask] = addGlmMaskTokens(tok);
  const [start, end] = tok.addSpecialTokens([SPAN_START_TOKEN, SPAN_END_TOKEN]);
  const pad = tok.specialTokens.pad?.id;
  if (pad === undefined) throw new Error('RecSysLLM: the tokenizer has no pad token');
  return { mask, sentenceMask, gMask, start, end, pad };
}

/** Whether a folder holds a finished RecSysLLM model. */
export function isRecSysModel(dir: string): boolean {
  if (!existsSync(join(dir, 'config.json'))) return false;
  try {
    return typeof (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>).recsysllm === 'object';
  } catch {
    return false;
  }
}
