/**
 * LM core around the families: Hugging Face checkpoint folders (single,
 * sharded, f16/bf16), LoRA with PEFT semantics and files, embedding
 * injection, prefix-shared continuation scoring, and generation (greedy,
 * sampling, beam, trie-constrained).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { readSafetensors, type SafeTensor, writeSafetensors } from '../src/io/safetensors.js';
import { checkpointValueCount, loadPretrained, savePretrained } from '../src/lm/checkpoint.js';
import { exportStateDict } from '../src/lm/state_dict.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import type { CausalLM } from '../src/lm/families/decoder.js';
import { applyLora, loadAdapter, mergeLora, parseLoraConfig, removeLora, saveAdapter, unmergeLora } from '../src/lm/lora.js';
import { findSlots, injectEmbeddings } from '../src/lm/inject.js';
import { nextTokenLogProbs, scoreContinuations } from '../src/lm/score.js';
import { generate } from '../src/lm/generate.js';
import { TokenTrie } from '../src/lm/trie.js';
import { causalLmLoss } from '../src/lm/loss.js';
import { AdamW } from '../src/nn/index.js';
import { assertCloseArrays, ready, Rng } from './helpers.js';

const CFG = { model_type: 'llama', vocab_size: 40, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 };

function tiny(seed = 1): LlamaForCausalLM {
  const m = new LlamaForCausalLM(parseLlamaConfig(CFG), { seed });
  // Larger weights than HF's 0.02 init so the distributions are far from uniform.
  const rng = new Rng(seed + 100);
  for (const v of m.store.vars.values()) tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.3), v.shape))));
  return m;
}

function logits(m: CausalLM, ids: number[]): Float32Array {
  const o = m.forward({ inputIds: Int32Array.from(ids) });
  const d = o.logits.dataSync() as Float32Array;
  tf.dispose([o.logits, o.hidden]);
  return d;
}

/** float32 → bf16 bits (round to nearest even) and → f16 bits, for writing half-precision checkpoints. */
function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return Uint16Array.from(u, (b) => ((b + 0x7fff + ((b >> 16) & 1)) >>> 16) & 0xffff);
}
function toF16(x: Float32Array): Uint16Array {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  return Uint16Array.from(x, (v) => {
    f[0] = v;
    const b = u[0];
    const sign = (b >>> 16) & 0x8000;
    const e = ((b >>> 23) & 0xff) - 127 + 15;
    const m = b & 0x7fffff;
    if (e <= 0) return sign | Math.round((m | 0x800000) / 2 ** (14 - e)) ;
    return sign | (e << 10) | Math.round(m / 8192);
  });
}

let dir: string;
describe('LM core', () => {
  before(async () => { await ready(); dir = mkdtempSync(join(tmpdir(), 'llmrec-lmcore-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('savePretrained/loadPretrained: single file and shards give identical logits; f16/bf16 checkpoints load', () => {
    const a = tiny(1);
    const ids = [1, 5, 9, 3, 7];
    const ref = logits(a, ids);
    savePretrained(a, join(dir, 'single'));
    savePretrained(a, join(dir, 'sharded'), { maxShardBytes: 8000 });
    assert.ok(existsSync(join(dir, 'sharded', 'model.safetensors.index.json')));
    assert.ok(!existsSync(join(dir, 'sharded', 'model.safetensors')));
    const idx = JSON.parse(readFileSync(join(dir, 'sharded', 'model.safetensors.index.json'), 'utf8'));
    assert.ok(new Set(Object.values(idx.weight_map)).size > 1, 'several shards');
    // The count a report states, from the headers alone, single file or shards.
    const stored = [...exportStateDict(a.store).values()].reduce((n, t) => n + t.shape.reduce((p, q) => p * q, 1), 0);
    assert.equal(checkpointValueCount(join(dir, 'single')), stored);
    assert.equal(checkpointValueCount(join(dir, 'sharded')), stored);
    for (const sub of ['single', 'sharded']) {
      const { model, report } = loadPretrained(join(dir, sub));
      assert.equal(report.missing.length, 0);
      assert.deepEqual(Array.from(logits(model as CausalLM, ids)), Array.from(ref));
      model.dispose();
    }
    // Half precision: the same weights rounded to bf16 / f16.
    const sd = exportStateDict(a.store);
    for (const [dtype, conv, tol] of [['BF16', toBf16, 0.05], ['F16', toF16, 0.01]] as const) {
      const sub = join(dir, dtype);
      savePretrained(a, sub);
      const half = new Map<string, SafeTensor>([...sd].map(([n, t]) => [n, { dtype, shape: t.shape, data: conv(t.data as Float32Array) }]));
      writeSafetensors(join(sub, 'model.safetensors'), half);
      const { model } = loadPretrained(sub);
      const w = (model.store.get('model.norm.weight').dataSync() as Float32Array);
      assertCloseArrays(w, a.store.get('model.norm.weight').dataSync(), { atol: 0, rtol: dtype === 'BF16' ? 1 / 128 : 1 / 1024 }, `${dtype} weights`);
      assertCloseArrays(logits(model as CausalLM, ids), ref, { atol: tol, rtol: tol }, `${dtype} logits`);
      model.dispose();
    }
    // Errors name the folder and the problem.
    writeFileSync(join(dir, 'bad.json'), '{');
    assert.throws(() => loadPretrained(join(dir, 'nowhere')), /no config\.json/);
    const unknown = join(dir, 'unknown');
    savePretrained(a, unknown);
    writeFileSync(join(unknown, 'config.json'), JSON.stringify({ model_type: 'bloom' }));
    assert.throws(() => loadPretrained(unknown), /model_type 'bloom' is not supported/);
    a.dispose();
  });

  test('loadPretrained minVocabSize grows the embeddings and an untied head, new rows at the mean row; the old ids score as before', () => {
    const a = new LlamaForCausalLM(parseLlamaConfig({ ...CFG, tie_word_embeddings: false }), { seed: 4 });
    const rng = new Rng(104);
    for (const v of a.store.vars.values()) tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.3), v.shape))));
    const sub = join(dir, 'grow');
    savePretrained(a, sub);
    const ids = [1, 5, 9, 3, 7];
    const ref = logits(a, ids);
    const before = exportStateDict(a.store);
    const { model } = loadPretrained(sub, { minVocabSize: 43 });
    const m = model as CausalLM;
    assert.equal(m.vocabSize, 43);
    assert.equal(m.configJSON().vocab_size, 43);
    const after = exportStateDict(m.store);
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const old = before.get(name)!.data as Float32Array;
      const grown = after.get(name)!;
      assert.deepEqual(grown.shape, [43, 16], name);
      const g = grown.data as Float32Array;
      assert.deepEqual(Array.from(g.subarray(0, 40 * 16)), Array.from(old), `${name}: the stored rows unchanged`);
      for (let c = 0; c < 16; c++) {
        let mean = 0;
        for (let r = 0; r < 40; r++) mean += old[r * 16 + c];
        mean /= 40;
        for (let r = 40; r < 43; r++) assert.ok(Math.abs(g[r * 16 + c] - mean) < 1e-6, `${name} row ${r} col ${c}: ${g[r * 16 + c]} vs the mean ${mean}`);
      }
    }
    // The same hidden states: the stored ids' logits are unchanged, the new ids' equal those of the mean head row.
    const got = logits(m, ids);
    for (let t = 0; t < ids.length; t++) {
      assertCloseArrays(got.subarray(t * 43, t * 43 + 40), ref.subarray(t * 40, (t + 1) * 40), { atol: 1e-5, rtol: 1e-5 }, `position ${t}`);
      assert.ok(Math.abs(got[t * 43 + 40] - got[t * 43 + 42]) < 1e-6, 'the new rows are one row');
    }
    // Saved again, the grown model loads without the option; a size the checkpoint already has changes nothing.
    savePretrained(m, join(dir, 'grown'));
    const again = loadPretrained(join(dir, 'grown')).model as CausalLM;
    assert.deepEqual(Array.from(logits(again, ids)), Array.from(got));
    for (const n of [40, 12]) {
      const same = loadPretrained(sub, { minVocabSize: n }).model as CausalLM;
      assert.equal(same.vocabSize, 40);
      assert.deepEqual(Array.from(logits(same, ids)), Array.from(ref));
      same.dispose();
    }
    assert.throws(() => loadPretrained(sub, { minVocabSize: 1.5 }), /minVocabSize must be a positive integer, got 1\.5/);
    for (const x of [a, m, again]) x.dispose();
  });

  test('LoRA: B = 0 leaves outputs unchanged; only adapters train; merge/unmerge; PEFT adapter files round-trip', () => {
    const m = tiny(2);
    const ids = [2, 4, 6, 8, 10, 12];
    const base = logits(m, ids);
    const cfg = parseLoraConfig({ r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], lora_dropout: 0.1 });
    const mods = applyLora(m, cfg);
    assert.deepEqual(mods, ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.v_proj']);
    assert.deepEqual(Array.from(logits(m, ids)), Array.from(base), 'adapter starts as the identity');
    const trainable = m.store.trainable().length;
    assert.equal(trainable, 8);
    const frozen = Array.from(m.store.get('model.layers.0.mlp.up_proj.weight').dataSync());
    const opt = new AdamW({ lr: 0.05, weightDecay: 0 });
    m.store.training = true;
    for (let i = 0; i < 3; i++) opt.minimize(() => causalLmLoss(m.forward({ inputIds: Int32Array.from(ids), training: true }).logits, ids), m.store.trainable());
    m.store.training = false;
    opt.dispose();
    assert.deepEqual(Array.from(m.store.get('model.layers.0.mlp.up_proj.weight').dataSync()), frozen, 'base weights frozen');
    const tuned = logits(m, ids);
    assert.ok(tuned.some((v, i) => Math.abs(v - base[i]) > 1e-3), 'adapters changed the model');
    mergeLora(m);
    assertCloseArrays(logits(m, ids), tuned, { atol: 1e-4, rtol: 1e-4 }, 'merged');
    unmergeLora(m);
    assertCloseArrays(logits(m, ids), tuned, { atol: 1e-4, rtol: 1e-4 }, 'unmerged');
    const adir = join(dir, 'adapter');
    saveAdapter(m, cfg, adir);
    const st = readSafetensors(join(adir, 'adapter_model.safetensors'));
    assert.equal(st.tensors.size, 8);
    const a0 = st.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!;
    const b0 = st.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!;
    assert.deepEqual(a0.shape, [4, 16], 'lora_A is [r, in]');
    assert.deepEqual(b0.shape, [16, 4], 'lora_B is [out, r]');
    const saved = JSON.parse(readFileSync(join(adir, 'adapter_config.json'), 'utf8'));
    assert.equal(saved.peft_type, 'LORA');
    assert.equal(saved.lora_alpha, 8);
    // A fresh base model + the adapter = the tuned model.
    const fresh = tiny(2);
    loadAdapter(fresh, adir);
    assertCloseArrays(logits(fresh, ids), tuned, { atol: 1e-5, rtol: 1e-5 }, 'reloaded adapter');
    removeLora(fresh);
    assertCloseArrays(logits(fresh, ids), base, { atol: 1e-6, rtol: 1e-6 }, 'adapter removed');
    // merge_and_unload keeps the change without the adapter parameters.
    removeLora(m, true);
    assert.ok(![...m.store.vars.keys()].some((n) => n.includes('lora_')));
    assertCloseArrays(logits(m, ids), tuned, { atol: 1e-4, rtol: 1e-4 }, 'merge and unload');
    assert.throws(() => applyLora(m, parseLoraConfig({ target_modules: ['c_attn'] })), /match no Linear layer/);
    const rx = tiny(3);
    assert.equal(applyLora(rx, parseLoraConfig({ target_modules: 'model\\.layers\\.1\\..*_proj' })).length, 7);
    for (const x of [m, fresh, rx]) x.dispose();
  });

  test('injected vectors replace token embeddings at the slots and receive gradients', () => {
    const m = tiny(4);
    const SLOT = 39;
    const ids = Int32Array.from([1, 2, SLOT, 3, SLOT, 4]);
    const slots = findSlots(ids, SLOT);
    assert.deepEqual(slots, [2, 4]);
    const vec = tf.variable(tf.tensor2d(new Rng(5).normalArray(2 * 16, 1), [2, 16]));
    const emb = tf.tidy(() => injectEmbeddings(m.embed(ids, 1), slots, vec));
    const rows = emb.arraySync()[0];
    const vArr = vec.arraySync();
    assert.deepEqual(rows[2], vArr[0]);
    assert.deepEqual(rows[4], vArr[1]);
    const tok = tf.tidy(() => m.embed(ids, 1).arraySync()[0]);
    assert.deepEqual(rows[0], tok[0]);
    const g = tf.variableGrads(() => {
      const e = injectEmbeddings(m.embed(ids, 1), slots, vec);
      return causalLmLoss(m.forward({ inputsEmbeds: e }).logits, Array.from(ids));
    }, [vec]);
    const gv = g.grads[vec.name].dataSync();
    assert.ok(Array.from(gv).some((x) => Math.abs(x) > 1e-6), 'gradient reaches the injected vectors');
    // The output with injected vectors differs from the plain token embeddings.
    const plain = logits(m, Array.from(ids));
    const inj = tf.tidy(() => m.forward({ inputsEmbeds: emb }).logits.dataSync());
    assert.ok(inj.some((v, i) => Math.abs(v - plain[i]) > 1e-4));
    assert.throws(() => injectEmbeddings(emb, [2, 2], vec), /given twice/);
    tf.dispose([vec, emb, g.value, ...Object.values(g.grads)]);
    m.dispose();
  });

  test('prefix-shared continuation scores equal full forward passes; next-token log-probs normalise', () => {
    const m = tiny(6);
    const prompt = Int32Array.from([3, 1, 4, 1, 5]);
    const cands = [[9], [2, 6], [5, 3, 5, 8], [9, 7, 9]];
    logits(m, [1]); // builds the kept rotary tables
    const before = tf.memory().numTensors;
    const s = scoreContinuations(m, { ids: prompt }, cands, { chunk: 3 });
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
    cands.forEach((c, i) => {
      const seq = [...prompt, ...c];
      const lg = logits(m, seq);
      const V = 40;
      let lp = 0;
      for (let t = 0; t < c.length; t++) {
        const row = lg.subarray((prompt.length - 1 + t) * V, (prompt.length + t) * V);
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0));
        lp += row[c[t]] - lse;
      }
      assert.ok(Math.abs(s.logProb[i] - lp) < 1e-4, `candidate ${i}: ${s.logProb[i]} vs ${lp}`);
      assert.equal(s.tokens[i], c.length);
    });
    const next = nextTokenLogProbs(m, { ids: prompt });
    assert.ok(Math.abs(next.reduce((a, x) => a + Math.exp(x), 0) - 1) < 1e-4);
    m.dispose();
  });

  test('generation: greedy = argmax loop; sampling reproducible by seed; beam >= greedy; trie keeps 100% real sequences', () => {
    const m = tiny(7);
    const prompt = Int32Array.from([5, 6, 7]);
    const g = generate(m, { ids: prompt }, { maxNewTokens: 6 })[0];
    const seq = [...prompt];
    for (let t = 0; t < 6; t++) {
      const lg = logits(m, seq);
      const row = lg.subarray((seq.length - 1) * 40, seq.length * 40);
      let best = 0;
      for (let k = 1; k < 40; k++) if (row[k] > row[best]) best = k;
      seq.push(best);
    }
    assert.deepEqual(g.tokens, seq.slice(3));
    const s1 = generate(m, { ids: prompt }, { maxNewTokens: 5, strategy: 'sample', seed: 3, numReturn: 3, temperature: 1.2, topK: 10 });
    const s2 = generate(m, { ids: prompt }, { maxNewTokens: 5, strategy: 'sample', seed: 3, numReturn: 3, temperature: 1.2, topK: 10 });
    assert.deepEqual(s1, s2);
    const beams = generate(m, { ids: prompt }, { maxNewTokens: 6, strategy: 'beam', numBeams: 5, numReturn: 3, lengthPenalty: 0 });
    assert.equal(beams.length, 3);
    assert.ok(beams[0].logProb >= g.logProb - 1e-6, `beam ${beams[0].logProb} >= greedy ${g.logProb}`);
    for (let i = 1; i < beams.length; i++) assert.ok(beams[i - 1].logProb >= beams[i].logProb);
    // Trie of "items": generation can only produce them, with or without eos.
    const EOS = 0;
    const items = [[11, 12, 13], [11, 14], [20, 21, 22, 23], [30]];
    const trie = new TokenTrie();
    items.forEach((it, i) => trie.add(it, i));
    const isItem = (toks: number[]) => items.some((it) => it.length === toks.length && it.every((x, i) => x === toks[i]));
    let real = 0;
    let total = 0;
    for (const strategy of ['greedy', 'sample', 'beam'] as const) {
      for (let seed = 0; seed < 5; seed++) {
        const outs = generate(m, { ids: Int32Array.from([seed + 1, 2]) }, { maxNewTokens: 8, strategy, seed, numReturn: 2, trie, eosTokenId: EOS });
        for (const o of outs) {
          total++;
          const toks = o.tokens.at(-1) === EOS ? o.tokens.slice(0, -1) : o.tokens;
          if (isItem(toks)) real++;
          assert.ok(trie.valueOf(toks) !== undefined);
        }
      }
    }
    assert.equal(real, total, 'every constrained output is a real item');
    // Unconstrained outputs are (almost surely) not items.
    const free = generate(m, { ids: Int32Array.from([1, 2]) }, { maxNewTokens: 3 })[0];
    assert.ok(!isItem(free.tokens));
    m.dispose();
  });
});
