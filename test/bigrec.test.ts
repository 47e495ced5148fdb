/**
 * BIGRec (src/methods/bigrec): grounding arithmetic on a hand-checked small
 * case (min-max, popularity and collaborative re-weighting, L2 and TF-IDF
 * distances), the fine-tuning batch (labels on the target tokens only),
 * prompts within their token budget, trie-constrained decoding that only
 * yields catalogue titles, and a tiny end-to-end run through the registry
 * entry (train the LM, fine-tune, generate, ground, evaluate, resume).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseBigRecOptions } from '../src/config/bigrec.js';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import { DEFAULT_PROTOCOL } from '../src/data/types.js';
import { tf } from '../src/engine/index.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { generate } from '../src/lm/generate.js';
import { IGNORE_INDEX } from '../src/lm/loss.js';
import { trainBpe } from '../src/lm/tokenizer/index.js';
import { TokenTrie } from '../src/lm/trie.js';
import { exampleBatch, groundedScores, l2Distances, minMax, promptIds, type BigRecReport, TfIdf } from '../src/methods/bigrec/index.js';
import { methodEntry } from '../src/methods/registry.js';
import { itemTitle } from '../src/methods/text_lm/corpus.js';
import { ready, Rng } from './helpers.js';

await ready();

describe('BIGRec grounding (hand-checked)', () => {
  test('min-max, popularity and collaborative re-weighting', () => {
    assert.deepEqual([...minMax([5, 1, 3, 9], (i) => i > 0)], [0.5, 0, 0.25, 1]);
    assert.deepEqual([...minMax([2, 2, 2])], [0, 0, 0]);
    // Items 1..3 at distances 1, 2, 3 -> D^ = 0, 0.5, 1.
    const d = [0, 1, 2, 3];
    assert.deepEqual([...groundedScores(d, {})], [-Infinity, -0, -0.5, -1]);
    // Popularity 10, 0, 20 -> P^ = 0.5, 0, 1; gamma 1: D~ = 0/1.5, 0.5/1, 1/2 -> item 3 ties item 2.
    const p = groundedScores(d, { popularity: [0, 10, 0, 20], popGamma: 1 });
    assert.deepEqual([...p].map((x) => Math.round(x * 1e6) / 1e6 + 0), [-Infinity, 0, -0.5, -0.5]);
    // gamma 2 on item 3: 1 / 4 = 0.25 beats item 2's 0.5.
    const p2 = groundedScores(d, { popularity: [0, 10, 0, 20], popGamma: 2 });
    assert.ok(p2[3] > p2[2]);
    assert.ok(Math.abs(p2[3] + 0.25) < 1e-7);
    // Collaborative scores re-weight the same way; gamma 0 ignores them.
    const c = groundedScores(d, { collab: [0, -1, 1, 0], collabGamma: 1 });
    assert.ok(Math.abs(c[2] + 0.25) < 1e-7 && Math.abs(c[3] + 1 / 1.5) < 1e-6);
    assert.deepEqual([...groundedScores(d, { collab: [0, -1, 1, 0], collabGamma: 0 })], [...groundedScores(d, {})]);
  });

  test('L2 distances and TF-IDF', () => {
    const items = { n: 3, d: 2, data: Float32Array.of(0, 0, 3, 4, 1, 0) };
    assert.deepEqual([...l2Distances(Float32Array.of(0, 0), items)], [0, 5, 1]);
    assert.throws(() => l2Distances(Float32Array.of(0), items), /1 dimensions, items 2/);
    const t = new TfIdf(['Toy Story (1995)', 'Toy Soldiers (1991)', 'Heat (1995)']);
    const dist = t.distances('toy story');
    assert.ok(dist[0] < dist[1] && dist[1] < dist[2]);
    assert.equal(dist[2], 1);
    assert.deepEqual([...t.distances('zzz qqq')], [1, 1, 1]);
    assert.ok(Math.abs(t.distances('Heat (1995)')[2]) < 1e-12);
  });

  test('fine-tuning batch: labels on the target tokens only, right padding', () => {
    const b = exampleBatch([{ prompt: [5, 6], target: [7, 8] }, { prompt: [9], target: [3] }], 0);
    assert.equal(b.T, 4);
    assert.deepEqual([...b.ids], [5, 6, 7, 8, 9, 3, 0, 0]);
    const I = IGNORE_INDEX;
    // Position 1 (token 6) predicts 7, position 2 predicts 8; row 2: position 0 predicts 3.
    assert.deepEqual([...b.labels], [I, 7, 8, I, 3, I, I, I]);
    assert.deepEqual([...b.mask], [1, 1, 1, 1, 1, 1, 0, 0]);
  });

  test('prompts keep the most recent titles within the budget', () => {
    const title = (i: number) => Array(i).fill(i) as number[];
    const c = { encode: () => [], startIds: [1], sepIds: [2], titleChars: 60, maxPromptTokens: 8 };
    // Titles of 3, 2, 4 tokens + separators: 4 + 3 + 5 = 12 > 7; the oldest dropped -> [2,2,2, 4,4,4,4,2] = 8 > 7 -> only the last.
    assert.deepEqual(promptIds([0, 3, 2, 4], title, c), [1, 4, 4, 4, 4, 2]);
    assert.deepEqual(promptIds([0, 0], title, c), [1, 2]);
    assert.deepEqual(promptIds([9], title, c), [1, 9, 9, 9, 9, 9, 9, 2]);
  });
});

const shop = applyProtocol(generateShop({ users: 80, items: 80, seed: 7 }), { ...DEFAULT_PROTOCOL, ratingThreshold: null });

describe('trie-constrained decoding', () => {
  test('a random LM constrained by the catalogue trie only yields catalogue titles', { timeout: 60_000 }, () => {
    const titles = Array.from({ length: shop.numItems }, (_, i) => itemTitle(shop, i + 1, 40));
    const tok = trainBpe(titles, { vocabSize: 300 });
    const model = new LlamaForCausalLM(parseLlamaConfig({
      model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 256,
    }), { seed: 3 });
    const rng = new Rng(5);
    for (const v of model.store.vars.values()) tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.5), v.shape))));
    try {
      const enc = (t: string) => tok.encode(t, { addSpecialTokens: false });
      const sep = enc('\n');
      const trie = new TokenTrie();
      titles.forEach((t, i) => trie.add([...enc(t), ...sep], i + 1));
      const known = new Set(titles);
      for (const seed of [1, 2, 3]) {
        const prompt = Int32Array.from(enc(`${titles[seed]}\n${titles[seed + 5]}\n`));
        const beams = generate(model, { ids: prompt }, { maxNewTokens: 40, strategy: 'beam', numBeams: 5, numReturn: 5, trie });
        const sampled = generate(model, { ids: prompt }, { maxNewTokens: 40, strategy: 'sample', temperature: 2, seed, trie });
        for (const g of [...beams, ...sampled]) {
          const item = trie.valueOf(g.tokens);
          assert.ok(item !== undefined, `not a catalogue entry: ${JSON.stringify(tok.decode(g.tokens))}`);
          assert.ok(known.has(tok.decode(g.tokens).replace(/\n$/, '')));
        }
      }
    } finally {
      model.dispose();
    }
  });
});

describe('BIGRec end to end (tiny)', () => {
  test('trains, fine-tunes, generates, grounds, evaluates beside Random and Pop; resume reuses it', { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bigrec-'));
    const e = methodEntry('bigrec');
    const o = parseBigRecOptions({
      lm: { small: { vocabSize: 400, hiddenSize: 32, layers: 1, heads: 2, kvHeads: 1, intermediateSize: 64, blockSize: 64, batchSize: 4, steps: 30, warmupSteps: 3 } },
      finetune: { steps: 12, batchSize: 4, examples: 200, warmupSteps: 2 },
      collab: { model: 'bprmf', epochs: 2 },
      grounding: { popGammas: [0, 1], collabGammas: [0, 1], tuneUsers: 6 },
      trie: { beams: 4 }, maxNewTokens: 12, titleChars: 30,
      eval: { users: 8, fullKs: [5, 10], ks: [1, 3] },
    });
    const raw = generateShop({ users: 80, items: 80, seed: 7 });
    const r = await e.run({ raw, data: shop }, o, dir, {}, false);
    const rep = r.report as BigRecReport;
    assert.equal(rep.interrupted, false);
    assert.ok(rep.finetune && rep.finetune.steps === 12 && Number.isFinite(rep.finetune.heldOutLossAfter));
    const names = rep.rows.map((x) => x.model);
    for (const n of ['BIGRec grounded (LM embeddings)', 'BIGRec grounded + pop (TF-IDF)', 'BIGRec grounded + pop + collab (LM embeddings)', 'BIGRec trie beams (4)', 'Random', 'Pop', 'bprmf (collaborative model)']) {
      assert.ok(names.includes(n), `row ${n} in ${names.join(', ')}`);
    }
    for (const row of rep.rows) {
      assert.ok(row.full['hr@10'] >= 0 && row.full['hr@10'] <= 1);
      assert.ok(row.sampled.auc >= 0 && row.sampled.auc <= 1);
    }
    assert.equal(rep.users.test, 8);
    assert.ok(existsSync(join(dir, 'report.md')) && existsSync(join(dir, 'finetuned', 'config.json')) && existsSync(join(dir, 'generations.json')));
    const again = await e.run({ raw, data: shop }, o, dir, {}, true);
    assert.deepEqual((again.report as BigRecReport).rows, rep.rows);
  });
});
