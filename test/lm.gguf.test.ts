/**
 * GGUF interop: the writer / reader round trip (also checked against
 * node-llama-cpp's own GGUF parser), the LLaMA / Qwen2 export layout, and
 * numerics parity of llama.cpp (through node-llama-cpp) with llmrec's
 * forward pass on tiny models with a BPE trained on the synthetic shop.
 * The llama.cpp part is skipped, with the reason, when node-llama-cpp or its
 * prebuilt binary cannot load on this machine.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { generateShop } from '../src/data/synthetic.js';
import { itemSentence } from '../src/data/item_text.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { Gpt2LMHeadModel, parseGpt2Config } from '../src/lm/families/gpt2.js';
import { trainBpe, trainWordPiece, type Tokenizer } from '../src/lm/tokenizer/index.js';
import { exportStateDict } from '../src/lm/state_dict.js';
import { packBlocks, pretrainCausalLM } from '../src/lm/pretrain.js';
import {
  exportGguf, floatToHalf, gguf, GGUF_TOKEN_TYPE, ggufMetadata, type GgufValue, permuteRopeRows, readGguf, readGgufTensor, writeGguf,
} from '../src/lm/interop/gguf.js';
import {
  dispose, type GgufHandle, llamaCppStatus, loadGguf, nextTokenLogits, scoreContinuations,
} from '../src/lm/interop/llamacpp.js';
import { ready, Rng } from './helpers.js';

await ready();

const dir = mkdtempSync(join(tmpdir(), 'llmrec-gguf-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const shop = generateShop({ users: 20, items: 80, seed: 3 });
const sentences = [...shop.itemMeta.values()].map((m) => itemSentence(m));
const tokenizer = trainBpe(sentences, { vocabSize: 400 });

/** A tiny LLaMA-family model over `tokenizer`, with N(0, 0.3) noise on every parameter. */
function tinyModel(tok: Tokenizer, extra: Record<string, unknown>, seed: number): LlamaForCausalLM {
  const cfg = parseLlamaConfig({
    model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-5, max_position_embeddings: 256, ...extra,
  });
  const model = new LlamaForCausalLM(cfg, { seed });
  const rng = new Rng(seed + 100);
  for (const v of model.store.vars.values()) {
    tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.3), v.shape))));
  }
  return model;
}

/** A tiny GPT-2 over `tokenizer`, with N(0, 0.3) noise on every parameter. */
function tinyGpt2(tok: Tokenizer, extra: Record<string, unknown>, seed: number): Gpt2LMHeadModel {
  const model = new Gpt2LMHeadModel(parseGpt2Config({ vocab_size: tok.vocabSize, n_positions: 128, n_embd: 64, n_layer: 2, n_head: 4, ...extra }), { seed });
  const rng = new Rng(seed + 100);
  for (const v of model.store.vars.values()) {
    tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.3), v.shape))));
  }
  return model;
}

/** llmrec's logits of the last position after `ids`. */
function refLogits(model: LlamaForCausalLM | Gpt2LMHeadModel, ids: number[]): Float32Array {
  const out = model.forward({ inputIds: [ids] });
  const all = out.logits.dataSync() as Float32Array;
  tf.dispose([out.logits, out.hidden]);
  const V = model.vocabSize;
  return all.slice((ids.length - 1) * V, ids.length * V);
}

function logSoftmax(x: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - max);
  const lse = max + Math.log(s);
  return Float64Array.from(x, (v) => v - lse);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const prompts = [sentences[1], sentences[7], 'Title: Nordlys'].map((s) => tokenizer.encode(s).slice(0, 40));

describe('GGUF writer and reader', () => {
  test('floatToHalf rounds to nearest even and handles the edges', () => {
    assert.equal(floatToHalf(1), 0x3c00);
    assert.equal(floatToHalf(-2), 0xc000);
    assert.equal(floatToHalf(65504), 0x7bff);
    assert.equal(floatToHalf(65520), 0x7c00); // rounds up to infinity
    assert.equal(floatToHalf(-Infinity), 0xfc00);
    assert.equal(floatToHalf(NaN) & 0x7e00, 0x7e00);
    assert.equal(floatToHalf(2 ** -24), 0x0001); // smallest subnormal
    assert.equal(floatToHalf(2 ** -25), 0x0000); // tie → even (0)
    assert.equal(floatToHalf(3 * 2 ** -25), 0x0002); // tie → even (2)
    assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // tie → even
    assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(floatToHalf(-0), 0x8000);
  });

  test('round trip of every metadata type, tensors and alignment', () => {
    const path = join(dir, 'roundtrip.gguf');
    const meta: Array<[string, GgufValue]> = [
      ['general.architecture', gguf.str('test')],
      ['a.u8', { type: 'u8', value: 255 }],
      ['a.i8', { type: 'i8', value: -128 }],
      ['a.u16', { type: 'u16', value: 65535 }],
      ['a.i16', { type: 'i16', value: -32768 }],
      ['a.u32', gguf.u32(4294967295)],
      ['a.i32', gguf.i32(-5)],
      ['a.f32', gguf.f32(0.5)],
      ['a.f64', gguf.f64(Math.PI)],
      ['a.bool', gguf.bool(true)],
      ['a.u64', gguf.u64(2n ** 63n)],
      ['a.i64', { type: 'i64', value: -(2n ** 40n) }],
      ['a.str', gguf.str('héllo ✓')],
      ['a.strs', gguf.strings(['x', '', 'Ġa b'])],
      ['a.i32s', gguf.i32s([1, -2, 3])],
      ['a.empty', gguf.strings([])],
    ];
    const rng = new Rng(1);
    const w = rng.normalArray(6 * 5, 1);
    const b = rng.normalArray(7, 1);
    const h = rng.normalArray(3 * 2 * 4, 1);
    writeGguf(path, {
      metadata: meta,
      tensors: [
        { name: 'w', shape: [6, 5], type: 'F32', data: w },
        { name: 'b', shape: [7], type: 'F32', data: b },
        { name: 'h', shape: [3, 2, 4], type: 'F16', data: h },
        { name: 'bf', shape: [2, 4], type: 'BF16', data: h.slice(0, 8) },
      ],
      alignment: 64,
    });
    const file = readGguf(path);
    assert.equal(file.version, 3);
    assert.equal(file.alignment, 64);
    assert.equal(file.dataOffset % 64, 0);
    assert.deepEqual(ggufMetadata(file, 'general.alignment'), 64);
    for (const [key, value] of meta) {
      const got = file.metadata.get(key);
      if (value.type === 'f32') assert.equal(got?.value, Math.fround(value.value));
      else assert.deepEqual(got, value, key);
    }
    assert.deepEqual(file.tensors.map((t) => [t.name, t.shape, t.type]), [['w', [6, 5], 'F32'], ['b', [7], 'F32'], ['h', [3, 2, 4], 'F16'], ['bf', [2, 4], 'BF16']]);
    for (const t of file.tensors) assert.equal(t.fileOffset % 64, 0, t.name);
    assert.deepEqual(readGgufTensor(file, 'w').data, w);
    assert.deepEqual(readGgufTensor(file, 'b').data, b);
    const hh = readGgufTensor(file, 'h').data;
    assert.ok(maxAbsDiff(hh, h) < 2e-3, 'f16 values');
    const bf = readGgufTensor(file, 'bf').data;
    assert.ok(maxAbsDiff(bf, h.slice(0, 8)) < 2e-2, 'bf16 values');
  });

  test('the writer rejects malformed input', () => {
    const path = join(dir, 'bad.gguf');
    const t = { name: 'x', shape: [2], type: 'F32' as const, data: new Float32Array(2) };
    assert.throws(() => writeGguf(path, { metadata: [['k', gguf.u32(1)], ['k', gguf.u32(2)]], tensors: [] }), /duplicate metadata key 'k'/);
    assert.throws(() => writeGguf(path, { metadata: [], tensors: [t, t] }), /duplicate tensor name 'x'/);
    assert.throws(() => writeGguf(path, { metadata: [], tensors: [{ ...t, shape: [3] }] }), /has 2 values, shape \[3\] needs 3/);
    assert.throws(() => writeGguf(path, { metadata: [['k', gguf.u32(-1)]], tensors: [] }), /not a valid u32/);
    assert.throws(() => writeGguf(path, { metadata: [], tensors: [], alignment: 24 }), /power of two/);
  });

  test('permuteRopeRows matches numpy reshape(n_head, 2, D/2, cols).swapaxes(1, 2)', () => {
    // One head, D = 4, cols = 1: rows [0 1 | 2 3] → [0 2 1 3].
    assert.deepEqual(Array.from(permuteRopeRows(Float32Array.from([0, 1, 2, 3]), 4, 1, 1)), [0, 2, 1, 3]);
    // Two heads, D = 4, cols = 2: per head rows (a0 a1 | b0 b1) → (a0 b0 a1 b1).
    const rows = Float32Array.from({ length: 16 }, (_, i) => i);
    assert.deepEqual(Array.from(permuteRopeRows(rows, 8, 2, 2)), [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]);
  });
});

describe('exportGguf layout', () => {
  test('llama: names, shapes, permuted q/k, tokenizer metadata; reader round trip', async () => {
    const model = tinyModel(tokenizer, {}, 1);
    const path = join(dir, 'layout.gguf');
    const res = exportGguf(model, tokenizer, path, { name: 'tiny' });
    assert.equal(res.architecture, 'llama');
    const file = readGguf(path);
    const md = (k: string) => ggufMetadata(file, k);
    assert.equal(md('general.architecture'), 'llama');
    assert.equal(md('general.name'), 'tiny');
    assert.equal(md('llama.embedding_length'), 64);
    assert.equal(md('llama.block_count'), 2);
    assert.equal(md('llama.feed_forward_length'), 128);
    assert.equal(md('llama.attention.head_count'), 4);
    assert.equal(md('llama.attention.head_count_kv'), 2);
    assert.equal(md('llama.rope.dimension_count'), 16);
    assert.equal(md('llama.context_length'), 256);
    assert.equal(md('llama.vocab_size'), tokenizer.vocabSize);
    assert.equal(md('llama.rope.freq_base'), 10000);
    assert.equal(md('llama.attention.layer_norm_rms_epsilon'), Math.fround(1e-5));
    assert.equal(md('tokenizer.ggml.model'), 'gpt2');
    assert.equal(md('tokenizer.ggml.pre'), 'gpt-2');
    const tokens = md('tokenizer.ggml.tokens') as string[];
    const types = md('tokenizer.ggml.token_type') as number[];
    assert.equal(tokens.length, tokenizer.vocabSize);
    for (let i = 0; i < tokens.length; i++) assert.equal(tokens[i], tokenizer.idToToken(i));
    const specials = tokenizer.specialTokens;
    assert.equal(types[specials.bos!.id], GGUF_TOKEN_TYPE.control);
    assert.equal(types[tokenizer.tokenToId('Ġ') as number], GGUF_TOKEN_TYPE.normal);
    assert.equal(md('tokenizer.ggml.bos_token_id'), specials.bos!.id);
    assert.equal(md('tokenizer.ggml.eos_token_id'), specials.eos!.id);
    assert.equal(md('tokenizer.ggml.padding_token_id'), specials.pad!.id);
    const merges = md('tokenizer.ggml.merges') as string[];
    assert.deepEqual(merges, (tokenizer.toJSON().model as { merges: string[] }).merges);

    assert.equal(file.tensors.length, 1 + 2 * 9 + 2);
    const sd = exportStateDict(model.store);
    const emb = readGgufTensor(file, 'token_embd.weight');
    assert.deepEqual(emb.shape, [tokenizer.vocabSize, 64]);
    assert.deepEqual(emb.data, sd.get('model.embed_tokens.weight')!.data);
    const q = readGgufTensor(file, 'blk.1.attn_q.weight');
    const hfQ = sd.get('model.layers.1.self_attn.q_proj.weight')!.data as Float32Array;
    assert.deepEqual(q.shape, [64, 64]);
    assert.deepEqual(q.data, permuteRopeRows(hfQ, 64, 64, 4));
    assert.notDeepEqual(q.data, hfQ);
    const k = readGgufTensor(file, 'blk.0.attn_k.weight');
    assert.deepEqual(k.shape, [32, 64]);
    assert.deepEqual(k.data, permuteRopeRows(sd.get('model.layers.0.self_attn.k_proj.weight')!.data as Float32Array, 32, 64, 2));
    assert.deepEqual(readGgufTensor(file, 'blk.0.attn_v.weight').data, sd.get('model.layers.0.self_attn.v_proj.weight')!.data);
    assert.deepEqual(readGgufTensor(file, 'blk.0.ffn_down.weight').shape, [64, 128]);
    assert.deepEqual(readGgufTensor(file, 'output.weight').data, sd.get('lm_head.weight')!.data);
    assert.deepEqual(readGgufTensor(file, 'output_norm.weight').data, sd.get('model.norm.weight')!.data);

    // node-llama-cpp's own GGUF parser reads the same file the same way (when installed).
    const nlcName: string = 'node-llama-cpp';
    const nlc = await import(nlcName).catch(() => null) as null | {
      readGgufFileInfo(p: string, o: { readTensorInfo: boolean; logWarnings: boolean }): Promise<{
        version: number; metadata: { general: { architecture: string }; llama: { block_count: number } };
        tensorInfo?: Array<{ name: string; dimensions: ReadonlyArray<number | bigint>; ggmlType: number }>;
      }>;
    };
    if (nlc !== null) {
      const info = await nlc.readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
      assert.equal(info.version, 3);
      assert.equal(info.metadata.general.architecture, 'llama');
      assert.equal(info.metadata.llama.block_count, 2);
      const ti = info.tensorInfo!.find((t) => t.name === 'blk.0.attn_k.weight')!;
      assert.deepEqual(ti.dimensions.map(Number), [64, 32]);
      assert.equal(ti.ggmlType, 0);
    }
    model.dispose();
  });

  test('tied, f16 and qwen2 layouts', () => {
    const tied = tinyModel(tokenizer, { tie_word_embeddings: true }, 2);
    const p1 = join(dir, 'tied16.gguf');
    exportGguf(tied, tokenizer, p1, { dtype: 'f16' });
    const f1 = readGguf(p1);
    assert.equal(f1.tensors.find((t) => t.name === 'output.weight'), undefined);
    assert.equal(ggufMetadata(f1, 'general.file_type'), 1);
    assert.equal(f1.tensors.find((t) => t.name === 'token_embd.weight')?.type, 'F16');
    assert.equal(f1.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')?.type, 'F32');
    tied.dispose();

    const qwen = tinyModel(tokenizer, { model_type: 'qwen2' }, 3);
    const p2 = join(dir, 'qwen-layout.gguf');
    assert.equal(exportGguf(qwen, tokenizer, p2).architecture, 'qwen2');
    const f2 = readGguf(p2);
    assert.equal(ggufMetadata(f2, 'qwen2.attention.head_count'), 4);
    const sd = exportStateDict(qwen.store);
    // No RoPE permutation for qwen2 (llama.cpp runs it with rotate-half RoPE).
    assert.deepEqual(readGgufTensor(f2, 'blk.0.attn_q.weight').data, sd.get('model.layers.0.self_attn.q_proj.weight')!.data);
    assert.deepEqual(readGgufTensor(f2, 'blk.0.attn_q.bias').data, sd.get('model.layers.0.self_attn.q_proj.bias')!.data);
    assert.equal(f2.tensors.some((t) => t.name === 'blk.0.attn_output.bias'), false);
    qwen.dispose();

    const g = tinyGpt2(tokenizer, {}, 4);
    const p3 = join(dir, 'gpt2-layout.gguf');
    assert.equal(exportGguf(g, tokenizer, p3).architecture, 'gpt2');
    const f3 = readGguf(p3);
    const gsd = exportStateDict(g.store);
    const qkv = readGgufTensor(f3, 'blk.0.attn_qkv.weight');
    assert.deepEqual(qkv.shape, [192, 64]);
    const conv = gsd.get('transformer.h.0.attn.c_attn.weight')!;
    assert.deepEqual(conv.shape, [64, 192]);
    assert.equal(qkv.data[5 * 64 + 3], (conv.data as Float32Array)[3 * 192 + 5]);
    assert.deepEqual(readGgufTensor(f3, 'output.weight').data, gsd.get('transformer.wte.weight')!.data);
    assert.deepEqual(readGgufTensor(f3, 'position_embd.weight').shape, [128, 64]);
    g.dispose();
  });

  test('unsupported models and tokenizers are rejected with clear errors', () => {
    const path = join(dir, 'never.gguf');
    const wp = trainWordPiece(sentences.slice(0, 20), { vocabSize: 200 });
    const m1 = tinyModel(wp, {}, 4);
    assert.throws(() => exportGguf(m1, wp, path), /only byte-level BPE tokenizers/);
    m1.dispose();
    const small = tinyModel(tokenizer, { vocab_size: 300 }, 5);
    assert.throws(() => exportGguf(small, tokenizer, path), /tokenizer has 400 ids but the model only 300/);
    small.dispose();
    const mistral = tinyModel(tokenizer, { model_type: 'mistral', sliding_window: 16 }, 6);
    assert.throws(() => exportGguf(mistral, tokenizer, path), /sliding-window attention/);
    mistral.dispose();
    const qwen = tinyModel(tokenizer, { model_type: 'qwen2', mlp_bias: true }, 7);
    assert.throws(() => exportGguf(qwen, tokenizer, path), /mlp_bias is not supported for Qwen2/);
    qwen.dispose();
    const relu = tinyGpt2(tokenizer, { activation_function: 'relu' }, 8);
    assert.throws(() => exportGguf(relu, tokenizer, path), /GPT-2 activation 'relu' is not supported/);
    relu.dispose();
  });
});

const status = await llamaCppStatus();
const skipReason = status.available ? false : `node-llama-cpp cannot run here: ${status.reason}`;
if (status.available) console.log(`# llama.cpp: ${status.llamaCpp}`);

describe('llama.cpp parity (node-llama-cpp)', { skip: skipReason }, () => {
  const handles: GgufHandle[] = [];
  after(async () => { for (const h of handles) await dispose(h); });

  const variants: Array<{ label: string; extra: Record<string, unknown>; dtype: 'f32' | 'f16'; tol: number; gpt2?: boolean }> = [
    { label: 'llama untied f32', extra: {}, dtype: 'f32', tol: 1e-3 },
    { label: 'llama tied f32', extra: { tie_word_embeddings: true }, dtype: 'f32', tol: 1e-3 },
    { label: 'llama untied f16', extra: {}, dtype: 'f16', tol: 0.05 },
    { label: 'qwen2 tied f32 (q/k/v biases)', extra: { model_type: 'qwen2', tie_word_embeddings: true }, dtype: 'f32', tol: 1e-3 },
    { label: 'llama GQA head_dim 32, linear RoPE scaling, attention + mlp biases', extra: { head_dim: 32, rope_scaling: { type: 'linear', factor: 2 }, attention_bias: true, mlp_bias: true }, dtype: 'f32', tol: 1e-3 },
    // ggml's CPU GELU reads a table indexed by the F16-rounded input, hence the looser bound.
    { label: 'gpt2 f32', extra: {}, dtype: 'f32', tol: 1e-2, gpt2: true },
  ];

  variants.forEach((v, vi) => {
    test(`next-token logits: ${v.label}`, async () => {
      const model = v.gpt2 ? tinyGpt2(tokenizer, v.extra, 10 + vi) : tinyModel(tokenizer, v.extra, 10 + vi);
      const path = join(dir, `parity-${vi}.gguf`);
      exportGguf(model, tokenizer, path, { dtype: v.dtype });
      const h = await loadGguf(path);
      handles.push(h);
      assert.equal(h.vocabSize, tokenizer.vocabSize);
      let worstLogit = 0;
      let worstLogProb = 0;
      for (const ids of prompts) {
        const ours = refLogits(model, ids);
        const theirs = await nextTokenLogits(h, ids);
        worstLogit = Math.max(worstLogit, maxAbsDiff(theirs, ours));
        worstLogProb = Math.max(worstLogProb, maxAbsDiff(logSoftmax(theirs), logSoftmax(ours)));
      }
      console.log(`# ${v.label}: max |Δ logit| ${worstLogit.toExponential(2)}, max |Δ log-prob| ${worstLogProb.toExponential(2)}`);
      assert.ok(worstLogit <= v.tol, `max logit difference ${worstLogit} > ${v.tol}`);
      assert.ok(worstLogProb <= v.tol, `max log-prob difference ${worstLogProb} > ${v.tol}`);
      model.dispose();
    });
  });

  test('a model llmrec trained (causal-LM pre-training on the shop text) gives llama.cpp the same next-token logits', async () => {
    const model = new LlamaForCausalLM(parseLlamaConfig({
      model_type: 'llama', vocab_size: tokenizer.vocabSize, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-5, max_position_embeddings: 256, tie_word_embeddings: true,
    }), { seed: 41 });
    const eos = tokenizer.specialTokens.eos!.id;
    const blocks = packBlocks(sentences.map((t) => tokenizer.encode(t, { addSpecialTokens: false })), eos, 32);
    const held = blocks.slice(0, 4);
    const r = await pretrainCausalLM(model, blocks.slice(4), held, { blockSize: 32, batchSize: 8, lr: 1e-2, warmupSteps: 3, maxSteps: 30, seed: 1 });
    assert.ok(r.heldOutPerplexity < tokenizer.vocabSize / 3, `trained: held-out perplexity ${r.heldOutPerplexity}`);
    const path = join(dir, 'trained.gguf');
    exportGguf(model, tokenizer, path, { dtype: 'f32' });
    const h = await loadGguf(path);
    handles.push(h);
    let worst = 0;
    for (const ids of prompts) worst = Math.max(worst, maxAbsDiff(await nextTokenLogits(h, ids), refLogits(model, ids)));
    console.log(`# trained model (perplexity ${r.heldOutPerplexity.toFixed(1)}): max |Δ logit| ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-3, `max logit difference ${worst}`);
    model.dispose();
  });

  test('scoreContinuations matches summed log-probs of model.forward, sharing the prompt', async () => {
    const model = tinyModel(tokenizer, {}, 30);
    const path = join(dir, 'score.gguf');
    exportGguf(model, tokenizer, path);
    const h = await loadGguf(path);
    handles.push(h);
    const prompt = tokenizer.encode('Title: Nordlys Clarifying Hair Mask; Brand:');
    const candidates = sentences.slice(0, 4).map((s) => tokenizer.encode(` ${s}`).slice(0, 6));
    candidates.push([], [candidates[0][0]]);
    const scores = await scoreContinuations(h, prompt, candidates);
    const V = model.vocabSize;
    let worst = 0;
    candidates.forEach((c, i) => {
      let want = 0;
      if (c.length > 0) {
        const ids = [...prompt, ...c];
        const out = model.forward({ inputIds: [ids] });
        const lp = tf.tidy(() => tf.logSoftmax(out.logits).dataSync() as Float32Array);
        tf.dispose([out.logits, out.hidden]);
        for (let j = 0; j < c.length; j++) want += lp[(prompt.length - 1 + j) * V + c[j]];
      }
      worst = Math.max(worst, Math.abs(scores[i] - want));
      assert.ok(Math.abs(scores[i] - want) <= 1e-3 * Math.max(1, c.length), `candidate ${i}: llama.cpp ${scores[i]}, llmrec ${want}`);
    });
    console.log(`# scoreContinuations: max |Δ sum log-prob| ${worst.toExponential(2)}`);
    assert.equal(scores[4], 0);
    // The KV cache now holds prompt + the last candidate; next-token logits of a
    // different prompt must not see stale state.
    const other = prompts[1];
    assert.ok(maxAbsDiff(await nextTokenLogits(h, other), refLogits(model, other)) <= 1e-3);
    assert.ok(maxAbsDiff(await nextTokenLogits(h, prompt), refLogits(model, prompt)) <= 1e-3);
    await assert.rejects(nextTokenLogits(h, [tokenizer.vocabSize]), /outside the vocabulary/);
    await assert.rejects(scoreContinuations(h, [], [[1]]), /prompt is empty/);
    model.dispose();
  });

  test('a file llama.cpp cannot load fails with its message', async () => {
    const path = join(dir, 'broken.gguf');
    writeGguf(path, { metadata: [['general.architecture', gguf.str('llama')], ['llama.vocab_size', gguf.u32(10)]], tensors: [] });
    await assert.rejects(loadGguf(path), /llama\.cpp could not load/);
  });
});
