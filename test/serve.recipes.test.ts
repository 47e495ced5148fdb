/**
 * Serving the LLM recipes a method run saved (docs/SERVING.md, "LLM
 * recipes"): a tiny `llmrec run` (TALLRec's LoRA recipe and CoLLM's mapping
 * recipe over the benchmark's SASRec, on a GPT-2 folder whose tokenizer has no
 * recommender slots, as a pretrained checkpoint comes) is trained here, then served beside its
 * benchmark run; /v1/models lists the recipes and /v1/rerank's P(yes) equals
 * the scores of the same recipe rebuilt independently from the saved files.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SplitDataset } from '../src/data/types.js';
import { loadPretrained } from '../src/lm/checkpoint.js';
import type { CausalLM } from '../src/lm/families/decoder.js';
import { loadAdapter } from '../src/lm/lora.js';
import { Tokenizer } from '../src/lm/tokenizer/index.js';
import { CollabSignal } from '../src/methods/collab.js';
import { runGanPrompt } from '../src/methods/ganprompt/pipeline.js';
import { MappingLayer } from '../src/methods/mapping.js';
import { loadTemplates } from '../src/methods/prompts.js';
import { YesNoLlm } from '../src/methods/yesno.js';
import { loadRecommender } from '../src/models/registry.js';
import { parseServeArgs, UsageError } from '../src/serve/main.js';
import { createServer, type LlmrecServer } from '../src/serve/server.js';
import { writeLm, writeRun } from './serve.fixture.js';

let dir: string;
let data: SplitDataset;
let server: LlmrecServer;
let base: string;

async function call(path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(base + path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

describe('llmrec serve: LLM recipes of a method run', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmrec-serve-recipes-'));
    data = await writeRun(join(dir, 'bench'), [{ label: 'sasrec', name: 'sasrec', config: { d: 16, blocks: 1, heads: 1 } }]);
    // A checkpoint as a user brings it (GPT-2, no recommender slots in its tokenizer or embeddings).
    writeLm(join(dir, 'lm'), data, 'pretrained');
    const r = await runGanPrompt(data, {
      lm: { dir: join(dir, 'lm') }, collab: { model: 'sasrec', dir: join(dir, 'bench', 'models', 'sasrec') },
      loraStage: { users: 16, batchSize: 8 }, mappingStage: { users: 16, batchSize: 8 }, eval: { users: 8 }, recipes: ['tallrec', 'collm'],
    }, join(dir, 'method'));
    assert.equal(r.interrupted, false);
    server = await createServer({ run: join(dir, 'bench'), methodRuns: [join(dir, 'method')], port: 0, log: () => {} });
    base = await server.listen();
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('--run repeats: one benchmark run, any method runs', () => {
    const o = parseServeArgs(['--run', join(dir, 'method'), '--run', join(dir, 'bench')], {});
    assert.equal(o.run, join(dir, 'bench'));
    assert.deepEqual(o.methodRuns, [join(dir, 'method')]);
    assert.throws(() => parseServeArgs(['--run', join(dir, 'method')], {}), (e: Error) => e instanceof UsageError && /exactly one benchmark run/.test(e.message));
    assert.throws(() => parseServeArgs(['--run', join(dir, 'bench'), '--run', join(dir, 'lm')], {}), /got 2/);
  });

  test('/v1/models lists the recipes', async () => {
    const m = await call('/v1/models');
    const recipes = m.json.recipes as { id: string; label: string; adapter: string | null; mapping: boolean }[];
    assert.deepEqual(recipes.map((r) => r.id), ['tallrec', 'collm']);
    assert.deepEqual(recipes.map((r) => [r.label, r.adapter, r.mapping]), [['TALLRec', 'tallrec', false], ['CoLLM', 'tallrec', true]]);
  });

  test('/v1/rerank with a recipe equals the recipe rebuilt from its saved files', async () => {
    const u = 4;
    const candidates = [1, 2, 3, 5, 8];
    const history = [6, 7, 9];
    // Independently: the slots added to the folder's tokenizer, the embeddings grown to cover them.
    const tok = Tokenizer.fromFile(join(dir, 'lm'));
    assert.equal(tok.tokenToId('<UserID>'), undefined, 'the folder as brought');
    const stored = tok.vocabSize;
    tok.addSpecialTokens(['<UserID>', '<ItemID>', '<Guide>']);
    assert.equal(tok.vocabSize, stored + 3);
    const collab = await loadRecommender(join(dir, 'bench', 'models', 'sasrec'));
    const templates = loadTemplates();
    try {
      for (const recipe of ['tallrec', 'collm'] as const) {
        const r = await call('/v1/rerank', { model: recipe, user: data.userIds[u], history: history.map((i) => data.itemIds[i]), candidates: candidates.map((i) => data.itemIds[i]), prompt: true });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.model, recipe);
        const items = r.json.items as { id: string; pYes: number; score: number; prompt: string }[];
        assert.equal(items.length, candidates.length);
        // Independently: the LM + the run's adapter (+ CoLLM's mapping over SASRec), the same left-padded case.
        const lm = loadPretrained(join(dir, 'lm'), { minVocabSize: tok.vocabSize }).model as unknown as CausalLM;
        assert.equal(lm.family, 'gpt2');
        loadAdapter(lm, join(dir, 'method', 'adapters', 'tallrec'));
        const m = new YesNoLlm(lm, tok, data, { idVectors: recipe === 'collm' });
        m.collab = new CollabSignal(collab, data);
        if (recipe === 'collm') m.mapping = MappingLayer.load(join(dir, 'method', 'models', 'collm', 'mapping'));
        const L = data.test.L;
        const h = new Int32Array(L);
        h.set(history, L - history.length);
        const c = { user: u, history: h, candidates: Int32Array.from(candidates) };
        const want = m.score([c], templates.seen[0], m.originalTitles);
        for (const it of items) {
          const k = candidates.findIndex((i) => data.itemIds[i] === it.id);
          assert.ok(Math.abs(it.score - want[k]) < 1e-4, `${recipe} ${it.id}: ${it.score} vs ${want[k]}`);
          assert.ok(Math.abs(it.pYes - 1 / (1 + Math.exp(-want[k]))) < 1e-5);
          assert.equal(it.prompt, m.render(templates.seen[0], c, k, m.originalTitles));
        }
        for (let j = 1; j < items.length; j++) assert.ok(items[j - 1].score >= items[j].score);
        m.mapping?.dispose();
        m.dispose();
        lm.dispose();
      }
    } finally {
      collab.dispose();
    }
    // The default model (no --lm) is the first recipe; an unknown one is named.
    const d = await call('/v1/rerank', { history: [data.itemIds[1]], candidates: [data.itemIds[2], data.itemIds[3]] });
    assert.equal(d.json.model, 'tallrec');
    const bad = await call('/v1/rerank', { model: 'nope', history: [], candidates: [data.itemIds[2]] });
    assert.equal(bad.status, 404);
    assert.equal((bad.json.error as { param: string }).param, 'model');
    const noUser = await call('/v1/rerank', { model: 'collm', user: 'no-such-user', candidates: [data.itemIds[2]] });
    assert.equal(noUser.status, 404);
    assert.equal((noUser.json.error as { param: string }).param, 'user');
    // A known user alone: their test history is the history.
    const byUser = await call('/v1/rerank', { model: 'collm', user: data.userIds[4], candidates: [data.itemIds[2], data.itemIds[3]], prompt: true });
    assert.equal(byUser.status, 200, JSON.stringify(byUser.json));
    assert.equal((byUser.json.items as unknown[]).length, 2);
  });
});
