/**
 * KAR (src/models/kar, docs/METHODS.md §8): the knowledge stage (no leakage of
 * validation/test items into a user's prompt, the on-disk cache, the
 * fallback), the hybrid-expert adaptor (shapes, gate, gradients), kar-sasrec
 * (learns, save/load gives identical scores, unknown users), kar-din, and a
 * benchmark CLI run on the synthetic shop with a tiny randomly initialised
 * (untrained) LLaMA built here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initEngine, tf } from '../src/engine/index.js';
import { generateShop } from '../src/data/synthetic.js';
import { applyProtocol } from '../src/data/protocol.js';
import { itemSentence } from '../src/data/item_text.js';
import type { ProtocolConfig } from '../src/data/types.js';
import { ParamStore } from '../src/nn/index.js';
import { emptyUsage, type GenerationOptions, type LlmBackend } from '../src/backends/index.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { savePretrained } from '../src/lm/checkpoint.js';
import { trainBpe } from '../src/lm/tokenizer/index.js';
import { evaluateRecommender } from '../src/eval/evaluate.js';
import { createRecommender, loadRecommender } from '../src/models/registry.js';
import type { FitOptions } from '../src/models/types.js';
import { HybridExperts } from '../src/models/kar/adaptor.js';
import { buildKnowledge, historyTitles } from '../src/models/kar/knowledge.js';
import { KAR_DEFAULTS, prepareKnowledge } from '../src/models/kar/prepare.js';
import { Rng } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const P: ProtocolConfig = { ratingThreshold: null, kCore: 3, maxHistory: 10, numNegatives: 29, seed: 3 };
const FIT: FitOptions = { epochs: 8, batchSize: 64, lr: 3e-3, patience: 100, validMetric: 'ndcg@10', validProtocol: 'full', seed: 1 };

/** A scripted backend that records every prompt and answers with a fixed text. */
function recordingBackend(prompts: string[]): LlmBackend {
  const usage = emptyUsage();
  return {
    kind: 'local', name: 'scripted:record',
    capabilities: { generate: true, continuationLogProbs: false, constrainedChoices: false, constrainedJsonSchema: false, seed: true, exactTokenCount: false, vectorInjection: false },
    tokenizerFacts: () => Promise.resolve({ vocabSize: null, contextLength: null, specialTokens: {} }),
    countTokens: (t: string) => Promise.resolve(t.length),
    generate: (prompt: string, o: GenerationOptions) => {
      assert.ok(o.maxTokens >= 1);
      usage.requests++;
      prompts.push(prompt);
      return Promise.resolve({ text: `knowledge #${prompts.length % 3}`, finishReason: 'stop' as const, promptTokens: 0, completionTokens: 0 });
    },
    scoreContinuations: () => Promise.reject(new Error('not used')),
    usage: () => ({ ...usage }),
    dispose: () => Promise.resolve(),
  };
}

describe('kar', () => {
  let dir = '';
  before(async () => {
    await initEngine();
    dir = mkdtempSync(join(tmpdir(), 'llmrec-kar-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const data = applyProtocol(generateShop({ users: 300, items: 200, seed: 5 }), P);

  it("a user's preference prompt holds training items only, never the validation or test item", async () => {
    const prompts: string[] = [];
    const k = await buildKnowledge(data, { backend: recordingBackend(prompts), maxNewTokens: 8, temperature: 0, seed: 0, historyTitles: 1000 });
    assert.equal(prompts.length, data.numItems + data.numUsers);
    const userPrompts = prompts.slice(data.numItems);
    let checked = 0;
    for (let u = 0; u < data.numUsers; u++) {
      const train = new Set([...data.trainSeqs[u]].map((i) => data.itemMeta.get(i)!.title));
      const seq = data.sequences[u];
      const held = [seq[seq.length - 1], seq[seq.length - 2]];
      for (const i of held) {
        const title = data.itemMeta.get(i)!.title;
        if (train.has(title)) continue; // the same title on a training item is not a leak
        assert.ok(!userPrompts[u].includes(title), `user ${u}: held-out '${title}' in the prompt`);
        checked++;
      }
      // every training title is there
      for (const t of train) assert.ok(userPrompts[u].includes(t));
      assert.ok(k.users[u].startsWith(historyTitles(data, u, 1000)));
    }
    assert.ok(checked > data.numUsers, `checked ${checked} held-out items`);
    assert.equal(k.fallback, false);
    assert.equal(k.calls, data.numItems + data.numUsers);
  });

  it('caches the answers on disk: a second run makes no LM call and gives the same texts', async () => {
    const cacheDir = join(dir, 'cache');
    const first: string[] = [];
    const a = await buildKnowledge(data, { backend: recordingBackend(first), maxNewTokens: 8, temperature: 0, seed: 0, historyTitles: 5, cacheDir });
    assert.equal(first.length, a.calls);
    assert.ok(readdirSync(cacheDir).some((f) => f.startsWith('kar-knowledge-')));
    const second: string[] = [];
    const be = recordingBackend(second);
    const b = await buildKnowledge(data, { backend: be, maxNewTokens: 8, temperature: 0, seed: 0, historyTitles: 5, cacheDir });
    assert.equal(second.length, 0);
    assert.equal(be.usage().requests, 0);
    assert.equal(b.calls, 0);
    assert.equal(b.hits, data.numItems + data.numUsers);
    assert.deepEqual(b.items, a.items);
    assert.deepEqual(b.users, a.users);
    // other generation options: another cache identity, generated again
    const third: string[] = [];
    await buildKnowledge(data, { backend: recordingBackend(third), maxNewTokens: 9, temperature: 0, seed: 0, historyTitles: 5, cacheDir });
    assert.equal(third.length, data.numItems + data.numUsers);
    // the vectors of the same texts: encoded once, then from the text cache
    const dirs = { knowledge: cacheDir, text: join(dir, 'text'), label: 'k' };
    const v1 = await prepareKnowledge('kar-sasrec', KAR_DEFAULTS, data, dirs, recordingBackend([]));
    const v2 = await prepareKnowledge('kar-sasrec', KAR_DEFAULTS, data, dirs, recordingBackend([]));
    assert.equal(v2.report.generation.calls, 0);
    assert.equal(v2.report.encoding.misses, 0);
    assert.deepEqual(v2.vectors.items, v1.vectors.items);
    assert.ok(existsSync(join(cacheDir, 'report-k.json')));
  });

  it('falls back to the item texts and the training-history titles without an LM', async () => {
    const k = await buildKnowledge(data, { backend: null, maxNewTokens: 8, temperature: 0, seed: 0, historyTitles: 3 });
    assert.equal(k.fallback, true);
    assert.equal(k.lm, 'none');
    assert.equal(k.items[1], itemSentence(data.itemMeta.get(1)!, { maxLength: 512 }));
    assert.equal(k.users[0], historyTitles(data, 0, 3));
    assert.equal(k.users[0].split('; ').length, Math.min(3, data.trainSeqs[0].length));
    const r = await prepareKnowledge('kar-sasrec', { ...KAR_DEFAULTS, textDim: 32 }, data);
    assert.equal(r.report.fallback, true);
    assert.equal(r.vectors.items.length, (data.numItems + 1) * 32);
    assert.equal(r.vectors.users.length, data.numUsers * 32);
    assert.ok(r.vectors.items.subarray(0, 32).every((x) => x === 0), 'padding row is zero');
  });

  it('hybrid-expert adaptor: shapes, gates summing to 1, a gradient for every parameter', () => {
    const store = new ParamStore(3);
    const ad = new HybridExperts(store, 'ad', 12, 8, 3, 5);
    const rng = new Rng(1);
    const x = tf.tensor2d(rng.normalArray(7 * 12, 1), [7, 12]);
    const y = ad.apply(x);
    assert.deepEqual(y.shape, [7, 8]);
    const g = ad.gates(x).arraySync();
    for (const row of g) assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-5);
    const vars = [...store.vars.values()];
    assert.equal(vars.length, 5); // fc1 weight + bias, fc2 weight + bias, gate
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(ad.apply(x))) as tf.Scalar, vars);
    for (const v of vars) {
      const gv = grads[v.name];
      assert.ok(gv, `gradient of ${v.name}`);
      assert.deepEqual(gv.shape, v.shape);
      assert.ok((gv.abs().max().dataSync()[0]) > 0, `non-zero gradient of ${v.name}`);
    }
    tf.dispose([x, y, ...Object.values(grads)]);
  });

  it('kar-sasrec learns, save/load gives identical scores, an unknown user gets the zero preference row', async () => {
    assert.throws(() => createRecommender('kar-sasrec', { experts: 0 }), /experts/);
    assert.throws(() => createRecommender('kar-sasrec', { lm: 'ollama:x' }), /backend spec/);
    const m = createRecommender('kar-sasrec', { d: 32, blocks: 1, textDim: 64, experts: 2, expertHidden: 16 });
    const rep = await m.fit(data, { ...FIT, checkpointDir: join(dir, 'run', 'models', 'kar') });
    assert.ok(rep.epochs.length >= 1);
    assert.ok(existsSync(join(dir, 'run', 'kar-knowledge', 'report-kar.json')));
    const rnd = createRecommender('random');
    await rnd.fit(data, FIT);
    const km = evaluateRecommender(m, data, 'test', { protocol: 'sampled', ks: [10] });
    const rm = evaluateRecommender(rnd, data, 'test', { protocol: 'sampled', ks: [10] });
    assert.ok(km['hr@10'] > rm['hr@10'] + 0.1, `kar-sasrec HR@10 ${km['hr@10']} vs random ${rm['hr@10']}`);
    const save = join(dir, 'saved');
    await m.save(save);
    const back = await loadRecommender(save);
    assert.equal(back.name, 'kar-sasrec');
    const batch = { size: 4, L: data.test.L, user: data.test.user.subarray(0, 4), history: data.test.history.subarray(0, 4 * data.test.L) };
    assert.deepEqual(back.scoreAll(batch), m.scoreAll(batch));
    const anon = { ...batch, user: Int32Array.from([-1, data.numUsers, 10 ** 6, batch.user[3]]) };
    const s = back.scoreAll(anon);
    assert.ok(s.every((v, i) => i % (data.numItems + 1) === 0 || Number.isFinite(v)));
    assert.notDeepEqual(s.subarray(0, data.numItems + 1), m.scoreAll(batch).subarray(0, data.numItems + 1));
    assert.deepEqual(s.subarray(3 * (data.numItems + 1)), m.scoreAll(batch).subarray(3 * (data.numItems + 1)));
    back.dispose();
    m.dispose();
    rnd.dispose();
  });

  it('kar-din learns, save/load gives identical scores, DIN itself is unchanged by the hooks', async () => {
    assert.throws(() => createRecommender('kar-din', { knowledgeDropout: 2 }), /knowledgeDropout/);
    assert.throws(() => createRecommender('din', { experts: 2 }), /unknown/i);
    const m = createRecommender('kar-din', { d: 16, attnHidden: [16], mlpHidden: [32], textDim: 32, experts: 2, expertHidden: 16 });
    const rep = await m.fit(data, { ...FIT, epochs: 6, validMetric: 'auc', validProtocol: 'sampled', checkpointDir: join(dir, 'run2', 'models', 'kd') });
    assert.ok(rep.epochs.length >= 1);
    const km = evaluateRecommender(m, data, 'test', { protocol: 'sampled', ks: [10] });
    assert.ok(km.auc > 0.6, `kar-din AUC ${km.auc}`);
    const save = join(dir, 'saved-din');
    await m.save(save);
    const back = await loadRecommender(save);
    assert.equal(back.name, 'kar-din');
    const batch = { size: 3, L: data.test.L, user: data.test.user.subarray(0, 3), history: data.test.history.subarray(0, 3 * data.test.L) };
    const C = data.test.numNegatives;
    const cand = data.test.negatives.subarray(0, 3 * C);
    assert.deepEqual(back.scoreCandidates(batch, cand, C), m.scoreCandidates(batch, cand, C));
    assert.deepEqual(back.scoreAll(batch), m.scoreAll(batch));
    back.dispose();
    m.dispose();
  });

  it('runs through the benchmark CLI with a tiny random LM built here (knowledge generated by it, then eval of the saved run)', { timeout: 300_000 }, async () => {
    const shop = generateShop({ users: 120, items: 80, seed: 7 });
    const tok = trainBpe([...shop.itemMeta.values()].map((m) => itemSentence(m)), { vocabSize: 300 });
    const lm = new LlamaForCausalLM(parseLlamaConfig({
      model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1,
      num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 1024,
    }), { seed: 3 });
    const rng = new Rng(4);
    for (const v of lm.store.vars.values()) tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.2), v.shape))));
    const lmDir = join(dir, 'tiny-lm');
    mkdirSync(lmDir, { recursive: true });
    savePretrained(lm, lmDir);
    tok.save(lmDir);
    lm.dispose();
    const cfgFile = join(dir, 'kar.json');
    const runs = join(dir, 'runs');
    writeFileSync(cfgFile, JSON.stringify({
      data: { name: 'synthetic-shop', synthetic: { users: 120, items: 80, seed: 7 } },
      protocol: { kCore: 3, maxHistory: 8, numNegatives: 9, seed: 1 },
      models: ['random', 'pop', { name: 'kar-sasrec', config: { d: 16, blocks: 1, textDim: 32, experts: 2, expertHidden: 8, lm: `local:${lmDir}`, maxNewTokens: 4, historyTitles: 3 } }],
      train: { epochs: 2, batchSize: 64, patience: 2, validMetric: 'ndcg@5', validProtocol: 'sampled', seed: 3 },
      eval: { protocols: ['sampled', 'full'], ks: [5], fullKs: [10] },
      output: { runsDir: runs, name: 'kar' },
    }));
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, LLMREC_BLAS_THREADS: '1' } });
    const r = cli('benchmark', '-c', cfgFile);
    assert.equal(r.status, 0, r.stderr);
    const runDir = join(runs, 'kar');
    const metrics = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8')) as { rows: { model: string; metrics: Record<string, number> }[] };
    assert.deepEqual([...new Set(metrics.rows.map((x) => x.model))].sort(), ['kar-sasrec', 'pop', 'random']);
    for (const row of metrics.rows) assert.ok(Object.values(row.metrics).every((v) => Number.isFinite(v)));
    const report = JSON.parse(readFileSync(join(runDir, 'kar-knowledge', 'report-kar-sasrec.json'), 'utf8')) as { fallback: boolean; lm: string; generation: { calls: number } };
    assert.equal(report.fallback, false);
    assert.equal(report.lm, `local:${lmDir}`);
    assert.ok(report.generation.calls > 0);
    assert.ok(existsSync(join(runDir, 'models', 'kar-sasrec', 'config.json')));
    // eval of the saved run works unchanged
    const e = cli('eval', '--run', runDir);
    assert.equal(e.status, 0, e.stderr);
  });
});
