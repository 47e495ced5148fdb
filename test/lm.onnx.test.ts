/**
 * ONNX interop (src/lm/interop/onnx.ts): a tiny LLaMA (GQA, perturbed
 * weights) exported by test/ref/onnx_export.py with torch.onnx.export, run
 * through onnxruntime-node; its logits and candidate scores against llmrec's
 * own forward pass and scoreContinuations, for the plain graph and the
 * KV-cache graph.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { scoreContinuations } from '../src/lm/score.js';
import { loadOnnxCausalLM, onnxRuntimeAvailable, resolveOnnxPath, type OnnxCausalLM } from '../src/lm/interop/onnx.js';
import { exportOnnx, writeCheckpoint } from '../src/bench/lm.js';
import { torchAvailable } from '../src/bench/torch.js';
import { assertCloseArrays, ready, Rng } from './helpers.js';

const CONFIG = { model_type: 'llama', vocab_size: 97, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, rope_theta: 10000, rms_norm_eps: 1e-6 };

const torchCheck = torchAvailable();
const ortCheck = await onnxRuntimeAvailable();
const skip = !torchCheck.ok ? `python3-torch not available: ${torchCheck.reason}` : !ortCheck.ok ? `onnxruntime-node not available: ${ortCheck.reason}` : null;

describe('ONNX export through onnxruntime', { skip: skip ?? false }, () => {
  let dir = '';
  let model: LlamaForCausalLM;
  let plain: OnnxCausalLM;
  let cached: OnnxCausalLM;

  before(async () => {
    await ready();
    model = new LlamaForCausalLM(parseLlamaConfig(CONFIG), { seed: 3 });
    const rng = new Rng(4);
    for (const v of model.store.vars.values()) {
      tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.05), v.shape))));
    }
    dir = mkdtempSync(join(tmpdir(), 'llmrec-onnx-'));
    writeCheckpoint(model, dir);
    const files = exportOnnx(dir, { withPast: true });
    plain = await loadOnnxCausalLM(files.plain!, { threads: 1 });
    cached = await loadOnnxCausalLM(files.withPast!, { threads: 1 });
  });

  after(async () => {
    await plain?.dispose();
    await cached?.dispose();
    model?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Right-padded batch: row b has T - b real tokens. */
  function batch(B: number, T: number) {
    const ids = new Rng(5).intArray(B * T, 0, CONFIG.vocab_size);
    const mask = new Int32Array(B * T);
    for (let b = 0; b < B; b++) for (let t = 0; t < T - b; t++) mask[b * T + t] = 1;
    return { ids, mask };
  }

  function realRows(values: ArrayLike<number>, mask: Int32Array, V: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < mask.length; i++) if (mask[i]) for (let j = 0; j < V; j++) out.push(values[i * V + j]);
    return out;
  }

  test('the graphs are found and described', () => {
    assert.equal(plain.hasKvCache, false);
    assert.equal(cached.hasKvCache, true);
    assert.equal(plain.vocabSize, CONFIG.vocab_size);
    assert.equal(cached.vocabSize, CONFIG.vocab_size);
    assert.equal(resolveOnnxPath(dir), join(dir, 'model_with_past.onnx'));
    assert.throws(() => resolveOnnxPath(join(dir, 'missing')), /not found/);
  });

  test('logits match llmrec within 1e-4 (right padding, dynamic batch and length)', async () => {
    const V = CONFIG.vocab_size;
    for (const [B, T] of [[3, 9], [1, 4]]) {
      const { ids, mask } = batch(B, T);
      const want = tf.tidy(() => model.forward({ inputIds: ids, batch: B, attentionMask: mask }).logits.dataSync() as Float32Array);
      for (const [name, m] of [['model.onnx', plain], ['model_with_past.onnx', cached]] as const) {
        const got = await m.logits(ids, B, mask);
        assert.equal(got.length, B * T * V);
        assertCloseArrays(realRows(got, mask, V), realRows(want, mask, V), { atol: 1e-4, rtol: 1e-4 }, `${name} logits [${B}, ${T}]`);
      }
    }
  });

  test('left padding with explicit position ids matches llmrec', async () => {
    const V = CONFIG.vocab_size;
    const B = 2;
    const T = 6;
    const ids = new Rng(6).intArray(B * T, 0, V);
    const mask = Int32Array.from([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    const pos = Int32Array.from([0, 0, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5]);
    const want = tf.tidy(() => model.forward({ inputIds: ids, batch: B, attentionMask: mask, positionIds: pos }).logits.dataSync() as Float32Array);
    for (const m of [plain, cached]) {
      assertCloseArrays(realRows(await m.logits(ids, B, mask, pos), mask, V), realRows(want, mask, V), { atol: 1e-4, rtol: 1e-4 }, m.path);
    }
  });

  test('scoreContinuations matches llmrec (padded batch and KV cache, chunked)', async () => {
    const rng = new Rng(7);
    const prompt = rng.intArray(11, 0, CONFIG.vocab_size);
    const candidates = [3, 1, 5, 2, 4].map((len) => Array.from(rng.intArray(len, 0, CONFIG.vocab_size)));
    const want = scoreContinuations(model, { ids: prompt }, candidates).logProb;
    for (const m of [plain, cached]) {
      assertCloseArrays(await m.scoreContinuations(prompt, candidates), want, { atol: 2e-4, rtol: 1e-5 }, `${m.path} scores`);
      assertCloseArrays(await m.scoreContinuations(prompt, candidates, { chunk: 2 }), want, { atol: 2e-4, rtol: 1e-5 }, `${m.path} scores (chunk 2)`);
    }
    await assert.rejects(cached.scoreContinuations(prompt, [[]]), /empty/);
    await assert.rejects(plain.scoreContinuations(prompt, [[CONFIG.vocab_size]]), /outside the vocabulary/);
  });
});
