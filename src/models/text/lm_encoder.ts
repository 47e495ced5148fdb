/**
 * Item text encoders over the LM core (docs/METHODS.md §3.10): a BERT
 * (`BertForMaskedLM`, last encoder layer) or a T5 (`T5Model.encode`, the
 * encoder's final hidden states) loaded from a Hugging Face folder by
 * src/lm `loadPretrained` - a user-supplied BERT folder, or our BERT/T5
 * trained on the dataset's item text - with its tokenizer.json. A text's row
 * is the mean of the hidden states of its non-pad tokens (`meanPool`),
 * optionally L2-normalised. Texts are cut to `maxTokens` tokens; an empty
 * text gives zeros (the id-only fallback).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadPretrained } from '../../lm/checkpoint.js';
import { BertForMaskedLM } from '../../lm/families/bert.js';
import { T5Model } from '../../lm/families/t5.js';
import { Tokenizer } from '../../lm/tokenizer/index.js';
import type { ItemTextEncoder } from './types.js';

/**
 * Mean of hidden [B, T, d] over the positions with mask 1 ([B * T], 1 real
 * token, 0 padding): [B * d]. A row without real tokens is zeros.
 */
export function meanPool(hidden: Float32Array, mask: ArrayLike<number>, B: number, T: number, d: number): Float32Array {
  if (hidden.length !== B * T * d || mask.length !== B * T) throw new Error(`meanPool: hidden has ${hidden.length} values and mask ${mask.length}, expected ${B}x${T}x${d} and ${B}x${T}`);
  const out = new Float32Array(B * d);
  for (let b = 0; b < B; b++) {
    let n = 0;
    const acc = new Float64Array(d);
    for (let t = 0; t < T; t++) {
      if (!mask[b * T + t]) continue;
      n++;
      const o = (b * T + t) * d;
      for (let j = 0; j < d; j++) acc[j] += hidden[o + j];
    }
    if (n > 0) for (let j = 0; j < d; j++) out[b * d + j] = acc[j] / n;
  }
  return out;
}

export interface LmEncoderOptions {
  /** Longest token sequence per text (default 64). */
  maxTokens?: number;
  /** Texts per forward pass (default 32). */
  batchSize?: number;
  /** L2-normalise every row (default true). */
  normalize?: boolean;
}

type EncoderModel = { kind: 'bert'; model: BertForMaskedLM } | { kind: 't5'; model: T5Model };

export class LmTextEncoder implements ItemTextEncoder {
  readonly name: string;
  readonly dim: number;
  readonly identity: string;
  private readonly tok: Tokenizer;
  private readonly m: EncoderModel;
  private readonly maxTokens: number;
  private readonly batchSize: number;
  private readonly normalize: boolean;
  private readonly padId: number;

  constructor(model: BertForMaskedLM | T5Model, tokenizer: Tokenizer, identity: string, opts: LmEncoderOptions = {}) {
    this.maxTokens = opts.maxTokens ?? 64;
    this.batchSize = opts.batchSize ?? 32;
    this.normalize = opts.normalize ?? true;
    if (!Number.isInteger(this.maxTokens) || this.maxTokens < 1) throw new Error(`LmTextEncoder: maxTokens must be a positive integer, got ${this.maxTokens}`);
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new Error(`LmTextEncoder: batchSize must be a positive integer, got ${this.batchSize}`);
    if (model instanceof BertForMaskedLM) {
      this.m = { kind: 'bert', model };
      this.dim = model.hiddenSize;
    } else {
      this.m = { kind: 't5', model };
      this.dim = model.config.d_model;
    }
    this.tok = tokenizer;
    this.padId = tokenizer.specialTokens.pad?.id ?? 0;
    this.name = `lm:${this.m.kind}`;
    this.identity = `${this.name}:${identity}:maxTokens=${this.maxTokens}:normalize=${this.normalize}`;
  }

  /** Loads a BERT or T5 folder (config.json, model.safetensors, tokenizer.json) through src/lm. */
  static fromFolder(dir: string, opts: LmEncoderOptions = {}): LmTextEncoder {
    const { model } = loadPretrained(dir);
    if (!(model instanceof BertForMaskedLM) && !(model instanceof T5Model)) {
      const type = (model as { constructor: { name: string } }).constructor.name;
      throw new Error(`${join(dir, 'config.json')}: item text encoders take a BERT or T5 checkpoint, this is ${type}`);
    }
    const tok = Tokenizer.fromFile(dir);
    // Identity: the folder's weights and tokenizer (size + mtime + the config's hash).
    const h = createHash('sha256').update(readFileSync(join(dir, 'config.json')));
    for (const f of ['model.safetensors', 'tokenizer.json']) {
      try {
        const st = statSync(join(dir, f));
        h.update(`${f}:${st.size}:${st.mtimeMs}`);
      } catch {
        h.update(`${f}:none`);
      }
    }
    return new LmTextEncoder(model, tok, h.digest('hex').slice(0, 16), opts);
  }

  /** Token ids of one text without padding (special tokens as the tokenizer adds them), cut to maxTokens. */
  private ids(text: string): number[] {
    if (text === '') return [];
    return this.tok.encode(text).slice(0, this.maxTokens);
  }

  encode(texts: readonly string[]): Float32Array {
    const D = this.dim;
    const out = new Float32Array(texts.length * D);
    for (let start = 0; start < texts.length; start += this.batchSize) {
      const chunk = texts.slice(start, start + this.batchSize).map((t) => this.ids(t));
      const B = chunk.length;
      const T = Math.max(1, ...chunk.map((c) => c.length));
      const ids = new Int32Array(B * T).fill(this.padId);
      const mask = new Int32Array(B * T);
      chunk.forEach((c, b) => { ids.set(c, b * T); mask.fill(1, b * T, b * T + c.length); });
      const hidden = this.m.kind === 'bert'
        ? (() => { const o = this.m.model.forward({ inputIds: ids, batch: B, attentionMask: mask }); o.logits.dispose(); return o.hidden; })()
        : this.m.model.encode({ inputIds: ids, batch: B, attentionMask: mask });
      const h = hidden.dataSync() as Float32Array;
      hidden.dispose();
      out.set(meanPool(h, mask, B, T, D), start * D);
    }
    if (this.normalize) {
      for (let i = 0; i < texts.length; i++) {
        let n = 0;
        for (let j = 0; j < D; j++) n += out[i * D + j] ** 2;
        n = Math.sqrt(n);
        if (n > 0) for (let j = 0; j < D; j++) out[i * D + j] /= n;
      }
    }
    return out;
  }

  dispose(): void {
    this.m.model.dispose();
  }
}
