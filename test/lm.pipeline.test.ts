/**
 * The small default LM pipeline (tokenizer + LLaMA-style decoder trained on a
 * dataset's train-split text): it learns (held-out perplexity far below the
 * vocabulary size), writes a loadable Hugging Face folder and a report, and an
 * interrupted run resumed from its checkpoint ends with the same weights as
 * an uninterrupted one. Also: the corpus never contains validation/test items.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import type { SplitDataset } from '../src/data/types.js';
import { buildCorpus, itemTitle } from '../src/methods/text_lm/corpus.js';
import { loadPretrained } from '../src/lm/checkpoint.js';
import { trainSmallLm, type SmallLmOptions } from '../src/methods/text_lm/small_lm.js';
import { Tokenizer } from '../src/lm/tokenizer/index.js';
import { ready, Rng } from './helpers.js';
import { Gpt2LMHeadModel, parseGpt2Config } from '../src/lm/families/gpt2.js';
import { pretrainCausalLM } from '../src/lm/pretrain.js';

const TINY: Partial<SmallLmOptions> = {
  vocabSize: 400, hiddenSize: 32, layers: 1, heads: 2, kvHeads: 1, intermediateSize: 64,
  blockSize: 32, batchSize: 8, steps: 24, lr: 1e-2, warmupSteps: 4, evalUsers: 20, checkpointEvery: 8,
};

let data: SplitDataset;
let dir: string;
describe('small LM pipeline', () => {
  before(async () => {
    await ready();
    data = applyProtocol(generateShop({ users: 120, items: 80, seed: 5 }), { ratingThreshold: null, kCore: 2, maxHistory: 10, numNegatives: 9, seed: 1 });
    dir = mkdtempSync(join(tmpdir(), 'llmrec-smalllm-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the corpus holds training histories only (each user sequence minus its validation and test items)', () => {
    const docs = buildCorpus(data, { itemDocs: false, itemsPerDoc: 1000 });
    assert.equal(docs.length, data.numUsers);
    for (let u = 0; u < data.numUsers; u++) {
      const seq = data.sequences[u];
      const expected = Array.from(seq.subarray(0, seq.length - 2), (i) => itemTitle(data, i) + '\n').join('');
      assert.equal(docs[u], expected, `user ${u}`);
      // The held-out target's title is not the last line of the user's document.
      const lines = docs[u].split('\n').filter(Boolean);
      assert.equal(lines.length, seq.length - 2);
    }
    // Item documents: one per item.
    assert.equal(buildCorpus(data, { historyDocs: false }).length, data.numItems);
  });

  test('trains, reports, saves a loadable folder; resume reproduces the uninterrupted run', async () => {
    const straight = join(dir, 'straight');
    const r = await trainSmallLm(data, TINY, straight);
    assert.equal(r.training.steps, 24);
    assert.ok(r.training.heldOutPerplexity < r.parameters, 'finite');
    const vocab = Tokenizer.fromFile(straight).vocabSize;
    assert.ok(r.training.heldOutPerplexity < vocab / 3, `perplexity ${r.training.heldOutPerplexity} well below the vocabulary ${vocab}`);
    assert.ok(r.nextTitle && r.nextTitle.users === 20 && r.nextTitle.candidates === 10);
    assert.ok(r.nextTitle.mean.auc! >= 0 && r.nextTitle.mean.auc! <= 1);
    // Random and Pop are reported beside the LM, on the same 20 users.
    assert.ok(r.nextTitle.baselines.random.auc! >= 0 && r.nextTitle.baselines.pop['hr@1'] !== undefined);
    assert.ok(readFileSync(join(straight, 'report.md'), 'utf8').includes('| Pop (same users) |'));
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'report.json', 'report.md']) assert.ok(existsSync(join(straight, f)), f);
    const { model } = loadPretrained(straight);
    const w1 = Array.from(model.store.get('model.norm.weight').dataSync());

    const resumed = join(dir, 'resumed');
    const ac = new AbortController();
    const first = await trainSmallLm(data, TINY, resumed, { signal: ac.signal, onStep: (s) => { if (s.step === 10) ac.abort(); } });
    assert.equal(first.training.interrupted, true);
    assert.equal(first.training.steps, 10);
    const second = await trainSmallLm(data, TINY, resumed, {}, true);
    assert.equal(second.training.steps, 24);
    const { model: m2 } = loadPretrained(resumed);
    assert.deepEqual(Array.from(m2.store.get('model.norm.weight').dataSync()), w1, 'same weights after resume');
    assert.deepEqual(Array.from(m2.store.get('model.layers.0.mlp.up_proj.weight').dataSync()), Array.from(model.store.get('model.layers.0.mlp.up_proj.weight').dataSync()));
    model.dispose();
    m2.dispose();
  });

  test('epochs capped by maxAutoSteps: a log line, the report says so; an explicit step count is not a cap', async () => {
    const lines: string[] = [];
    const capped = await trainSmallLm(data, { ...TINY, steps: 0, epochs: 50, maxAutoSteps: 3, evalUsers: 0 }, join(dir, 'capped'), { log: (s) => lines.push(s) });
    assert.equal(capped.training.steps, 3);
    assert.equal(capped.budget.cappedByMaxAutoSteps, true);
    assert.equal(capped.budget.epochsRequested, 50);
    assert.ok(capped.budget.epochsOverCorpus < 50);
    const line = lines.find((l) => l.startsWith('budget:'));
    assert.ok(line && line.includes('capped at maxAutoSteps 3'), line);
    assert.ok(readFileSync(join(dir, 'capped', 'report.md'), 'utf8').includes('50 asked for, capped by maxAutoSteps 3'));
    const blocks = capped.corpus.trainBlocks;
    const fits = Math.ceil((1 * blocks) / TINY.batchSize!);
    const free: string[] = [];
    const uncapped = await trainSmallLm(data, { ...TINY, steps: 0, epochs: 1, maxAutoSteps: fits, evalUsers: 0 }, join(dir, 'uncapped'), { log: (s) => free.push(s) });
    assert.equal(uncapped.training.steps, fits);
    assert.equal(uncapped.budget.cappedByMaxAutoSteps, false);
    assert.ok(!free.some((l) => l.startsWith('budget:')));
    const explicit = await trainSmallLm(data, { ...TINY, steps: 2, maxAutoSteps: 1, evalUsers: 0 }, join(dir, 'explicit'));
    assert.equal(explicit.training.steps, 2);
    assert.equal(explicit.budget.cappedByMaxAutoSteps, undefined);
  });

  test('with dropout on (GPT-2, 0.1 everywhere), an interrupted and resumed run equals the uninterrupted one', async () => {
    const cfg = parseGpt2Config({ vocab_size: 50, n_positions: 16, n_embd: 16, n_layer: 1, n_head: 2 });
    const rng = new Rng(9);
    const blocks = Array.from({ length: 12 }, () => rng.intArray(16, 0, 50));
    const opts = { blockSize: 16, batchSize: 4, lr: 1e-2, warmupSteps: 1, maxSteps: 6, seed: 3 };
    const a = new Gpt2LMHeadModel(cfg, { seed: 1 });
    await pretrainCausalLM(a, blocks, [], opts, join(dir, 'gpt2-a'));
    const b = new Gpt2LMHeadModel(cfg, { seed: 1 });
    const ac = new AbortController();
    const first = await pretrainCausalLM(b, blocks, [], { ...opts, signal: ac.signal, onStep: (s) => { if (s.step === 3) ac.abort(); } }, join(dir, 'gpt2-b'));
    assert.equal(first.steps, 3);
    b.dispose();
    const c = new Gpt2LMHeadModel(cfg, { seed: 1 });
    await pretrainCausalLM(c, blocks, [], opts, join(dir, 'gpt2-b'), true);
    for (const name of ['transformer.h.0.mlp.c_fc.weight', 'transformer.wte.weight']) {
      assert.deepEqual(Array.from(c.store.get(name).dataSync()), Array.from(a.store.get(name).dataSync()), name);
    }
    a.dispose();
    c.dispose();
  });

  test('an abort fired from the event loop (as a Ctrl-C handler does) stops pre-training with a checkpoint', async () => {
    const cfg = parseGpt2Config({ vocab_size: 50, n_positions: 16, n_embd: 16, n_layer: 1, n_head: 2 });
    const rng = new Rng(10);
    const blocks = Array.from({ length: 8 }, () => rng.intArray(16, 0, 50));
    const m = new Gpt2LMHeadModel(cfg, { seed: 2 });
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 300);
    const r = await pretrainCausalLM(m, blocks, [], { blockSize: 16, batchSize: 2, lr: 1e-3, warmupSteps: 1, maxSteps: 100000, seed: 1, signal: ac.signal }, join(dir, 'abort'));
    clearTimeout(timer);
    assert.equal(r.interrupted, true);
    assert.ok(r.steps > 0 && r.steps < 100000);
    assert.ok(existsSync(join(dir, 'abort', 'checkpoint', 'trainer_state.json')));
    m.dispose();
  });
});
