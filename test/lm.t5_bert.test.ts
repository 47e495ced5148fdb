/**
 * The T5 (encoder-decoder) and BERT (masked-LM) families: parity with
 * independent PyTorch references (test/ref/t5_ref.py, test/ref/bert_ref.py,
 * float64) for outputs, losses and every parameter's gradient, on tiny random
 * configs whose weights are all perturbed (so zero/one inits hide nothing);
 * T5's relative-position buckets bit-exact; configs round-trip; state dicts
 * round-trip and strict loads fail naming the tensor; incremental T5
 * decoding equals the full forward; no tensor leaks.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tf } from '../src/engine/index.js';
import { ParamStore, Rng } from '../src/nn/index.js';
import { exportStateDict, loadStateDict } from '../src/lm/state_dict.js';
import { i32, readSafetensors, writeSafetensors, type SafeTensor } from '../src/io/safetensors.js';
import { TORCH_PYTHON, torchAvailable } from '../src/bench/torch.js';
import { BertForMaskedLM, bertConfigToJSON, parseBertConfig, type BertConfig } from '../src/lm/families/bert.js';
import { T5Model, parseT5Config, t5ConfigToJSON, t5RelativePositionBucket, type T5Config } from '../src/lm/families/t5.js';
import { ready } from './helpers.js';

await ready();

const here = dirname(fileURLToPath(import.meta.url));
const torchCheck = torchAvailable();
const work = mkdtempSync(join(tmpdir(), 'llmrec-t5bert-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Adds N(0, scale^2) noise to every parameter (norm weights, biases and zero rows too). */
function perturb(store: ParamStore, seed: number, scale = 0.1): void {
  const rng = new Rng(seed);
  for (const v of store.vars.values()) {
    tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, scale), v.shape, 'float32'))));
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function transpose2d(data: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** Runs a reference script on the model's state dict and the inputs; returns its output tensors. */
function runReference(script: string, store: ParamStore, configJSON: Record<string, unknown>, inputs: Record<string, SafeTensor>, tag: string): Map<string, SafeTensor> {
  const dir = join(work, tag);
  const params = join(dir, 'params.safetensors');
  const inp = join(dir, 'inputs.safetensors');
  const cfg = join(dir, 'config.json');
  const out = join(dir, 'out.safetensors');
  writeSafetensors(params, exportStateDict(store));
  writeSafetensors(inp, inputs);
  writeFileSync(cfg, JSON.stringify(configJSON));
  const r = spawnSync(TORCH_PYTHON, [join(here, 'ref', script), params, inp, cfg, out], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${script} failed (${r.status}): ${(r.stderr || '').trim().split('\n').slice(-5).join(' | ')}`);
  return readSafetensors(out).tensors;
}

function f32Of(t: SafeTensor | undefined, what: string): Float32Array {
  assert.ok(t, `reference output '${what}' missing`);
  return t.data as Float32Array;
}

/**
 * Gradients of `lossFn` for every parameter vs the reference's `grad.<name>`,
 * each within 1e-4 of max(1, max |reference grad|); returns the worst absolute diff.
 */
function compareGrads(store: ParamStore, lossFn: () => tf.Scalar, ref: Map<string, SafeTensor>, what: string): { worst: number; worstName: string; loss: number } {
  const names = [...store.vars.keys()];
  const vars = names.map((n) => store.get(n));
  const { value, grads } = tf.variableGrads(lossFn, vars);
  let worst = 0;
  let worstName = '';
  try {
    for (const [i, name] of names.entries()) {
      const g = grads[vars[i].name];
      assert.ok(g, `${what}: no gradient for ${name}`);
      let data = g.dataSync() as Float32Array;
      if (store.transposed.has(name)) data = transpose2d(data, g.shape[0]!, g.shape[1]!);
      const expected = f32Of(ref.get(`grad.${name}`), `grad.${name}`);
      const diff = maxAbsDiff(data, expected);
      const tol = 1e-4 * Math.max(1, maxAbs(expected));
      assert.ok(diff <= tol, `${what}: gradient of ${name} differs by ${diff} (tolerance ${tol})`);
      if (diff > worst) { worst = diff; worstName = name; }
    }
    return { worst, worstName, loss: value.dataSync()[0] };
  } finally {
    value.dispose();
    tf.dispose(Object.values(grads));
  }
}

// ------------------------------------------------------------------ T5

const T5_BASE = {
  vocab_size: 100, d_model: 32, d_kv: 8, d_ff: 64, num_layers: 2, num_decoder_layers: 2, num_heads: 4,
  dropout_rate: 0.1, pad_token_id: 0, eos_token_id: 1, decoder_start_token_id: 0,
};

const T5_CASES: Array<{ name: string; json: Record<string, unknown>; decoderMask: boolean }> = [
  { name: 'relu, tied, 32 buckets / 128', json: { ...T5_BASE, feed_forward_proj: 'relu', tie_word_embeddings: true, relative_attention_num_buckets: 32, relative_attention_max_distance: 128 }, decoderMask: false },
  { name: 'relu, untied, 8 buckets / 20', json: { ...T5_BASE, feed_forward_proj: 'relu', tie_word_embeddings: false, relative_attention_num_buckets: 8, relative_attention_max_distance: 20 }, decoderMask: true },
  { name: 'gated-gelu, tied, 8 buckets / 20', json: { ...T5_BASE, feed_forward_proj: 'gated-gelu', tie_word_embeddings: true, relative_attention_num_buckets: 8, relative_attention_max_distance: 20 }, decoderMask: false },
  { name: 'gated-gelu, untied, 32 buckets / 128', json: { ...T5_BASE, feed_forward_proj: 'gated-gelu', tie_word_embeddings: false, relative_attention_num_buckets: 32, relative_attention_max_distance: 128, num_decoder_layers: 3 }, decoderMask: true },
];

const B = 2;
const S = 12;
const T = 9;

interface T5Inputs {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  labels: Int32Array;
  decoderAttentionMask?: Int32Array;
}

function t5Inputs(seed: number, decoderMask: boolean): T5Inputs {
  const rng = new Rng(seed);
  const inputIds = rng.intArray(B * S, 2, 100);
  const attentionMask = new Int32Array(B * S).fill(1);
  for (let s = S - 3; s < S; s++) { inputIds[S + s] = 0; attentionMask[S + s] = 0; } // row 1: 3 padding tokens
  const labels = rng.intArray(B * T, 2, 100);
  labels[3] = -100;
  labels[T + T - 1] = -100;
  labels[T + T - 2] = -100;
  const out: T5Inputs = { inputIds, attentionMask, labels };
  if (decoderMask) {
    out.decoderAttentionMask = new Int32Array(B * T).fill(1);
    out.decoderAttentionMask[T + T - 1] = 0;
    out.decoderAttentionMask[T + T - 2] = 0;
  }
  return out;
}

function t5Model(cfg: T5Config, seed: number): T5Model {
  const m = new T5Model(cfg, { seed });
  perturb(m.store, seed + 1000);
  return m;
}

describe('T5 config', () => {
  test('fills HF defaults, round-trips through JSON (extra fields kept) and rejects bad fields naming source and field', () => {
    const d = parseT5Config({}, 'defaults');
    assert.equal(d.d_model, 512);
    assert.equal(d.num_decoder_layers, 6);
    assert.equal(d.feed_forward_proj, 'relu');
    assert.equal(d.layer_norm_epsilon, 1e-6);
    assert.equal(d.decoder_start_token_id, 0);
    assert.equal(d.tie_word_embeddings, true);
    const withExtra = parseT5Config({ ...T5_CASES[3].json, architectures: ['T5ForConditionalGeneration'], task_specific_params: { summarization: { prefix: 'summarize: ' } }, is_encoder_decoder: true }, 'x');
    const again = parseT5Config(t5ConfigToJSON(withExtra), 'round trip');
    assert.deepEqual(again, withExtra);
    assert.deepEqual(parseT5Config(JSON.parse(JSON.stringify(t5ConfigToJSON(d)))), d);
    assert.deepEqual((again as Record<string, unknown>).task_specific_params, { summarization: { prefix: 'summarize: ' } });
    assert.throws(() => parseT5Config({ d_model: -3 }, 'models/t5/config.json'), /models\/t5\/config\.json[\s\S]*d_model/);
    assert.throws(() => parseT5Config({ feed_forward_proj: 'gated-foo' }, 'cfg.json'), /cfg\.json[\s\S]*feed_forward_proj/);
    assert.throws(() => parseT5Config({ dropout_rate: '0.1' }, 'cfg.json'), /dropout_rate/);
    assert.throws(() => parseT5Config({ model_type: 'bart' }, 'cfg.json'), /model_type/);
    assert.throws(() => parseT5Config({ vocab_size: 10, eos_token_id: 10 }, 'cfg.json'), /cfg\.json[\s\S]*eos_token_id/);
  });
});

describe('T5 relative position buckets', () => {
  test('match hand-computed buckets of HF defaults', () => {
    // bidirectional, 32 buckets, 128: 16 per direction, exact below 8, log-spaced to 15.
    assert.equal(t5RelativePositionBucket(0, true, 32, 128), 0);
    assert.equal(t5RelativePositionBucket(-7, true, 32, 128), 7);
    assert.equal(t5RelativePositionBucket(7, true, 32, 128), 23);
    assert.equal(t5RelativePositionBucket(-16, true, 32, 128), 10);
    assert.equal(t5RelativePositionBucket(1000, true, 32, 128), 31);
    assert.equal(t5RelativePositionBucket(5, false, 32, 128), 0);
    assert.equal(t5RelativePositionBucket(-15, false, 32, 128), 15);
    assert.equal(t5RelativePositionBucket(-1000, false, 32, 128), 31);
  });
});

describe('T5 model', () => {
  const cfg = parseT5Config(T5_CASES[1].json, 'tiny');

  test('registers parameters under HF state-dict names with HF init', () => {
    const tied = new T5Model(parseT5Config(T5_CASES[0].json), { seed: 1 });
    const untied = new T5Model(cfg, { seed: 1 });
    try {
      const names = [...untied.store.vars.keys()];
      for (const n of [
        'shared.weight', 'encoder.block.0.layer.0.SelfAttention.q.weight', 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight',
        'encoder.block.0.layer.0.layer_norm.weight', 'encoder.block.1.layer.1.DenseReluDense.wi.weight', 'encoder.final_layer_norm.weight',
        'decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', 'decoder.block.1.layer.1.EncDecAttention.k.weight',
        'decoder.block.1.layer.2.DenseReluDense.wo.weight', 'decoder.final_layer_norm.weight', 'lm_head.weight',
      ]) assert.ok(names.includes(n), `missing ${n}`);
      assert.ok(!names.includes('encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight'));
      assert.ok(!names.some((n) => n.endsWith('.bias') && !n.endsWith('relative_attention_bias.weight')), 'T5 has no biases');
      assert.ok(!tied.store.has('lm_head.weight'));
      const gated = new T5Model(parseT5Config(T5_CASES[2].json), { seed: 1 });
      assert.ok(gated.store.has('encoder.block.0.layer.1.DenseReluDense.wi_0.weight') && gated.store.has('encoder.block.0.layer.1.DenseReluDense.wi_1.weight'));
      gated.dispose();
      const sd = exportStateDict(untied.store);
      assert.deepEqual(sd.get('encoder.block.0.layer.1.DenseReluDense.wi.weight')!.shape, [64, 32]); // torch [out, in]
      assert.deepEqual(sd.get('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight')!.shape, [8, 4]);
      // HF init: norms 1, shared std = factor, q std = (d_model d_kv)^-0.5.
      assert.ok((sd.get('encoder.final_layer_norm.weight')!.data as Float32Array).every((x) => x === 1));
      const std = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
      assert.ok(Math.abs(std(sd.get('shared.weight')!.data as Float32Array) - 1) < 0.1);
      assert.ok(Math.abs(std(sd.get('encoder.block.0.layer.0.SelfAttention.q.weight')!.data as Float32Array) / (32 * 8) ** -0.5 - 1) < 0.15);
      assert.ok(untied.stateDictIgnore('encoder.embed_tokens.weight') && untied.stateDictIgnore('decoder.embed_tokens.weight'));
      assert.ok(!untied.stateDictIgnore('lm_head.weight') && tied.stateDictIgnore('lm_head.weight'));
    } finally {
      tied.dispose();
      untied.dispose();
    }
  });

  test('shiftRight follows HF _shift_right', () => {
    const m = new T5Model(cfg, { seed: 2, init: 'zeros' });
    try {
      assert.deepEqual([...m.shiftRight([[5, 6, -100], [7, -100, -100]])], [0, 5, 6, 0, 7, 0]);
    } finally {
      m.dispose();
    }
  });

  test('state dict round trip into a fresh model gives identical outputs; strict loads name the bad tensor', () => {
    const a = t5Model(cfg, 3);
    const b = new T5Model(cfg, { seed: 99, init: 'zeros' });
    const inp = t5Inputs(4, true);
    try {
      const sd = exportStateDict(a.store);
      // Real checkpoints also carry the embed_tokens aliases.
      const withAliases = new Map(sd);
      withAliases.set('encoder.embed_tokens.weight', sd.get('shared.weight')!);
      withAliases.set('decoder.embed_tokens.weight', sd.get('shared.weight')!);
      const res = loadStateDict(b.store, withAliases, { ignore: (n) => b.stateDictIgnore(n), source: 'roundtrip' });
      assert.deepEqual(res.unexpected, []);
      assert.deepEqual(res.missing, []);
      const run = (m: T5Model) => tf.tidy(() => {
        const o = m.forward({ inputIds: inp.inputIds, batch: B, attentionMask: inp.attentionMask, decoderInputIds: m.shiftRight(inp.labels, B), decoderAttentionMask: inp.decoderAttentionMask });
        return [o.logits.dataSync().slice(), o.encoderHidden.dataSync().slice()];
      });
      const [la, ea] = run(a);
      const [lb, eb] = run(b);
      assert.equal(maxAbsDiff(la, lb), 0);
      assert.equal(maxAbsDiff(ea, eb), 0);

      const missing = new Map(sd);
      missing.delete('decoder.block.1.layer.1.EncDecAttention.v.weight');
      assert.throws(() => loadStateDict(b.store, missing, { strict: true, source: 'ckpt.safetensors' }), /ckpt\.safetensors[\s\S]*decoder\.block\.1\.layer\.1\.EncDecAttention\.v\.weight/);
      const bad = new Map(sd);
      bad.set('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', { dtype: 'F32', shape: [4, 8], data: new Float32Array(32) });
      assert.throws(() => loadStateDict(b.store, bad, { source: 'ckpt.safetensors' }), /relative_attention_bias\.weight.*\[4,8\].*\[8,4\]/);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  test('inputsEmbeds equal to the token embeddings, tensor ids and row arrays reproduce the flat-id path', () => {
    const m = t5Model(cfg, 5);
    const inp = t5Inputs(6, false);
    try {
      const [dEmb, dTensor, dRows] = tf.tidy(() => {
        const viaIds = m.encode({ inputIds: inp.inputIds, batch: B, attentionMask: inp.attentionMask }).dataSync();
        const viaEmb = m.encode({ inputsEmbeds: m.embed(inp.inputIds, B), attentionMask: inp.attentionMask });
        const viaTensor = m.encode({ inputIds: tf.tensor2d(inp.inputIds, [B, S], 'int32'), attentionMask: tf.tensor2d(inp.attentionMask, [B, S], 'int32') });
        const rows = (a: Int32Array) => [Array.from(a.subarray(0, S)), Array.from(a.subarray(S))];
        const viaRows = m.encode({ inputIds: rows(inp.inputIds), attentionMask: rows(inp.attentionMask) });
        return [viaEmb, viaTensor, viaRows].map((x) => maxAbsDiff(viaIds, x.dataSync()));
      });
      assert.equal(dEmb, 0);
      assert.equal(dTensor, 0);
      assert.equal(dRows, 0);
      assert.throws(() => m.encode({ inputIds: inp.inputIds, batch: B, attentionMask: inp.attentionMask.subarray(0, S) }), /attentionMask/);
      assert.throws(() => m.encode({ inputIds: [[1, 2], [3, 100]] }), /token id 100/);
    } finally {
      m.dispose();
    }
  });

  test('incremental decoding with the KV cache equals the full forward; greedy generation runs', () => {
    for (const c of [T5_CASES[0], T5_CASES[3]]) {
      const m = t5Model(parseT5Config(c.json), 7);
      const inp = t5Inputs(8, false);
      try {
        const before = tf.memory().numTensors;
        const dec = m.shiftRight(inp.labels, B);
        const full = m.forward({ inputIds: inp.inputIds, batch: B, attentionMask: inp.attentionMask, decoderInputIds: dec });
        const fullLogits = full.logits.dataSync() as Float32Array;
        const state = m.beginDecode(full.encoderHidden, inp.attentionMask);
        let worst = 0;
        for (let t = 0; t < T; t++) {
          const step = m.decodeStep(state, [dec[t], dec[T + t]]);
          const got = step.dataSync();
          step.dispose();
          const V = m.vocabSize;
          for (let b = 0; b < B; b++) {
            const off = (b * T + t) * V;
            worst = Math.max(worst, maxAbsDiff(got.subarray(b * V, (b + 1) * V), fullLogits.subarray(off, off + V)));
          }
        }
        state.dispose();
        tf.dispose([full.logits, full.encoderHidden, full.decoderHidden]);
        assert.ok(worst < 2e-5, `${c.name}: incremental logits differ by ${worst}`);
        const gen = m.generateGreedy({ inputIds: inp.inputIds, batch: B, attentionMask: inp.attentionMask, maxNewTokens: 4 });
        assert.equal(gen.length, B);
        assert.ok(gen.every((r) => r.length >= 1 && r.length <= 4));
        assert.equal(tf.memory().numTensors, before, 'decoding leaked tensors');
      } finally {
        m.dispose();
      }
    }
  });

  test('no tensor leaks across repeated forward, loss and gradient calls; dropout only when training', () => {
    const m = t5Model(cfg, 9);
    const inp = t5Inputs(10, true);
    try {
      const args = { inputIds: inp.inputIds, batch: B, attentionMask: inp.attentionMask, labels: inp.labels };
      const once = () => {
        const o = m.forward({ ...args, decoderInputIds: m.shiftRight(inp.labels, B) });
        tf.dispose([o.logits, o.encoderHidden, o.decoderHidden]);
        m.loss(args).dispose();
        const { value, grads } = tf.variableGrads(() => m.loss({ ...args, training: true }), m.store.trainable());
        value.dispose();
        tf.dispose(Object.values(grads));
      };
      once();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) once();
      assert.equal(tf.memory().numTensors, before);
      const evalLoss = [0, 1].map(() => tf.tidy(() => m.loss(args).dataSync()[0]));
      assert.equal(evalLoss[0], evalLoss[1], 'eval mode must be deterministic');
      const trainLoss = tf.tidy(() => m.loss({ ...args, training: true }).dataSync()[0]);
      assert.ok(Number.isFinite(trainLoss) && trainLoss !== evalLoss[0], 'dropout must change the training loss');
    } finally {
      m.dispose();
    }
  });

  for (const c of T5_CASES) {
    test(`parity with PyTorch: ${c.name}`, (t) => {
      if (!torchCheck.ok) { t.skip(`python3-torch not available: ${torchCheck.reason}`); return; }
      const config = parseT5Config(c.json, c.name);
      const m = t5Model(config, 11);
      const inp = t5Inputs(12, c.decoderMask);
      try {
        const decoderInputIds = m.shiftRight(inp.labels, B);
        const inputs: Record<string, SafeTensor> = {
          input_ids: i32(inp.inputIds, [B, S]), attention_mask: i32(inp.attentionMask, [B, S]),
          decoder_input_ids: i32(decoderInputIds, [B, T]), labels: i32(inp.labels, [B, T]),
        };
        if (inp.decoderAttentionMask) inputs.decoder_attention_mask = i32(inp.decoderAttentionMask, [B, T]);
        const ref = runReference('t5_ref.py', m.store, t5ConfigToJSON(config), inputs, `t5-${T5_CASES.indexOf(c)}`);

        const rp = ref.get('bucket_bidirectional')!.data as Int32Array;
        const rc = ref.get('bucket_causal')!.data as Int32Array;
        for (let i = 0; i < rp.length; i++) {
          const r = i - 300;
          assert.equal(t5RelativePositionBucket(r, true, config.relative_attention_num_buckets, config.relative_attention_max_distance), rp[i], `bidirectional bucket of ${r}`);
          assert.equal(t5RelativePositionBucket(r, false, config.relative_attention_num_buckets, config.relative_attention_max_distance), rc[i], `causal bucket of ${r}`);
        }

        const args = { inputIds: inp.inputIds, batch: B, attentionMask: inp.attentionMask, labels: inp.labels, decoderAttentionMask: inp.decoderAttentionMask };
        const { enc, logits, loss } = tf.tidy(() => {
          const o = m.forward({ ...args, decoderInputIds });
          return { enc: o.encoderHidden.dataSync().slice(), logits: o.logits.dataSync().slice(), loss: m.loss(args).dataSync()[0] };
        });
        const dEnc = maxAbsDiff(enc, f32Of(ref.get('encoder_hidden'), 'encoder_hidden'));
        const dLogits = maxAbsDiff(logits, f32Of(ref.get('logits'), 'logits'));
        const refLoss = f32Of(ref.get('loss'), 'loss')[0];
        const dLoss = Math.abs(loss - refLoss);
        const g = compareGrads(m.store, () => m.loss(args), ref, c.name);
        t.diagnostic(`max |diff|: encoder ${dEnc.toExponential(2)}, logits ${dLogits.toExponential(2)}, loss ${dLoss.toExponential(2)}, grads ${g.worst.toExponential(2)} (${g.worstName}); loss ${loss} (torch ${refLoss})`);
        assert.ok(dEnc <= 1e-4, `encoder hidden differs by ${dEnc}`);
        assert.ok(dLogits <= 1e-4, `logits differ by ${dLogits}`);
        assert.ok(dLoss <= 1e-4, `loss differs by ${dLoss}`);
      } finally {
        m.dispose();
      }
    });
  }
});

// ---------------------------------------------------------------- BERT

const BERT_JSON = {
  vocab_size: 100, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64,
  max_position_embeddings: 40, type_vocab_size: 2, hidden_act: 'gelu', layer_norm_eps: 1e-12,
};
const BT = 10;

function bertInputs(seed: number) {
  const rng = new Rng(seed);
  const inputIds = rng.intArray(B * BT, 5, 100);
  const tokenTypeIds = new Int32Array(B * BT);
  for (let t = 6; t < BT; t++) tokenTypeIds[t] = 1; // row 0: second segment
  const attentionMask = new Int32Array(B * BT).fill(1);
  for (let t = BT - 3; t < BT; t++) { inputIds[BT + t] = 0; attentionMask[BT + t] = 0; }
  const labels = new Int32Array(B * BT).fill(-100);
  for (const i of [1, 4, 8, BT + 2, BT + 5]) labels[i] = rng.int(0, 100);
  return { inputIds, tokenTypeIds, attentionMask, labels };
}

function bertModel(cfg: BertConfig, seed: number): BertForMaskedLM {
  const m = new BertForMaskedLM(cfg, { seed });
  perturb(m.store, seed + 1000);
  return m;
}

describe('BERT config', () => {
  test('fills HF defaults, round-trips through JSON and rejects bad fields naming source and field', () => {
    const d = parseBertConfig({});
    assert.equal(d.hidden_size, 768);
    assert.equal(d.hidden_act, 'gelu');
    assert.equal(d.layer_norm_eps, 1e-12);
    assert.equal(d.max_position_embeddings, 512);
    const c = parseBertConfig({ ...BERT_JSON, architectures: ['BertForMaskedLM'], gradient_checkpointing: false, transformers_version: '4.40.0' }, 'x');
    assert.deepEqual(parseBertConfig(JSON.parse(JSON.stringify(bertConfigToJSON(c)))), c);
    assert.equal((c as Record<string, unknown>).transformers_version, '4.40.0');
    assert.throws(() => parseBertConfig({ hidden_size: 30, num_attention_heads: 4 }, 'bert/config.json'), /bert\/config\.json[\s\S]*hidden_size/);
    assert.throws(() => parseBertConfig({ hidden_act: 'mish' }, 'bert/config.json'), /bert\/config\.json[\s\S]*hidden_act/);
    assert.throws(() => parseBertConfig({ position_embedding_type: 'relative_key' }, 'c'), /position_embedding_type/);
  });
});

describe('BERT model', () => {
  const cfg = parseBertConfig(BERT_JSON, 'tiny bert');

  test('registers parameters under HF state-dict names with HF init', () => {
    const m = new BertForMaskedLM(cfg, { seed: 1 });
    try {
      const names = [...m.store.vars.keys()];
      for (const n of [
        'bert.embeddings.word_embeddings.weight', 'bert.embeddings.position_embeddings.weight', 'bert.embeddings.token_type_embeddings.weight',
        'bert.embeddings.LayerNorm.weight', 'bert.embeddings.LayerNorm.bias', 'bert.encoder.layer.1.attention.self.query.weight',
        'bert.encoder.layer.1.attention.self.value.bias', 'bert.encoder.layer.0.attention.output.dense.weight', 'bert.encoder.layer.0.attention.output.LayerNorm.bias',
        'bert.encoder.layer.0.intermediate.dense.weight', 'bert.encoder.layer.0.output.dense.bias', 'bert.encoder.layer.0.output.LayerNorm.weight',
        'cls.predictions.transform.dense.weight', 'cls.predictions.transform.LayerNorm.weight', 'cls.predictions.bias',
      ]) assert.ok(names.includes(n), `missing ${n}`);
      assert.ok(!names.includes('cls.predictions.decoder.weight'));
      const sd = exportStateDict(m.store);
      const word = sd.get('bert.embeddings.word_embeddings.weight')!.data as Float32Array;
      assert.ok(word.subarray(0, 32).every((x) => x === 0), 'padding row zeroed');
      assert.ok((sd.get('bert.encoder.layer.0.output.dense.bias')!.data as Float32Array).every((x) => x === 0));
      assert.deepEqual(sd.get('bert.encoder.layer.0.intermediate.dense.weight')!.shape, [64, 32]);
      for (const n of ['bert.embeddings.position_ids', 'cls.predictions.decoder.weight', 'cls.predictions.decoder.bias', 'bert.pooler.dense.weight', 'cls.seq_relationship.bias']) {
        assert.ok(m.stateDictIgnore(n), n);
      }
      assert.ok(!m.stateDictIgnore('cls.predictions.bias'));
    } finally {
      m.dispose();
    }
  });

  test('state dict round trip, strict load errors, inputsEmbeds, no leaks', () => {
    const a = bertModel(cfg, 3);
    const b = new BertForMaskedLM(cfg, { seed: 4, init: 'zeros' });
    const inp = bertInputs(5);
    try {
      const sd = exportStateDict(a.store);
      const ckpt = new Map(sd);
      ckpt.set('cls.predictions.decoder.weight', sd.get('bert.embeddings.word_embeddings.weight')!);
      ckpt.set('cls.predictions.decoder.bias', sd.get('cls.predictions.bias')!);
      ckpt.set('bert.embeddings.position_ids', { dtype: 'I64', shape: [1, 40], data: new BigInt64Array(40) });
      const res = loadStateDict(b.store, ckpt, { ignore: (n) => b.stateDictIgnore(n), source: 'bert.safetensors' });
      assert.deepEqual(res.unexpected, []);
      const args = { inputIds: inp.inputIds, batch: B, tokenTypeIds: inp.tokenTypeIds, attentionMask: inp.attentionMask };
      const run = (m: BertForMaskedLM) => tf.tidy(() => m.forward(args).logits.dataSync().slice());
      assert.equal(maxAbsDiff(run(a), run(b)), 0);

      const missing = new Map(sd);
      missing.delete('cls.predictions.transform.LayerNorm.bias');
      assert.throws(() => loadStateDict(b.store, missing, { source: 'bert.safetensors' }), /bert\.safetensors[\s\S]*cls\.predictions\.transform\.LayerNorm\.bias/);
      const bad = new Map(sd);
      bad.set('bert.encoder.layer.1.attention.self.key.weight', { dtype: 'F32', shape: [32, 31], data: new Float32Array(32 * 31) });
      assert.throws(() => loadStateDict(b.store, bad), /bert\.encoder\.layer\.1\.attention\.self\.key\.weight/);

      const d = tf.tidy(() => maxAbsDiff(
        a.forward(args).hidden.dataSync(),
        a.forward({ ...args, inputIds: undefined, inputsEmbeds: a.embed(inp.inputIds, B) }).hidden.dataSync()));
      assert.equal(d, 0);

      const once = () => {
        const o = a.forward(args);
        tf.dispose([o.hidden, o.logits]);
        const { value, grads } = tf.variableGrads(() => a.mlmLoss({ ...args, labels: inp.labels, training: true }), a.store.trainable());
        value.dispose();
        tf.dispose(Object.values(grads));
      };
      once();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) once();
      assert.equal(tf.memory().numTensors, before);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  for (const c of [
    { name: 'gelu (erf), tied decoder', json: BERT_JSON, seed: 21 },
    { name: 'gelu_new, untied decoder', json: { ...BERT_JSON, hidden_act: 'gelu_new', tie_word_embeddings: false, layer_norm_eps: 1e-5 }, seed: 31 },
  ]) {
    test(`parity with PyTorch: ${c.name}`, (t) => {
      if (!torchCheck.ok) { t.skip(`python3-torch not available: ${torchCheck.reason}`); return; }
      const config = parseBertConfig(c.json, c.name);
      const m = bertModel(config, c.seed);
      const inp = bertInputs(c.seed + 1);
      try {
        const ref = runReference('bert_ref.py', m.store, bertConfigToJSON(config), {
          input_ids: i32(inp.inputIds, [B, BT]), token_type_ids: i32(inp.tokenTypeIds, [B, BT]),
          attention_mask: i32(inp.attentionMask, [B, BT]), labels: i32(inp.labels, [B, BT]),
        }, `bert-${c.json.hidden_act}`);
        const args = { inputIds: inp.inputIds, batch: B, tokenTypeIds: inp.tokenTypeIds, attentionMask: inp.attentionMask, labels: inp.labels };
        const { hidden, logits, loss } = tf.tidy(() => {
          const o = m.forward(args);
          return { hidden: o.hidden.dataSync().slice(), logits: o.logits.dataSync().slice(), loss: m.mlmLoss(args).dataSync()[0] };
        });
        const dHidden = maxAbsDiff(hidden, f32Of(ref.get('hidden'), 'hidden'));
        const dLogits = maxAbsDiff(logits, f32Of(ref.get('logits'), 'logits'));
        const refLoss = f32Of(ref.get('loss'), 'loss')[0];
        const dLoss = Math.abs(loss - refLoss);
        const g = compareGrads(m.store, () => m.mlmLoss(args), ref, c.name);
        t.diagnostic(`max |diff|: hidden ${dHidden.toExponential(2)}, logits ${dLogits.toExponential(2)}, loss ${dLoss.toExponential(2)}, grads ${g.worst.toExponential(2)} (${g.worstName}); loss ${loss} (torch ${refLoss})`);
        assert.ok(dHidden <= 1e-4, `hidden differs by ${dHidden}`);
        assert.ok(dLogits <= 1e-4, `logits differ by ${dLogits}`);
        assert.ok(dLoss <= 1e-4, `loss differs by ${dLoss}`);
      } finally {
        m.dispose();
      }
    });
  }
});
