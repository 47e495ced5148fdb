/**
 * The yes/no LLM recommender core (TALLRec / CoLLM / GANPrompt): the
 * prefix-shared scorer gives the same numbers as one full forward per prompt
 * (plain, with injected collaborative vectors and guidance, for every shipped
 * template incl. the reordered one); LoRA with B = 0 leaves scores unchanged
 * until trained; training lowers the loss and is reproducible; interrupted
 * training resumes to the same weights; example sampling is seeded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import type { SplitDataset } from '../src/data/types.js';
import { itemSentence } from '../src/data/item_text.js';
import { trainBpe, withRecSpecialTokens, type Tokenizer } from '../src/lm/tokenizer/index.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { Gpt2LMHeadModel, parseGpt2Config } from '../src/lm/families/gpt2.js';
import { LORA_TARGETS } from '../src/methods/ganprompt/pipeline.js';
import { applyLora, parseLoraConfig } from '../src/lm/lora.js';
import { createRecommender } from '../src/models/registry.js';
import type { Recommender } from '../src/models/types.js';
import { CollabSignal, DEFAULT_GUIDE, guideText, topCandidates } from '../src/methods/collab.js';
import { MappingLayer } from '../src/methods/mapping.js';
import { loadTemplates } from '../src/methods/prompts.js';
import { sampleRows, splitCases, yesNoExamples, YesNoLlm } from '../src/methods/yesno.js';
import { ready } from './helpers.js';

let data: SplitDataset;
let tok: Tokenizer;
let collab: Recommender;
let dir: string;

function tinyLm(seed = 1): LlamaForCausalLM {
  return new LlamaForCausalLM(parseLlamaConfig({
    model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 1024, tie_word_embeddings: true,
  }), { seed });
}

const close = (a: Float32Array, b: Float32Array, tol: number) => {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  assert.ok(worst <= tol, `max difference ${worst} > ${tol}`);
};

describe('yes/no LLM recommender', () => {
  before(async () => {
    await ready();
    data = applyProtocol(generateShop({ users: 60, items: 80, seed: 7 }), { ratingThreshold: null, kCore: 2, maxHistory: 10, numNegatives: 9, seed: 3 });
    tok = trainBpe([...data.itemMeta.values()].map((m) => itemSentence(m)).concat(Array(20).fill('Answer: Yes. Answer: No. Answer: True. Answer: False.')), { vocabSize: 700 });
    withRecSpecialTokens(tok);
    collab = createRecommender('bprmf', { d: 16 });
    await collab.fit(data, { epochs: 2, batchSize: 64, lr: 0.01, patience: 2, validMetric: 'auc', validProtocol: 'sampled', seed: 1 });
    dir = mkdtempSync(join(tmpdir(), 'llmrec-yesno-'));
  });
  after(() => { collab.dispose(); rmSync(dir, { recursive: true, force: true }); });

  test('guidance text: top-k candidates (ties pessimistic for the earlier one) and whether the target is among them', () => {
    assert.deepEqual(topCandidates([0.5, 0.9, 0.5, 0.1], 3), [1, 2, 0]);
    const g = guideText([1, 2, 0], 0, (k) => `T${k}`);
    assert.equal(g, 'The recommender system suggests: T1; T2; T0. The target item is among its suggestions.');
    assert.ok(guideText([1, 2], 0, (k) => `T${k}`).endsWith(DEFAULT_GUIDE.notAmong));
  });

  test('prefix-shared scores equal one full forward per prompt, for every template, with and without vectors and guidance', () => {
    const cases = splitCases(data, 'test', [0, 1, 2]);
    const templates = loadTemplates();
    for (const mode of ['plain', 'collab'] as const) {
      const lm = tinyLm();
      const m = new YesNoLlm(lm, tok, data, mode === 'plain' ? {} : { idVectors: true, guide: DEFAULT_GUIDE });
      if (mode === 'collab') {
        m.collab = new CollabSignal(collab, data);
        m.mapping = new MappingLayer({ inputDim: m.collab.itemVectors().dim, outputDim: 32 }, 5);
      }
      for (const t of [...templates.seen, ...templates.unseen]) {
        const a = m.score(cases, t, m.originalTitles);
        const b = m.scoreFull(cases, t, m.originalTitles);
        close(a, b, 2e-4);
        assert.ok(new Set(a).size > 1, 'scores differ between candidates');
      }
      m.mapping?.dispose();
      m.dispose();
      lm.dispose();
    }
  });

  test('residual mapping (output layer at zero) leaves the placeholder model unchanged until trained; plain mapping does not', () => {
    const lm = tinyLm(4);
    const cases = splitCases(data, 'test', [5, 6]);
    const t = loadTemplates().seen[1];
    const placeholders = new YesNoLlm(lm, tok, data, { idTokens: true, guide: DEFAULT_GUIDE });
    placeholders.collab = new CollabSignal(collab, data);
    const ref = placeholders.score(cases, t, placeholders.originalTitles);
    const injected = new YesNoLlm(lm, tok, data, { idVectors: true, guide: DEFAULT_GUIDE });
    injected.collab = new CollabSignal(collab, data);
    const dim = injected.collab.itemVectors().dim;
    injected.mapping = new MappingLayer({ inputDim: dim, outputDim: 32 }, 5);
    close(injected.score(cases, t, injected.originalTitles), ref, 1e-5);
    injected.mapping.dispose();
    injected.mapping = new MappingLayer({ inputDim: dim, outputDim: 32, residual: false }, 5);
    const plain = injected.score(cases, t, injected.originalTitles);
    assert.ok(plain.some((v, i) => Math.abs(v - ref[i]) > 1e-4), 'a plain (replacing) mapping changes the scores');
    injected.mapping.dispose();
    lm.dispose();
  });

  test('another family (GPT-2, absolute positions): prefix-shared scores equal full forwards; its default LoRA targets exist', () => {
    const lm = new Gpt2LMHeadModel(parseGpt2Config({ model_type: 'gpt2', vocab_size: tok.vocabSize, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 1024 }), { seed: 3 });
    const m = new YesNoLlm(lm, tok, data, { idVectors: true, guide: DEFAULT_GUIDE });
    m.collab = new CollabSignal(collab, data);
    m.mapping = new MappingLayer({ inputDim: m.collab.itemVectors().dim, outputDim: 32 }, 5);
    const cases = splitCases(data, 'test', [3, 4]);
    for (const t of loadTemplates().unseen) close(m.score(cases, t, m.originalTitles), m.scoreFull(cases, t, m.originalTitles), 2e-4);
    const names = applyLora(lm, parseLoraConfig({ r: 2, target_modules: LORA_TARGETS.gpt2 }));
    assert.equal(names.length, 8, 'c_attn, attn.c_proj, c_fc, mlp.c_proj in each of 2 layers');
    m.mapping.dispose();
    lm.dispose();
  });

  test('slots and positions: only the slots a prompt renders must be tokens of the LM; prompts are cut to its positions', () => {
    const plain = trainBpe([...data.itemMeta.values()].map((m) => itemSentence(m)).concat(Array(20).fill('Answer: Yes. Answer: No.')), { vocabSize: 700 });
    const gpt2 = (vocab: number, positions: number) => new Gpt2LMHeadModel(parseGpt2Config({ model_type: 'gpt2', vocab_size: vocab, n_embd: 32, n_layer: 1, n_head: 4, n_positions: positions }), { seed: 3 });
    const lm = gpt2(plain.vocabSize, 1024);
    // A tokenizer without the slots scores plain prompts (the re-rank of a pretrained LM) ...
    const m = new YesNoLlm(lm, plain, data);
    const cases = splitCases(data, 'test', [3]);
    assert.equal(m.score(cases, loadTemplates().seen[0], m.originalTitles).length, 10);
    // ... but not prompts with collaborative vectors or a guide, each refusal naming the missing slot.
    assert.throws(() => new YesNoLlm(lm, plain, data, { idVectors: true }), /the tokenizer has no <UserID> token \(recTokenizer/);
    assert.throws(() => new YesNoLlm(lm, plain, data, { guide: DEFAULT_GUIDE }), /the tokenizer has no <Guide> token/);
    // Slots the tokenizer has but the embeddings do not cover are refused, naming the id.
    const user = tok.tokenToId('<UserID>')!;
    const small = gpt2(user, 1024);
    assert.throws(() => new YesNoLlm(small, tok, data, { idTokens: true }), new RegExp(`<UserID> has id ${user}, outside the model's vocabulary \\(${user}\\); load the LM with loadRecLm`));
    // An LM with fewer positions than maxPromptTokens: prompts are cut to its positions.
    const short = gpt2(plain.vocabSize, 64);
    const s = new YesNoLlm(short, plain, data, { maxPromptTokens: 512 });
    assert.equal(s.prompt.maxPromptTokens, 64);
    assert.equal(new YesNoLlm(lm, plain, data, { maxPromptTokens: 100 }).prompt.maxPromptTokens, 100);
    for (const x of [lm, small, short]) x.dispose();
  });

  test('LoRA (B = 0) leaves scores unchanged; training lowers the loss, is reproducible, and resumes exactly', async () => {
    const cases = splitCases(data, 'valid');
    const ex = yesNoExamples(cases, 1, 9);
    assert.equal(ex.length, cases.length * 2);
    assert.deepEqual(ex, yesNoExamples(cases, 1, 9), 'seeded');
    const templates = loadTemplates().seen;
    const evalCases = splitCases(data, 'test', sampleRows(data.test.count, 5, 1));
    const run = async (steps: number, ckpt?: string, resume = false, stopAt?: number) => {
      const lm = tinyLm(2);
      const m = new YesNoLlm(lm, tok, data);
      const before = m.score(evalCases, templates[0], m.originalTitles);
      applyLora(lm, parseLoraConfig({ r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'up_proj', 'down_proj'] }));
      close(m.score(evalCases, templates[0], m.originalTitles), before, 1e-6);
      const ac = new AbortController();
      const losses: number[] = [];
      const r = await m.fit(cases, ex, {
        steps, batchSize: 8, lr: 5e-3, weightDecay: 0, warmupSteps: 2, loss: 'bce', seed: 4, templates, titles: m.originalTitles,
        vars: m.trainables({ lora: true }), checkpointDir: ckpt, checkpointEvery: 4, resume,
        signal: ac.signal, onStep: (s, _n, l) => { losses.push(l); if (s === stopAt) ac.abort(); },
      });
      const after = m.score(evalCases, templates[0], m.originalTitles);
      lm.dispose();
      return { r, losses, after };
    };
    const a = await run(30);
    assert.equal(a.r.steps, 30);
    const first = a.losses.slice(0, 5).reduce((x, y) => x + y) / 5;
    const last = a.losses.slice(-5).reduce((x, y) => x + y) / 5;
    assert.ok(last < first, `loss ${first} -> ${last}`);
    const b = await run(30);
    assert.deepEqual(b.losses, a.losses, 'same seed, same losses');
    const ck = join(dir, 'ck');
    const c1 = await run(30, ck, false, 10);
    assert.equal(c1.r.interrupted, true);
    assert.equal(c1.r.steps, 10);
    const c2 = await run(30, ck, true);
    assert.equal(c2.r.steps, 30);
    close(c2.after, a.after, 1e-5);
  });

  test('guide dropout: a share of the training prompts is rendered without the guide, seeded; absent, every prompt has it', async () => {
    const cases = splitCases(data, 'valid');
    const ex = yesNoExamples(cases, 1, 9);
    const templates = loadTemplates().seen;
    const lm = tinyLm(3);
    const plain = new YesNoLlm(lm, tok, data);
    const guided = new YesNoLlm(lm, tok, data, { guide: DEFAULT_GUIDE });
    guided.collab = new CollabSignal(collab, data);
    // Without its guide a prompt is exactly the unguided model's.
    for (const t of templates) {
      assert.deepEqual(guided.encode(t, cases[0], 1, guided.originalTitles, true).ids, plain.encode(t, cases[0], 1, plain.originalTitles).ids);
      assert.notDeepEqual(guided.encode(t, cases[0], 1, guided.originalTitles).ids, plain.encode(t, cases[0], 1, plain.originalTitles).ids);
    }
    const encode = guided.encode.bind(guided);
    const run = async (guideDropout: number | undefined, ckpt?: string, resume = false) => {
      const drawn: boolean[] = [];
      guided.encode = (t, c, cand, titles, noGuide = false) => { drawn.push(noGuide); return encode(t, c, cand, titles, noGuide); };
      const losses: number[] = [];
      await guided.fit(cases, ex, {
        steps: 6, batchSize: 8, lr: 1e-3, weightDecay: 0, warmupSteps: 1, loss: 'bce', seed: 4, templates, titles: guided.originalTitles,
        vars: guided.trainables({ lm: true }), guideDropout, checkpointDir: ckpt, checkpointEvery: 3, resume, onStep: (_s, _n, l) => { losses.push(l); },
      });
      return { drawn, losses };
    };
    const snapshot = new Map([...lm.store.vars].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
    const reset = () => { for (const [n, v] of lm.store.vars) v.assign(tf.tensor(snapshot.get(n)!, v.shape)); };
    const off = await run(undefined);
    assert.equal(off.drawn.length, 48);
    assert.ok(off.drawn.every((x) => !x), 'absent: every prompt has its guide');
    reset();
    const half = await run(0.5);
    const dropped = half.drawn.filter((x) => x).length;
    assert.ok(dropped >= 12 && dropped <= 36, `about half of 48 prompts without the guide, got ${dropped}`);
    reset();
    const again = await run(0.5);
    assert.deepEqual(again.drawn, half.drawn, 'seeded draws');
    assert.deepEqual(again.losses, half.losses, 'same seed, same losses');
    // A checkpoint made with another guide dropout is not resumed; an invalid share is refused.
    reset();
    const ck = join(dir, 'ck-guide');
    await run(0.5, ck);
    await assert.rejects(run(0.25, ck, true), /cannot resume .*different run/);
    await assert.rejects(run(1), /guideDropout must be in \[0, 1\), got 1/);
    guided.encode = encode;
    lm.dispose();
  });
});
