/**
 * Training-step workloads for the engine benchmark, each the same graph as
 * its PyTorch twin in bench/torch_ref.py (shapes from issue 2):
 *  - sasrec: B=256, L=50, d=64, 2 blocks, 1 head, 10,000 items, BCE with 1 negative;
 *  - gru4rec: B=256, L=50, d=64, 10,000 items, BCE with 1 negative;
 *  - llama / llama_lora: B=8, T=128, d=128, 2 layers, 4 heads, ffn 344, vocab 2048,
 *    AdamW; LoRA r=8, alpha=16 on q and v with everything else frozen;
 * and one inference workload, sasrec_top10: the SASRec encoder on 256 users,
 * scores over 12,000 items, top 10.
 * Shapes are parameters so tests can run the same code small.
 */
import { tf, attentionDropoutKeep, causalMask, dropoutMask, fusedAttention, gruSequence, softmaxCrossEntropyWithLabels, swiglu, timestepMask } from '../engine/index.js';
import { AdamW, Embedding, LayerNorm, Linear, ParamStore, RMSNorm, Rng, applyRope, ropeTables } from '../nn/index.js';

export interface Workload {
  name: string;
  /** One forward + backward + optimizer update; returns the loss. */
  step(): number;
  /** Trainable parameter count. */
  trainable: number;
  dispose(): void;
}

export interface SeqShape { B: number; L: number; d: number; items: number; blocks?: number; dropout?: number; padPrefix?: number }
export interface LlamaShape { B: number; T: number; d: number; layers: number; heads: number; ffn: number; vocab: number }

export const SASREC_SHAPE: SeqShape = { B: 256, L: 50, d: 64, items: 10000, blocks: 2, dropout: 0.2, padPrefix: 10 };
export const GRU4REC_SHAPE: SeqShape = { B: 256, L: 50, d: 64, items: 10000, dropout: 0.2 };
export const LLAMA_SHAPE: LlamaShape = { B: 8, T: 128, d: 128, layers: 2, heads: 4, ffn: 344, vocab: 2048 };

/** mean over valid positions of softplus(-<h, e_pos>) + softplus(<h, e_neg>). */
function bceNextItem(h: tf.Tensor, emb: Embedding, pos: tf.Tensor, neg: tf.Tensor, valid: tf.Tensor): tf.Scalar {
  const pl = tf.sum(tf.mul(h, emb.apply(pos)), -1);
  const nl = tf.sum(tf.mul(h, emb.apply(neg)), -1);
  const per = tf.add(tf.softplus(tf.neg(pl)), tf.softplus(nl));
  return tf.div(tf.sum(tf.mul(per, valid)), tf.maximum(tf.sum(valid), 1)) as tf.Scalar;
}

/** Seeds of the workloads' dropout masks (a counter: every step draws new masks, as a model's). */
let dropSeed = 1;

/** Inverted dropout as the models draw it (src/models/neural.ts, `dropoutMask`). */
function dropout(x: tf.Tensor, rate: number): tf.Tensor {
  return rate > 0 ? tf.mul(x, dropoutMask(x.shape, rate, dropSeed++)) : x;
}

/** SASRec's parameters and its encoder (item + position embeddings, pre-LN blocks, final LayerNorm). */
function sasrecModel(s: SeqShape, seed: number) {
  const { L, d, items } = s;
  const blocks = s.blocks ?? 2;
  const store = new ParamStore(seed);
  const itemEmb = new Embedding(store, 'item_emb', items + 1, d);
  const posEmb = store.add('pos_emb.weight', [L, d], { kind: 'normal', std: 1 });
  const layers = Array.from({ length: blocks }, (_, i) => ({
    ln1: new LayerNorm(store, `blocks.${i}.ln1`, d, 1e-8),
    q: new Linear(store, `blocks.${i}.attn.q`, d, d),
    k: new Linear(store, `blocks.${i}.attn.k`, d, d),
    v: new Linear(store, `blocks.${i}.attn.v`, d, d),
    o: new Linear(store, `blocks.${i}.attn.o`, d, d),
    ln2: new LayerNorm(store, `blocks.${i}.ln2`, d, 1e-8),
    f1: new Linear(store, `blocks.${i}.ffn.1`, d, d),
    f2: new Linear(store, `blocks.${i}.ffn.2`, d, d),
  }));
  const lnF = new LayerNorm(store, 'final_ln', d, 1e-8);
  const scale = Math.sqrt(d);
  /** Hidden states [B, L, d] of ids [B, L]; `rate` 0 for inference. */
  const encode = (ids: tf.Tensor, tmask: tf.Tensor, causal: tf.Tensor, rate: number): tf.Tensor => {
    let x = tf.add(tf.mul(itemEmb.apply(ids), scale), posEmb);
    x = tf.mul(dropout(x, rate), tmask);
    for (const l of layers) {
      const h = l.ln1.apply(x);
      // One fused kernel each way, as the SASRec model (src/models/sasrec.ts).
      const q = l.q.apply(h);
      const keep = rate > 0 ? attentionDropoutKeep([...q.shape.slice(0, -1), q.shape[q.rank - 2]], rate, dropSeed++) : null;
      const att = fusedAttention(q, l.k.apply(h), l.v.apply(h), { mask: causal, scale: 1 / scale, keep });
      x = tf.add(x, dropout(l.o.apply(att), rate));
      const h2 = l.ln2.apply(x);
      x = tf.add(x, dropout(l.f2.apply(dropout(tf.relu(l.f1.apply(h2)), rate)), rate));
      x = tf.mul(x, tmask);
    }
    return lnF.apply(x);
  };
  return { store, itemEmb, encode };
}

/** Seeded ids [B, L] with the first `padPrefix` positions of every row padding (id 0). */
function sasrecIds(s: SeqShape, rng: Rng): Int32Array {
  const { B, L, items } = s;
  const idsArr = rng.intArray(B * L, 1, items + 1);
  const pad = s.padPrefix ?? 0;
  for (let b = 0; b < B; b++) for (let t = 0; t < Math.min(pad, L); t++) idsArr[b * L + t] = 0;
  return idsArr;
}

export function sasrecWorkload(s: SeqShape = SASREC_SHAPE, seed = 0): Workload {
  const { B, L, items } = s;
  const rate = s.dropout ?? 0.2;
  const { store, itemEmb, encode } = sasrecModel(s, seed);
  const rng = new Rng(seed + 1);
  const idsArr = sasrecIds(s, rng);
  const ids = tf.tensor2d(idsArr, [B, L], 'int32');
  const pos = tf.tensor2d(rng.intArray(B * L, 1, items + 1), [B, L], 'int32');
  const neg = tf.tensor2d(rng.intArray(B * L, 1, items + 1), [B, L], 'int32');
  const valid = tf.tidy(() => tf.cast(tf.notEqual(pos, 0), 'float32'));
  const tmask = timestepMask(idsArr, B, L);
  const causal = causalMask(L);
  const opt = new AdamW({ lr: 1e-3, weightDecay: 0 });
  const vars = store.trainable();

  const loss = (): tf.Scalar => bceNextItem(encode(ids, tmask, causal, rate), itemEmb, pos, neg, valid);
  return {
    name: 'sasrec',
    trainable: store.count(true),
    step: () => opt.minimize(loss, vars),
    dispose: () => { store.dispose(); opt.dispose(); tf.dispose([ids, pos, neg, valid, tmask, causal]); },
  };
}

/** SASRec top-k inference: 256 users' histories of 50 items, scored against all 12,000 items, top 10. */
export const SASREC_TOPK_SHAPE: SeqShape & { k: number } = { B: 256, L: 50, d: 64, items: 12000, blocks: 2, padPrefix: 10, k: 10 };

export interface InferenceWorkload {
  name: string;
  /** One inference call: the top-k item ids per user, [B * k] (best first). */
  run(): Int32Array;
  /** The score matrix [B, items] of the same call, column j for item id j + 1 (for tests). */
  scores(): Float32Array;
  dispose(): void;
}

/**
 * SASRec inference as in bench/torch_ref.py's `sasrec_top10`: encode the
 * histories (no dropout), take the last position, score every item by the
 * dot product with its embedding, exclude the padding id 0, keep the top k.
 */
export function sasrecTopKWorkload(s: SeqShape & { k: number } = SASREC_TOPK_SHAPE, seed = 0): InferenceWorkload {
  const { B, L, d, items, k } = s;
  if (k > items) throw new Error(`sasrecTopKWorkload: k = ${k} exceeds the ${items} items`);
  const { store, itemEmb, encode } = sasrecModel(s, seed);
  const idsArr = sasrecIds(s, new Rng(seed + 1));
  const ids = tf.tensor2d(idsArr, [B, L], 'int32');
  const tmask = timestepMask(idsArr, B, L);
  const causal = causalMask(L);
  // Items 1..items (the padding id 0 left out by slicing the table, not by a
  // broadcast mask over the [B, items + 1] scores: tfjs-wasm's broadcasting Add is slow).
  const scoresT = () => {
    const h = encode(ids, tmask, causal, 0);
    const last = tf.reshape(tf.slice(h, [0, L - 1, 0], [B, 1, d]), [B, d]);
    return tf.matMul(last, tf.slice(itemEmb.table, [1, 0], [items, d]), false, true);
  };
  return {
    name: 'sasrec_top10',
    run: () => tf.tidy(() => {
      const top = tf.topk(scoresT(), k).indices.dataSync() as Int32Array;
      return Int32Array.from(top, (i) => i + 1);
    }),
    scores: () => tf.tidy(() => scoresT().dataSync() as Float32Array),
    dispose: () => { store.dispose(); tf.dispose([ids, tmask, causal]); },
  };
}

export function gru4recWorkload(s: SeqShape = GRU4REC_SHAPE, seed = 0): Workload {
  const { B, L, d, items } = s;
  const rate = s.dropout ?? 0.2;
  const store = new ParamStore(seed);
  const rng = new Rng(seed + 1);
  const itemEmb = new Embedding(store, 'item_emb', items + 1, d);
  const ih = new Linear(store, 'gru.ih', d, 3 * d);
  const hh = new Linear(store, 'gru.hh', d, 3 * d);
  // Time-major ids [L, B] (the batch's [B, L] drawn, then laid out by step), as
  // src/models/gru4rec.ts does: embeddings, input projections and states are
  // [L, B, .] with no transpose; the loss is a mean over positions, so its layout does not matter.
  const timeMajor = (a: Int32Array) => Int32Array.from({ length: B * L }, (_, i) => a[(i % B) * L + Math.floor(i / B)]);
  const ids = tf.tensor2d(timeMajor(rng.intArray(B * L, 1, items + 1)), [L, B], 'int32');
  const pos = tf.tensor2d(timeMajor(rng.intArray(B * L, 1, items + 1)), [L, B], 'int32');
  const neg = tf.tensor2d(timeMajor(rng.intArray(B * L, 1, items + 1)), [L, B], 'int32');
  const valid = tf.ones([L, B]);
  const opt = new AdamW({ lr: 1e-3, weightDecay: 0 });
  const vars = store.trainable();

  const loss = (): tf.Scalar => {
    const x = dropout(itemEmb.apply(ids), rate);
    // Input projections for all steps at once [L, B, 3d]; the recurrence is
    // one kernel each way (gruSequence), as nn.GRU is in PyTorch.
    const gx = ih.apply(x) as tf.Tensor3D;
    const hs = gruSequence(gx, hh.W as unknown as tf.Tensor2D, hh.b as unknown as tf.Tensor1D, tf.zeros([B, d]));
    return bceNextItem(hs, itemEmb, pos, neg, valid);
  };
  return {
    name: 'gru4rec',
    trainable: store.count(true),
    step: () => opt.minimize(loss, vars),
    dispose: () => { store.dispose(); opt.dispose(); tf.dispose([ids, pos, neg, valid]); },
  };
}

export function llamaWorkload(s: LlamaShape = LLAMA_SHAPE, lora: { r: number; alpha: number } | null = null, seed = 0): Workload {
  const { B, T, d, layers: nLayers, heads, ffn, vocab } = s;
  const hd = d / heads;
  const store = new ParamStore(seed);
  const rng = new Rng(seed + 1);
  const emb = new Embedding(store, 'embed_tokens', vocab, d);
  const layers = Array.from({ length: nLayers }, (_, i) => {
    const p = `layers.${i}`;
    const l = {
      n1: new RMSNorm(store, `${p}.input_layernorm`, d),
      q: new Linear(store, `${p}.self_attn.q_proj`, d, d, false),
      k: new Linear(store, `${p}.self_attn.k_proj`, d, d, false),
      v: new Linear(store, `${p}.self_attn.v_proj`, d, d, false),
      o: new Linear(store, `${p}.self_attn.o_proj`, d, d, false),
      n2: new RMSNorm(store, `${p}.post_attention_layernorm`, d),
      gate: new Linear(store, `${p}.mlp.gate_proj`, d, ffn, false),
      up: new Linear(store, `${p}.mlp.up_proj`, d, ffn, false),
      down: new Linear(store, `${p}.mlp.down_proj`, ffn, d, false),
    };
    return l;
  });
  const nF = new RMSNorm(store, 'norm', d);
  const head = new Linear(store, 'lm_head', d, vocab, false);
  if (lora) {
    store.setTrainable(() => true, false);
    for (const l of layers) { l.q.addLora(store, lora); l.v.addLora(store, lora); }
  }
  const ids = tf.tensor2d(rng.intArray(B * T, 0, vocab), [B, T], 'int32');
  const labels = tf.tensor1d(rng.intArray(B * T, 0, vocab), 'int32');
  const { cos, sin } = ropeTables(T, hd);
  const causal = causalMask(T);
  const opt = new AdamW({ lr: 1e-3, weightDecay: 0.01 });
  const vars = store.trainable();
  const split = (y: tf.Tensor) => tf.transpose(tf.reshape(y, [B, T, heads, hd]), [0, 2, 1, 3]);

  const loss = (): tf.Scalar => {
    let x = emb.apply(ids);
    for (const l of layers) {
      const h = l.n1.apply(x);
      const q = applyRope(split(l.q.apply(h)), cos, sin);
      const k = applyRope(split(l.k.apply(h)), cos, sin);
      const v = split(l.v.apply(h));
      const att = fusedAttention(q, k, v, { mask: causal, scale: 1 / Math.sqrt(hd) });
      x = tf.add(x, l.o.apply(tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [B, T, d])));
      const h2 = l.n2.apply(x);
      x = tf.add(x, l.down.apply(swiglu(l.gate.apply(h2), l.up.apply(h2))));
    }
    const logits = head.apply(tf.reshape(nF.apply(x), [B * T, d]));
    return softmaxCrossEntropyWithLabels(logits as tf.Tensor2D, labels);
  };
  return {
    name: lora ? 'llama_lora' : 'llama',
    trainable: store.count(true),
    step: () => opt.minimize(loss, vars),
    dispose: () => { store.dispose(); opt.dispose(); tf.dispose([ids, labels, cos, sin, causal]); },
  };
}
