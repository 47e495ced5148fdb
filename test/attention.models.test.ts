/**
 * The models on the fused attention kernel (engine `fusedAttention`) against
 * the unfused composition they used before (`setAttentionImpl('reference')`):
 * SASRec and BERT4Rec (training loss with dropout, every parameter's gradient,
 * the scoring vectors) and the LM families LLaMA (GQA, RoPE), Mistral (sliding
 * window), GPT-2, BERT (padding mask) and T5 (relative position bias, whose
 * gradient goes through the kernel). Edge shapes: sequences of length 1, rows
 * that are padding everywhere but one token, one head. Both engine paths.
 * The two implementations differ only by floating-point reassociation, and
 * both draw the same dropout masks (docs/PERF.md "Fused attention").
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { setAttentionImpl, tf, type AttentionImpl } from '../src/engine/index.js';
import { SASRec } from '../src/models/sasrec.js';
import { BERT4Rec } from '../src/models/bert4rec.js';
import type { ModelDims, TrainBatch } from '../src/models/train_types.js';
import type { UserBatch } from '../src/models/types.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { Gpt2LMHeadModel, parseGpt2Config } from '../src/lm/families/gpt2.js';
import type { CausalLM } from '../src/lm/families/decoder.js';
import { causalLmLoss } from '../src/lm/loss.js';
import { BertForMaskedLM, parseBertConfig } from '../src/lm/families/bert.js';
import { T5Model, parseT5Config } from '../src/lm/families/t5.js';
import type { ParamStore } from '../src/nn/index.js';
import { assertCloseArrays, onEachPath, ready, Rng } from './helpers.js';

await ready();

const TOL = { atol: 2e-5, rtol: 2e-4 };

interface Result {
  values: Record<string, Float32Array>;
}

/** Runs `fn` (returning named tensors) with attention implementation `impl`, reading everything back. */
function runWith(impl: AttentionImpl, fn: () => Record<string, tf.Tensor>): Result {
  const prev = setAttentionImpl(impl);
  try {
    const values: Record<string, Float32Array> = {};
    tf.tidy(() => {
      for (const [k, t] of Object.entries(fn())) values[k] = Float32Array.from(t.dataSync() as ArrayLike<number>);
    });
    return { values };
  } finally {
    setAttentionImpl(prev);
  }
}

/**
 * Values (and gradients) fused vs reference; with gradients, one must be
 * nonzero (the test is not vacuous). With `make`, each run gets a fresh model
 * (same seed): the LM families' dropout streams continue from call to call.
 */
function compare<M extends { dispose(): void }>(what: string, fn: (m: M) => Record<string, tf.Tensor>, make: () => M, withGrads = true): void {
  const once = (impl: AttentionImpl) => {
    const m = make();
    try { return runWith(impl, () => fn(m)); } finally { m.dispose(); }
  };
  const ref = once('reference');
  const got = once('fused');
  assert.deepEqual(Object.keys(got.values).sort(), Object.keys(ref.values).sort(), what);
  let nonzero = 0;
  for (const [k, e] of Object.entries(ref.values)) {
    assertCloseArrays(got.values[k], e, TOL, `${what}: ${k}`);
    if (k.startsWith('grad:') && e.some((x) => x !== 0)) nonzero++;
  }
  if (withGrads) assert.ok(nonzero > 0, `${what}: every gradient is zero`);
}

/** loss and d loss / d every trainable parameter of a store. */
function lossAndGrads(store: ParamStore, loss: () => tf.Scalar): Record<string, tf.Tensor> {
  const vars = [...store.vars.values()].filter((v) => v.trainable);
  const { value, grads } = tf.variableGrads(loss, vars);
  const out: Record<string, tf.Tensor> = { loss: value };
  // Variable names end in a process-wide counter (`name#n`): keep the parameter name only.
  for (const [name, g] of Object.entries(grads)) out[`grad:${name.replace(/#\d+$/, '')}`] = g;
  return out;
}

// ------------------------------------------------------------------ recommenders

interface Probe {
  setup(dims: ModelDims, seed: number): void;
  loss(batch: TrainBatch, seed: number): tf.Scalar;
  vectors(batch: UserBatch): tf.Tensor;
  params(): ParamStore;
  dispose(): void;
}

/** Private NeuralRecommender state the trainer sets (test access only). */
interface TrainerView { initialise(dims: ModelDims, seed: number): void; dropSeed: number; dropCalls: number }

class SASRecProbe extends SASRec implements Probe {
  setup(dims: ModelDims, seed: number): void { (this as unknown as TrainerView).initialise(dims, seed); }
  loss(batch: TrainBatch, seed: number): tf.Scalar {
    const view = this as unknown as TrainerView;
    view.dropSeed = seed;
    view.dropCalls = 0;
    this.training = true;
    try { return this.trainLoss({ ...batch }); } finally { this.training = false; }
  }
  vectors(batch: UserBatch): tf.Tensor { return this.userVectors(batch); }
  params(): ParamStore { return this.store; }
}

class BERT4RecProbe extends BERT4Rec implements Probe {
  setup(dims: ModelDims, seed: number): void { (this as unknown as TrainerView).initialise(dims, seed); }
  loss(batch: TrainBatch, seed: number): tf.Scalar {
    const view = this as unknown as TrainerView;
    view.dropSeed = seed;
    view.dropCalls = 0;
    this.training = true;
    try { return this.trainLoss({ ...batch }); } finally { this.training = false; }
  }
  vectors(batch: UserBatch): tf.Tensor { return this.userVectors(batch); }
  params(): ParamStore { return this.store; }
}

/**
 * A batch of left-padded histories [B, L]: row 0 full, row 1 padding
 * everywhere but its last token, the others random lengths >= 1.
 */
function historyBatch(B: number, L: number, numItems: number, rng: Rng, numNegatives: number): TrainBatch {
  const history = new Int32Array(B * L);
  const target = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const len = b === 0 ? L : b === 1 ? 1 : 1 + Math.floor(rng.next() * L);
    for (let t = L - len; t < L; t++) history[b * L + t] = 1 + Math.floor(rng.next() * numItems);
    target[b] = 1 + Math.floor(rng.next() * numItems);
  }
  const negatives = Int32Array.from({ length: B * numNegatives }, (_, i) => 1 + ((target[Math.floor(i / numNegatives)] + i) % numItems));
  return { size: B, L, user: Int32Array.from({ length: B }, (_, i) => i), history, target, negatives, numNegatives };
}

function checkRecommender(label: string, make: () => Probe, B: number, L: number, numNegatives = 0): void {
  const numItems = 23;
  const rng = new Rng(L * 31 + B);
  const batch = historyBatch(B, L, numItems, rng, numNegatives);
  const build = () => {
    const m = make();
    m.setup({ numUsers: B, numItems, maxHistory: L }, 5);
    return m;
  };
  compare(`${label} B=${B} L=${L} train`, (m) => lossAndGrads(m.params(), () => m.loss(batch, 11)), build);
  compare(`${label} B=${B} L=${L} vectors`, (m) => ({ vectors: m.vectors(batch) }), build, false);
}

onEachPath('SASRec and BERT4Rec: fused attention = unfused', () => {
  it('SASRec, 1 and 2 heads, ce and bce, attention dropout, L = 1 and a one-token row', () => {
    for (const [heads, loss, L] of [[1, 'ce', 6], [2, 'ce', 6], [2, 'bce', 5], [1, 'ce', 1], [2, 'ce', 1]] as const) {
      checkRecommender(`sasrec heads=${heads} ${loss}`,
        () => new SASRecProbe({ d: 8, blocks: 2, heads, dropout: 0.2, loss, numNegatives: 2 }), 4, L, loss === 'bce' ? 2 : 0);
    }
  });
  it('BERT4Rec, 1 and 2 heads, attention dropout, L = 1 and a one-token row', () => {
    for (const [heads, L] of [[1, 6], [2, 6], [2, 1], [1, 1]] as const) {
      checkRecommender(`bert4rec heads=${heads}`,
        () => new BERT4RecProbe({ d: 8, blocks: 2, heads, inner: 16, dropout: 0.2, maskProb: 0.4 }), 4, L);
    }
  });
});

// ------------------------------------------------------------------ LM families

/** Adds N(0, 0.05) noise to every parameter (zero biases and unit norms would hide bugs). */
function perturb(store: ParamStore, seed: number): void {
  const rng = new Rng(seed);
  for (const v of store.vars.values()) tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.05), v.shape))));
}

/** Token ids [B, T] and a 0/1 mask where row 1 is padding everywhere but its last token (left padding). */
function tokens(B: number, T: number, V: number, rng: Rng): { ids: Int32Array; mask: Int32Array } {
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T).fill(1);
  for (let i = 0; i < ids.length; i++) ids[i] = 1 + Math.floor(rng.next() * (V - 1));
  if (B > 1) for (let t = 0; t < T - 1; t++) { mask[T + t] = 0; ids[T + t] = 0; }
  return { ids, mask };
}

const DECODERS: Array<{ name: string; json: Record<string, unknown> }> = [
  { name: 'llama (GQA 4/2)', json: { model_type: 'llama', vocab_size: 41, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, attention_dropout: 0.1 } },
  { name: 'llama (1 head)', json: { model_type: 'llama', vocab_size: 41, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 1 } },
  { name: 'qwen2 (GQA 6/2, tied)', json: { model_type: 'qwen2', vocab_size: 37, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 1, num_attention_heads: 6, num_key_value_heads: 2, tie_word_embeddings: true } },
  { name: 'mistral (sliding window 3)', json: { model_type: 'mistral', vocab_size: 30, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, sliding_window: 3 } },
  { name: 'gpt2', json: { model_type: 'gpt2', vocab_size: 43, n_positions: 32, n_embd: 16, n_layer: 2, n_head: 4 } },
  { name: 'gpt2 (1 head)', json: { model_type: 'gpt2', vocab_size: 43, n_positions: 32, n_embd: 8, n_layer: 1, n_head: 1 } },
];

function decoder(json: Record<string, unknown>): CausalLM {
  return json.model_type === 'gpt2' ? new Gpt2LMHeadModel(parseGpt2Config(json), { seed: 3 }) : new LlamaForCausalLM(parseLlamaConfig(json), { seed: 3 });
}

onEachPath('LM families: fused attention = unfused', () => {
  it('decoders (LLaMA, Qwen2, Mistral, GPT-2): logits, loss with dropout and gradients; T = 1 and a one-token row', () => {
    for (const { name, json } of DECODERS) {
      const make = () => {
        const m = decoder(json);
        perturb(m.store, 9);
        return m;
      };
      for (const [B, T] of [[3, 7], [2, 1]] as const) {
        const { ids, mask } = tokens(B, T, 30, new Rng(B * 100 + T));
        const labels = Int32Array.from(ids, (x, i) => (mask[i] ? x : -100));
        compare(`${name} B=${B} T=${T}`, (m: CausalLM) => ({
          logits: m.forward({ inputIds: ids, batch: B, attentionMask: mask }).logits,
          ...lossAndGrads(m.store, () => {
            const logits = m.forward({ inputIds: ids, batch: B, attentionMask: mask, training: true }).logits;
            // T = 1 has no next-token label: differentiate the logits' mean square instead.
            return T > 1 ? causalLmLoss(logits, labels) : tf.mean(tf.square(logits)) as tf.Scalar;
          }),
        }), make);
      }
      // The key/value cache: queries of one new token over P cached keys (Lq != Lk).
      const { ids } = tokens(2, 5, 30, new Rng(77));
      compare(`${name} cached step`, (m: CausalLM) => {
        const first = m.forward({ inputIds: ids, batch: 2, useCache: true });
        const next = m.forward({ inputIds: Int32Array.from([3, 4]), batch: 2, cache: first.cache });
        for (const l of first.cache!.layers) tf.dispose([l.k, l.v]);
        return { logits: next.logits };
      }, make, false);
    }
  });

  it('BERT (padding mask, 4 heads and 1 head): MLM loss with attention dropout and gradients', () => {
    for (const heads of [4, 1]) {
      const cfg = parseBertConfig({
        vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: heads, intermediate_size: 32,
        max_position_embeddings: 20, type_vocab_size: 2, hidden_act: 'gelu', layer_norm_eps: 1e-12,
      }, 'tiny bert');
      const make = () => {
        const m = new BertForMaskedLM(cfg, { seed: 2 });
        perturb(m.store, 4);
        return m;
      };
      for (const [B, T] of [[3, 6], [2, 1]] as const) {
        const { ids, mask } = tokens(B, T, 50, new Rng(B + T));
        const labels = Int32Array.from(ids, (x, i) => (i % 2 === 0 && mask[i] ? x : -100));
        if (!labels.some((x) => x >= 0)) labels[labels.length - 1] = ids[ids.length - 1];
        compare(`bert heads=${heads} B=${B} T=${T}`, (m: BertForMaskedLM) => ({
          logits: m.forward({ inputIds: ids, batch: B, attentionMask: mask }).logits,
          ...lossAndGrads(m.store, () => m.mlmLoss({ inputIds: ids, batch: B, attentionMask: mask, labels, training: true })),
        }), make);
      }
    }
  });

  it('T5 (relative position bias gradient through the kernel, masks, dropout; 4 heads and 1 head)', () => {
    for (const heads of [4, 1]) {
      const cfg = parseT5Config({
        vocab_size: 40, d_model: 16, d_kv: 4, d_ff: 32, num_layers: 2, num_decoder_layers: 2, num_heads: heads,
        dropout_rate: 0.1, pad_token_id: 0, eos_token_id: 1, decoder_start_token_id: 0, feed_forward_proj: 'relu',
        relative_attention_num_buckets: 8, relative_attention_max_distance: 20,
      }, 'tiny t5');
      const make = () => {
        const m = new T5Model(cfg, { seed: 6 });
        perturb(m.store, 8);
        return m;
      };
      for (const [B, S, T] of [[3, 6, 4], [2, 1, 1]] as const) {
        const enc = tokens(B, S, 40, new Rng(S * 7 + B));
        const dec = tokens(B, T, 40, new Rng(T * 13 + B));
        const labels = Int32Array.from(dec.ids, (x, i) => (dec.mask[i] ? x : -100));
        compare(`t5 heads=${heads} B=${B} S=${S} T=${T}`, (m: T5Model) => {
          const input = { inputIds: enc.ids, batch: B, attentionMask: enc.mask, decoderAttentionMask: dec.mask };
          const out = lossAndGrads(m.store, () => m.loss({ ...input, labels, training: true }));
          const bias = Object.keys(out).filter((k) => k.includes('relative_attention_bias'));
          assert.equal(bias.length, 2, 'the encoder and decoder position biases have gradients');
          return { logits: m.forward({ ...input, decoderInputIds: m.shiftRight(labels, B) }).logits, ...out };
        }, make);
      }
    }
  });
});
