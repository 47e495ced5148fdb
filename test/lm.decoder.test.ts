/**
 * Decoder-only families (LLaMA / Qwen2 / Mistral configs, GPT-2): numerics
 * parity of logits, hidden states, loss and gradients against independent
 * PyTorch implementations (test/ref/decoder_ref.py), the KV cache against the
 * full forward pass, state-dict and config round trips.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { exportStateDict, loadStateDict } from '../src/lm/state_dict.js';
import { causalLmLoss, IGNORE_INDEX } from '../src/lm/loss.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { Gpt2LMHeadModel, parseGpt2Config } from '../src/lm/families/gpt2.js';
import { type CausalLM, disposeCache, repeatCache } from '../src/lm/families/decoder.js';
import { TORCH_PYTHON, torchAvailable } from '../src/bench/torch.js';
import { assertCloseArrays, ready, Rng } from './helpers.js';

const REF = join(import.meta.dirname, 'ref', 'decoder_ref.py');

/** Adds N(0, 0.05) noise to every parameter so that unit norms and zero biases cannot hide bugs. */
function perturb(model: CausalLM, seed: number): void {
  const rng = new Rng(seed);
  for (const v of model.store.vars.values()) {
    tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.05), v.shape))));
  }
}

const LLAMA = { model_type: 'llama', vocab_size: 97, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, rope_theta: 10000, rms_norm_eps: 1e-6 };
const QWEN2 = { model_type: 'qwen2', vocab_size: 61, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 2, num_attention_heads: 6, num_key_value_heads: 2, tie_word_embeddings: true, rope_theta: 1000000 };
const MISTRAL = { model_type: 'mistral', vocab_size: 50, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, sliding_window: 3 };
const GPT2 = { model_type: 'gpt2', vocab_size: 83, n_positions: 32, n_embd: 32, n_layer: 2, n_head: 4 };

function build(json: Record<string, unknown>, seed = 1): CausalLM {
  return json.model_type === 'gpt2'
    ? new Gpt2LMHeadModel(parseGpt2Config(json), { seed })
    : new LlamaForCausalLM(parseLlamaConfig(json), { seed });
}

interface Batch { ids: Int32Array; mask: Int32Array; pos: Int32Array; labels: Int32Array; B: number; T: number }

/** Right-padded batch: row b has T - b real tokens; labels -100 on padding. */
function batch(V: number, B: number, T: number, seed: number): Batch {
  const rng = new Rng(seed);
  const ids = rng.intArray(B * T, 0, V);
  const mask = new Int32Array(B * T);
  const pos = new Int32Array(B * T);
  const labels = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const real = t < T - b;
      mask[b * T + t] = real ? 1 : 0;
      pos[b * T + t] = t;
      labels[b * T + t] = real ? ids[b * T + t] : IGNORE_INDEX;
    }
  }
  return { ids, mask, pos, labels, B, T };
}

function runTorch(model: CausalLM, x: Batch, grads: string[]): Map<string, Float32Array> {
  const dir = mkdtempSync(join(tmpdir(), 'llmrec-parity-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...model.configJSON(), _grad: grads }));
    writeSafetensors(join(dir, 'weights.safetensors'), exportStateDict(model.store));
    const sh = [x.B, x.T];
    writeSafetensors(join(dir, 'inputs.safetensors'), {
      input_ids: { dtype: 'I32', shape: sh, data: x.ids }, attention_mask: { dtype: 'I32', shape: sh, data: x.mask },
      position_ids: { dtype: 'I32', shape: sh, data: x.pos }, labels: { dtype: 'I32', shape: sh, data: x.labels },
    });
    const r = spawnSync(TORCH_PYTHON, [REF, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`decoder_ref.py failed: ${r.stderr}`);
    const out = readSafetensors(join(dir, 'out.safetensors'));
    return new Map([...out.tensors].map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Values at real (unpadded) positions only: padding rows differ by design. */
function realRows(values: ArrayLike<number>, x: Batch, width: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < x.B * x.T; i++) if (x.mask[i]) for (let j = 0; j < width; j++) out.push(values[i * width + j]);
  return out;
}

const torchCheck = torchAvailable();

describe('decoder-only families', () => {
  before(ready);

  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ['llama (GQA, untied)', LLAMA, ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.1.post_attention_layernorm.weight', 'lm_head.weight']],
    ['qwen2 (q/k/v bias, tied)', QWEN2, ['model.embed_tokens.weight', 'model.layers.0.self_attn.k_proj.bias', 'model.layers.1.mlp.down_proj.weight']],
    ['mistral (sliding window 3)', MISTRAL, ['model.layers.0.self_attn.v_proj.weight']],
    ['gpt2', GPT2, ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.h.0.attn.c_attn.weight', 'transformer.h.1.ln_2.bias']],
  ];
  for (const [name, json, gradNames] of cases) {
    test(`${name}: logits, hidden, loss and gradients match PyTorch within 1e-4`, (t) => {
      if (!torchCheck.ok) { t.skip(`python3-torch not available: ${torchCheck.reason}`); return; }
      const model = build(json, 3);
      perturb(model, 4);
      const x = batch(model.vocabSize, 3, 9, 5);
      const ref = runTorch(model, x, gradNames);
      const vars = gradNames.map((n) => model.store.get(n));
      const { value, grads } = tf.variableGrads(() => {
        const { logits } = model.forward({ inputIds: x.ids, batch: x.B, attentionMask: x.mask });
        return causalLmLoss(logits, x.labels);
      }, vars);
      const out = model.forward({ inputIds: x.ids, batch: x.B, attentionMask: x.mask });
      const V = model.vocabSize;
      const d = model.hiddenSize;
      const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };
      const dl = maxDiff(realRows(out.logits.dataSync(), x, V), realRows(ref.get('logits')!, x, V));
      const dh = maxDiff(realRows(out.hidden.dataSync(), x, d), realRows(ref.get('hidden')!, x, d));
      const dg = Math.max(...gradNames.map((n) => {
        const g = grads[model.store.get(n).name];
        const ours = model.store.transposed.has(n) ? tf.tidy(() => tf.transpose(g).dataSync()) : g.dataSync();
        return maxDiff(ours, ref.get(`grad.${n}`)!);
      }));
      console.log(`# ${name}: max |diff| logits ${dl.toExponential(1)}, hidden ${dh.toExponential(1)}, loss ${Math.abs(value.dataSync()[0] - ref.get('loss')![0]).toExponential(1)}, gradients ${dg.toExponential(1)}`);
      assertCloseArrays(realRows(out.logits.dataSync(), x, V), realRows(ref.get('logits')!, x, V), { atol: 1e-4, rtol: 1e-4 }, 'logits');
      assertCloseArrays(realRows(out.hidden.dataSync(), x, d), realRows(ref.get('hidden')!, x, d), { atol: 1e-4, rtol: 1e-4 }, 'hidden');
      assertCloseArrays(value.dataSync(), ref.get('loss')!, { atol: 1e-5, rtol: 1e-5 }, 'loss');
      for (const n of gradNames) {
        const v = model.store.get(n);
        const g = grads[v.name];
        // Compare in PyTorch layout.
        const ours = model.store.transposed.has(n) ? tf.tidy(() => tf.transpose(g).dataSync()) : g.dataSync();
        assertCloseArrays(ours, ref.get(`grad.${n}`)!, { atol: 1e-5, rtol: 1e-3 }, `grad ${n}`);
      }
      tf.dispose([value, out.logits, out.hidden, ...Object.values(grads)]);
      model.dispose();
    });
  }

  for (const [name, json] of [['llama', LLAMA], ['gpt2', GPT2]] as const) {
    test(`${name}: KV-cached decoding gives the full forward pass's logits (incl. left padding and a repeated prompt cache)`, () => {
      const model = build(json, 7);
      perturb(model, 8);
      const V = model.vocabSize;
      const rng = new Rng(9);
      const T = 7;
      const ids = rng.intArray(2 * T, 0, V);
      // Row 1 is left-padded by 2.
      const mask = Int32Array.from({ length: 2 * T }, (_, i) => (i >= T && i < T + 2 ? 0 : 1));
      const warm = model.forward({ inputIds: ids, batch: 2 }); // builds the (kept) rotary tables
      tf.dispose([warm.logits, warm.hidden]);
      const before = tf.memory().numTensors;
      const full = tf.tidy(() => model.forward({ inputIds: ids, batch: 2, attentionMask: mask }).logits.arraySync());
      // Prefix of 4 tokens, then one token at a time.
      const pre = (a: Int32Array | Int32Array, from: number, to: number) => Int32Array.from([...a.slice(from, to), ...a.slice(T + from, T + to)]);
      let cache = model.forward({ inputIds: pre(ids, 0, 4), batch: 2, attentionMask: pre(mask, 0, 4), useCache: true });
      const stepped: number[][][] = [[], []];
      const take = (l: tf.Tensor3D) => { const a = l.arraySync(); for (let b = 0; b < 2; b++) stepped[b].push(...a[b]); };
      take(cache.logits);
      tf.dispose([cache.logits, cache.hidden]);
      for (let t = 4; t < T; t++) {
        const next = model.forward({ inputIds: pre(ids, t, t + 1), batch: 2, attentionMask: pre(mask, t, t + 1), cache: cache.cache, useCache: true });
        disposeCache(cache.cache);
        take(next.logits);
        tf.dispose([next.logits, next.hidden]);
        cache = next;
      }
      disposeCache(cache.cache);
      for (let b = 0; b < 2; b++) {
        for (let t = 0; t < T; t++) {
          if (!mask[b * T + t]) continue;
          assertCloseArrays(stepped[b][t], full[b][t], { atol: 1e-4, rtol: 1e-4 }, `row ${b} step ${t}`);
        }
      }
      // A batch-1 prompt cache repeated for 3 continuations equals running each in full.
      const prompt = ids.slice(0, 4);
      const p = model.forward({ inputIds: prompt, batch: 1, useCache: true });
      const rep = repeatCache(p.cache!, 3);
      const conts = rng.intArray(3 * 2, 0, V);
      const o = model.forward({ inputIds: conts, batch: 3, cache: rep, useCache: false });
      const oArr = o.logits.arraySync();
      for (let c = 0; c < 3; c++) {
        const whole = tf.tidy(() => model.forward({ inputIds: Int32Array.from([...prompt, ...conts.slice(c * 2, c * 2 + 2)]), batch: 1 }).logits.arraySync());
        assertCloseArrays(oArr[c].flat(), whole[0].slice(4).flat(), { atol: 1e-4, rtol: 1e-4 }, `continuation ${c}`);
      }
      tf.dispose([p.logits, p.hidden, o.logits, o.hidden]);
      disposeCache(p.cache);
      disposeCache(rep);
      assert.equal(tf.memory().numTensors, before, 'no tensors leak across cached decoding');
      model.dispose();
    });
  }

  test('state dicts and configs round-trip; bad tensors are rejected by name without touching the model', () => {
    for (const json of [LLAMA, QWEN2, GPT2]) {
      const a = build(json, 11);
      perturb(a, 12);
      const b = build(json, 13);
      const sd = exportStateDict(a.store);
      const r = loadStateDict(b.store, sd);
      assert.equal(r.missing.length, 0);
      assert.equal(r.unexpected.length, 0);
      const ids = Int32Array.from([1, 2, 3, 4, 5]);
      const la = tf.tidy(() => a.forward({ inputIds: ids }).logits.dataSync());
      const lb = tf.tidy(() => b.forward({ inputIds: ids }).logits.dataSync());
      assert.deepEqual(Array.from(lb), Array.from(la));
      const cfg = a.configJSON();
      const again = json.model_type === 'gpt2' ? parseGpt2Config(cfg) : parseLlamaConfig(cfg);
      assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(cfg)));
      // A mis-shaped tensor: error names it, and b keeps its weights.
      const name = [...sd.keys()][1];
      const bad = new Map(sd);
      bad.set(name, { dtype: 'F32', shape: [1, 2], data: new Float32Array(2) });
      const c = build(json, 14);
      const before = Array.from(c.store.get([...sd.keys()][0]).dataSync());
      assert.throws(() => loadStateDict(c.store, bad, { source: 'x.safetensors' }), new RegExp(`x\\.safetensors.*'${name.replace(/\./g, '\\.')}'`));
      assert.deepEqual(Array.from(c.store.get([...sd.keys()][0]).dataSync()), before);
      const missing = new Map(sd);
      missing.delete(name);
      assert.throws(() => loadStateDict(c.store, missing), /missing 1 parameter/);
      for (const m of [a, b, c]) m.dispose();
    }
  });

  test('configs: HF defaults filled, bad fields named', () => {
    const c = parseLlamaConfig({ vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, custom_field: 'kept' });
    assert.equal(c.rms_norm_eps, 1e-6);
    assert.equal(c.rope_theta, 10000);
    assert.equal((c as Record<string, unknown>).custom_field, 'kept');
    assert.throws(() => parseLlamaConfig({ vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: -2 }, 'cfg.json'), /cfg\.json[\s\S]*num_attention_heads/);
    assert.throws(() => parseLlamaConfig({ ...LLAMA, num_key_value_heads: 3 }, 'cfg.json'), /multiple of num_key_value_heads/);
    assert.throws(() => parseLlamaConfig({ ...LLAMA, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'cfg.json'), /yarn/);
    assert.equal(parseGpt2Config({}).n_embd, 768);
  });
});
