/** The generator of GANPrompt stage 1: a small T5 and its tokenizer, batches, z (methods/ganprompt/diversity.ts). */
import { tf } from '../../../engine/index.js';
import type { SplitDataset } from '../../../data/types.js';
import { loadPretrained, savePretrained } from '../../../lm/checkpoint.js';
import { itemTitle } from '../../text_lm/corpus.js';
import { parseT5Config, T5Model } from '../../../lm/families/t5.js';
import { IGNORE_INDEX } from '../../../lm/loss.js';
import { Tokenizer, trainBpe } from '../../../lm/tokenizer/index.js';
import { writeDirAtomic } from '../../../util/fs.js';
import { mixSeed } from '../../../util/random.js';
import type { DiversityStageOptions } from './options.js';

/** The generator: a T5 encoder-decoder and its tokenizer. */
export interface Generator {
  model: T5Model;
  tokenizer: Tokenizer;
}

/** A batch of texts as T5 inputs: ids (pad-filled) + eos, 0/1 mask, labels (-100 on padding). */
export interface EncodedBatch {
  B: number;
  S: number;
  ids: Int32Array;
  mask: Int32Array;
  labels: Int32Array;
  /** Class of each row (-1 when unlabelled). */
  classes: Int32Array;
}

function specialId(tok: Tokenizer, role: 'eos' | 'pad'): number {
  const id = tok.specialTokens[role]?.id;
  if (id === undefined) throw new Error(`generator tokenizer ${tok.source} has no ${role} token`);
  return id;
}

/** Token ids of a text for the generator: no special tokens, cut to maxTokens - 1, then eos. */
export function textIds(tok: Tokenizer, text: string, maxTokens: number): number[] {
  const ids = tok.encode(text, { addSpecialTokens: false }).slice(0, Math.max(0, maxTokens - 1));
  ids.push(specialId(tok, 'eos'));
  return ids;
}

export function encodeBatch(gen: Generator, texts: readonly string[], maxTokens: number, classes?: ArrayLike<number>): EncodedBatch {
  const rows = texts.map((t) => textIds(gen.tokenizer, t, maxTokens));
  const B = rows.length;
  const S = Math.max(1, ...rows.map((r) => r.length));
  const pad = gen.model.config.pad_token_id;
  const ids = new Int32Array(B * S).fill(pad);
  const mask = new Int32Array(B * S);
  const labels = new Int32Array(B * S).fill(IGNORE_INDEX);
  rows.forEach((r, b) => { ids.set(r, b * S); labels.set(r, b * S); mask.fill(1, b * S, b * S + r.length); });
  return { B, S, ids, mask, labels, classes: classes ? Int32Array.from(classes) : new Int32Array(B).fill(-1) };
}

/** Mean of hidden [B, S, d] over the positions where mask is 1 -> [B, d]. */
export function meanPool(hidden: tf.Tensor3D, mask: Int32Array): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, S] = hidden.shape;
    const m = tf.tensor3d(Float32Array.from(mask), [B, S, 1]);
    return tf.div(tf.sum(tf.mul(hidden, m), 1), tf.maximum(tf.sum(m, 1), 1)) as tf.Tensor2D;
  });
}

/** z = mean-pooled encoder states [B, d_model] of a batch (differentiable). */
export function encodeZ(gen: Generator, b: EncodedBatch, training = false): tf.Tensor2D {
  return tf.tidy(() => meanPool(gen.model.encode({ inputIds: b.ids, batch: b.B, attentionMask: b.mask, training }), b.mask));
}

/** The T5 reconstruction loss of a batch (encoder input = text, labels = text, teacher forcing); optional precomputed encoder states. */
export function seq2seqLoss(gen: Generator, b: EncodedBatch, training: boolean, encoderHidden?: tf.Tensor3D): tf.Scalar {
  return gen.model.loss({ inputIds: b.ids, batch: b.B, attentionMask: b.mask, labels: b.labels, encoderHidden, training });
}

/** A small T5 generator with the options' sizes over `tokenizer` (pad = decoder start, eos from the tokenizer). */
export function createGenerator(tokenizer: Tokenizer, o: Pick<DiversityStageOptions, 'dModel' | 'dKv' | 'dFf' | 'heads' | 'encoderLayers' | 'decoderLayers' | 'dropout' | 'seed'>): Generator {
  const config = parseT5Config({
    model_type: 't5', vocab_size: tokenizer.vocabSize, d_model: o.dModel, d_kv: o.dKv, d_ff: o.dFf, num_heads: o.heads,
    num_layers: o.encoderLayers, num_decoder_layers: o.decoderLayers, dropout_rate: o.dropout, feed_forward_proj: 'relu',
    tie_word_embeddings: true, pad_token_id: specialId(tokenizer, 'pad'), eos_token_id: specialId(tokenizer, 'eos'),
    relative_attention_num_buckets: 32, relative_attention_max_distance: 128,
  });
  return { model: new T5Model(config, { seed: mixSeed(o.seed, 31) }), tokenizer };
}

/** Byte-level BPE over the item titles (+ `extra` texts), the generator's tokenizer. */
export function trainGeneratorTokenizer(data: SplitDataset, vocabSize: number, maxTitleChars: number, extra: readonly string[] = []): Tokenizer {
  const docs: string[] = [];
  for (let i = 1; i <= data.numItems; i++) docs.push(itemTitle(data, i, maxTitleChars));
  return trainBpe([...docs, ...extra], { vocabSize });
}

/** Saves a generator (config.json, model.safetensors, tokenizer.json) into `dir`, atomically. */
export function saveGenerator(gen: Generator, dir: string): void {
  writeDirAtomic(dir, (tmp) => { savePretrained(gen.model, tmp); gen.tokenizer.save(tmp); });
}

export function loadGenerator(dir: string): Generator {
  const { model } = loadPretrained(dir);
  if (!(model instanceof T5Model)) {
    model.dispose();
    throw new Error(`generator ${dir}: a '${model.family}' model, expected t5`);
  }
  return { model, tokenizer: Tokenizer.fromFile(dir) };
}
