/**
 * `llmrec serve` (src/serve, docs/SERVING.md) over a run directory trained
 * here on a tiny synthetic shop: every route answers; top-k equals a brute
 * force over the model's own scoreAll; concurrent history requests are
 * micro-batched; the re-rank equals P(yes) computed independently from the
 * LM; the OpenAI client (completions, chat, streaming, logprobs, stop, seed)
 * works against the server and greedy output equals lm/generate.ts; reload
 * under load fails no request; close() lets an in-flight request finish;
 * the bearer token and the queue limit are enforced; OpenAPI and metrics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { SplitDataset } from '../src/data/types.js';
import { loadRecommender } from '../src/models/registry.js';
import { loadPretrained } from '../src/lm/checkpoint.js';
import type { CausalLM } from '../src/lm/families/decoder.js';
import { generate } from '../src/lm/generate.js';
import { nextTokenLogProbs } from '../src/lm/score.js';
import { Tokenizer } from '../src/lm/tokenizer/index.js';
import { answerTokenIds, loadTemplates, pYes, renderPrompt } from '../src/methods/prompts.js';
import { itemTitle } from '../src/methods/text_lm/corpus.js';
import { createServer, type LlmrecServer, MicroBatcher } from '../src/serve/server.js';
import { disposeRun, loadRun, precomputedTopK, rankBatch, testHistory, userBatch } from '../src/serve/run.js';
import { TopK } from '../src/serve/topk.js';
import { RECOMMEND_RESPONSE } from '../src/serve/routes/recommend.js';
import { writeLm, writeRun } from './serve.fixture.js';

let dir: string;
let data: SplitDataset;
let server: LlmrecServer;
let base: string;

async function call(path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const r = await fetch(base + path, body === undefined ? { headers } : { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await r.text();
  let json: Record<string, unknown>;
  try { json = JSON.parse(text) as Record<string, unknown>; } catch { json = { text }; }
  return { status: r.status, json, headers: r.headers };
}

type Item = { id: string; title: string; score: number; rank: number; pYes?: number; prompt?: string };

describe('llmrec serve: API', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmrec-serve-'));
    data = await writeRun(join(dir, 'run'));
    writeLm(join(dir, 'lm'), data);
    server = await createServer({ run: join(dir, 'run'), lm: join(dir, 'lm'), port: 0, log: () => {} });
    base = await server.listen();
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('top-k heap keeps the k best, ties by smaller item', () => {
    const t = new TopK(3);
    [[5, 1], [2, 3], [9, 3], [1, 0], [7, 2], [3, 3]].forEach(([i, s]) => t.push(i, s));
    assert.deepEqual(t.result(), [{ item: 2, score: 3 }, { item: 3, score: 3 }, { item: 9, score: 3 }]);
  });

  test('health, readiness, models, items, users', async () => {
    assert.deepEqual((await call('/healthz')).json, { status: 'ok' });
    const ready = await call('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json.models, ['pop', 'sasrec', 'bprmf']);
    const models = (await call('/v1/models')).json as { items: number; models: { label: string; history: boolean; precomputed: boolean }[]; lm: { id: string; rerank: boolean } };
    assert.equal(models.items, data.numItems);
    assert.deepEqual(models.models.map((m) => [m.label, m.history, m.precomputed]), [['pop', true, false], ['sasrec', true, true], ['bprmf', false, true]]);
    assert.deepEqual([models.lm.id, models.lm.rerank], ['lm', true]);
    const word = itemTitle(data, 5).split(' ')[1].toLowerCase();
    const found = (await call(`/v1/items?q=${encodeURIComponent(word)}&limit=50`)).json as { items: Item[]; total: number };
    assert.ok(found.items.length > 0 && found.items.every((i) => i.title.toLowerCase().includes(word)));
    assert.ok(found.items.some((i) => i.id === data.itemIds[5]) || found.total > 50);
    const one = await call(`/v1/items/${data.itemIds[7]}`);
    assert.equal((one.json as unknown as Item).title, itemTitle(data, 7));
    const users = (await call('/v1/users?limit=2&offset=3')).json as { users: { id: string; nextItem: Item; history: Item[] }[] };
    assert.equal(users.users[0].id, data.userIds[3]);
    assert.equal(users.users[0].nextItem.id, data.itemIds[data.test.target[3]]);
    assert.deepEqual(users.users[0].history.map((h) => h.id), Array.from(testHistory(data, 3), (i) => data.itemIds[i]));
  });

  test('recommend: known user and ad-hoc history equal a brute force over scoreAll', async () => {
    const sas = await loadRecommender(join(dir, 'run', 'models', 'sasrec'));
    try {
      const brute = (hist: Int32Array, k: number, user = 0) => {
        const s = sas.scoreAll(userBatch([user], [hist], 10));
        const seen = new Set(hist);
        return Array.from({ length: data.numItems }, (_, j) => j + 1).filter((i) => !seen.has(i)).sort((a, b) => s[b] - s[a] || a - b).slice(0, k).map((i) => ({ i, s: s[i] }));
      };
      for (const u of [0, 7, 21]) {
        const r = await call('/v1/recommend', { model: 'sasrec', user: data.userIds[u], k: 10, includeHistory: true });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        const items = r.json.items as Item[];
        const want = brute(testHistory(data, u), 10, u);
        assert.deepEqual(items.map((x) => x.id), want.map((w) => data.itemIds[w.i]));
        items.forEach((x, j) => assert.ok(Math.abs(x.score - want[j].s) < 1e-4));
        assert.equal((r.json.nextItem as Item).id, data.itemIds[data.test.target[u]]);
        // The answer's text is built from per-item JSON (src/serve/routes/recommend.ts): it has exactly
        // RECOMMEND_RESPONSE's keys, and its items equal the API's item JSON plus rank and score.
        assert.deepEqual(Object.keys(r.json), ['model', 'user', 'nextItem', 'history', 'items']);
        assert.equal(r.json.user, data.userIds[u]);
        for (const k of Object.keys(r.json)) assert.ok(k in RECOMMEND_RESPONSE.properties);
        assert.deepEqual((r.json.history as Item[]).map((h) => h.id), Array.from(testHistory(data, u), (i) => data.itemIds[i]));
        items.forEach((x, j) => {
          assert.deepEqual(Object.keys(x).filter((key) => key !== 'attributes'), ['rank', 'id', 'title', 'score']);
          assert.equal((x as unknown as { rank: number }).rank, j + 1);
          assert.equal(x.title, itemTitle(data, want[j].i));
        });
      }
      // Without includeHistory the answer leaves the history out.
      assert.deepEqual(Object.keys((await call('/v1/recommend', { model: 'sasrec', user: data.userIds[0], k: 3 })).json), ['model', 'user', 'nextItem', 'items']);
      // Ad-hoc history by titles and ids; excludeSeen false keeps history items rankable.
      const hist = [3, 9, 4];
      const r = await call('/v1/recommend', { model: 'sasrec', history: [itemTitle(data, 3), data.itemIds[9], data.itemIds[4]], k: 5 });
      assert.deepEqual((r.json.items as Item[]).map((x) => x.id), brute(Int32Array.from(hist), 5).map((w) => data.itemIds[w.i]));
      const keep = await call('/v1/recommend', { model: 'sasrec', history: hist.map((i) => data.itemIds[i]), candidates: hist.map((i) => data.itemIds[i]), k: 10, excludeSeen: false });
      assert.equal((keep.json.items as Item[]).length, 3);
      // Candidates and exclude.
      const cands = [10, 11, 12, 13].map((i) => data.itemIds[i]);
      const c = await call('/v1/recommend', { model: 'sasrec', history: [data.itemIds[3]], candidates: cands, exclude: [data.itemIds[11]], k: 10 });
      assert.deepEqual(new Set((c.json.items as Item[]).map((x) => x.id)), new Set([cands[0], cands[2], cands[3]]));
    } finally {
      sas.dispose();
    }
    // Pop (no vectors: scoreAll path) and BPR-MF (known users only).
    const pop = await call('/v1/recommend', { model: 'pop', history: [data.itemIds[1]], k: 3 });
    assert.equal((pop.json.items as Item[]).length, 3);
    const bpr = await call('/v1/recommend', { model: 'bprmf', user: data.userIds[2], k: 3 });
    assert.equal((bpr.json.items as Item[]).length, 3);
  });

  test('concurrent history requests are micro-batched into one scoring call, with the same answers', async () => {
    const run = await loadRun(join(dir, 'run'));
    try {
      const sas = run.models.find((m) => m.label === 'sasrec')!;
      const reqs = Array.from({ length: 24 }, (_, i) => ({ user: null, history: Int32Array.from([1 + (i % 20), 2 + (i % 17)]), k: 5, skip: new Int32Array(0) }));
      const batcher = new MicroBatcher(50);
      const together = await Promise.all(reqs.map((r) => batcher.rank(sas, r)));
      assert.equal(batcher.batches, 1);
      const alone = reqs.map((r) => rankBatch(sas, [r])[0]);
      together.forEach((t, i) => {
        assert.deepEqual(t.map((x) => x.item), alone[i].map((x) => x.item));
        t.forEach((x, j) => assert.ok(Math.abs(x.score - alone[i][j].score) < 1e-5));
      });
      // Concurrent known users (precomputed vectors) are gathered into one GEMM as well.
      const known = Array.from({ length: 12 }, (_, u) => ({ user: u, history: testHistory(data, u), k: 5, skip: run.seen.subarray(run.seenStart[u], run.seenStart[u + 1]) }));
      const knownTogether = await Promise.all(known.map((r) => batcher.rank(sas, r)));
      assert.equal(batcher.batches, 2);
      known.forEach((r, i) => {
        const alone1 = rankBatch(sas, [r])[0];
        assert.deepEqual(knownTogether[i].map((x) => x.item), alone1.map((x) => x.item));
        knownTogether[i].forEach((x, j) => assert.ok(Math.abs(x.score - alone1[j].score) < 1e-5));
      });
    } finally {
      disposeRun(run);
    }
    // Over HTTP, concurrent requests all succeed.
    const rs = await Promise.all(Array.from({ length: 24 }, (_, i) => call('/v1/recommend', { model: 'sasrec', history: [data.itemIds[1 + (i % 20)], data.itemIds[2 + (i % 17)]], k: 5 })));
    assert.ok(rs.every((r) => r.status === 200));
  });

  test('known users\' precomputed top-K: the same items and scores as scoring the request, exclusions filtered or scored', async () => {
    const run = await loadRun(join(dir, 'run'), () => {}, { precomputeK: 8 });
    const none = await loadRun(join(dir, 'run'), () => {}, { precomputeK: 0 });
    try {
      const sas = run.models.find((m) => m.label === 'sasrec')!;
      assert.equal(sas.top?.k, 8);
      assert.equal(none.models.find((m) => m.label === 'sasrec')!.top, null);
      assert.equal(run.models.find((m) => m.label === 'pop')!.top, null); // no vectors: scored per request
      for (let u = 0; u < Math.min(40, data.numUsers); u++) {
        const seen = run.seen.subarray(run.seenStart[u], run.seenStart[u + 1]);
        for (const k of [1, 5, 8]) {
          const pre = precomputedTopK(sas, u, k, new Int32Array(0))!;
          const scored = rankBatch(sas, [{ user: u, history: testHistory(data, u), k, skip: seen }])[0];
          assert.deepEqual(pre.map((x) => x.item), scored.map((x) => x.item), `user ${u} k ${k}`);
          pre.forEach((x, j) => assert.ok(Math.abs(x.score - scored[j].score) < 1e-5));
          assert.ok(pre.every((x) => !seen.includes(x.item)));
        }
        // Excluding two of the list's items: still answered from the list, equal to scoring with them skipped.
        const full = precomputedTopK(sas, u, 8, new Int32Array(0))!;
        const ex = Int32Array.from([full[0].item, full[2].item]).sort();
        const pre = precomputedTopK(sas, u, 5, ex)!;
        const skip = Int32Array.from(new Set([...seen, ...ex])).sort();
        assert.deepEqual(pre.map((x) => x.item), rankBatch(sas, [{ user: u, history: testHistory(data, u), k: 5, skip }])[0].map((x) => x.item));
        // Excluding so many that fewer than k remain of the list, or k above K: no answer (the request is scored).
        assert.equal(precomputedTopK(sas, u, 8, ex), null);
        assert.equal(precomputedTopK(sas, u, 9, new Int32Array(0)), null);
      }
    } finally {
      disposeRun(run);
      disposeRun(none);
    }
  });

  test('similar items by cosine of the item vectors', async () => {
    const r = await call(`/v1/items/${data.itemIds[5]}/similar?model=sasrec&k=4`);
    const sim = r.json.similar as Item[];
    assert.equal(sim.length, 4);
    assert.ok(sim.every((x) => x.id !== data.itemIds[5] && x.score <= 1 + 1e-6));
    assert.ok(sim[0].score >= sim[3].score);
    assert.equal((await call(`/v1/items/${data.itemIds[5]}/similar?model=pop`)).status, 400);
  });

  test('re-rank: P(yes) equals the LM\'s own answer-token probabilities', async () => {
    const hist = [2, 6];
    const cands = [8, 12, 20];
    const r = await call('/v1/rerank', { history: hist.map((i) => data.itemIds[i]), candidates: cands.map((i) => data.itemIds[i]), prompt: true });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const items = r.json.items as Item[];
    assert.equal(items.length, 3);
    const t = loadTemplates().seen[0];
    const tok = Tokenizer.fromFile(join(dir, 'lm'));
    const lm = loadPretrained(join(dir, 'lm')).model as unknown as CausalLM;
    try {
      for (const x of items) {
        const item = data.itemIds.indexOf(x.id);
        const prompt = renderPrompt(t, { historyTitles: hist.map((i) => itemTitle(data, i)), targetTitle: itemTitle(data, item), idTokens: false });
        assert.equal(x.prompt, prompt);
        const p = pYes(nextTokenLogProbs(lm, { ids: Int32Array.from(tok.encode(prompt, { addSpecialTokens: false })) }), answerTokenIds(tok, t));
        assert.ok(Math.abs(p - x.pYes!) < 1e-4, `${p} vs ${x.pYes}`);
      }
    } finally {
      lm.dispose();
    }
    assert.ok(items[0].score >= items[1].score && items[1].score >= items[2].score);
    const other = await call('/v1/rerank', { history: [], candidates: [data.itemIds[8]], template: 'unseen-paraphrase' });
    assert.equal(other.json.template, 'unseen-paraphrase');
  });

  test('OpenAI client: completions, chat, streaming, stop, seed, logprobs', async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
    const prompt = 'Will the user like the target item?';
    const greedy = await client.completions.create({ model: 'lm', prompt, max_tokens: 8, temperature: 0, logprobs: 2 });
    const tok = Tokenizer.fromFile(join(dir, 'lm'));
    const lm = loadPretrained(join(dir, 'lm')).model as unknown as CausalLM;
    try {
      const [g] = generate(lm, { ids: Int32Array.from(tok.encode(prompt, { addSpecialTokens: false })) }, { maxNewTokens: 8, strategy: 'greedy', eosTokenId: tok.specialTokens.eos?.id });
      const toks = g.tokens.filter((x) => x !== tok.specialTokens.eos?.id);
      assert.equal(greedy.choices[0].text, tok.decode(toks));
    } finally {
      lm.dispose();
    }
    assert.equal(greedy.object, 'text_completion');
    assert.equal(greedy.choices[0].logprobs!.tokens!.length, greedy.usage!.completion_tokens);
    assert.ok(greedy.choices[0].logprobs!.token_logprobs!.every((x) => x <= 0));
    assert.equal(Object.keys(greedy.choices[0].logprobs!.top_logprobs![0]).length, 2);
    // Seeded sampling repeats; streaming gives the same text.
    const a = await client.completions.create({ model: 'lm', prompt, max_tokens: 10, temperature: 1, top_p: 0.9, seed: 42 });
    const b = await client.completions.create({ model: 'lm', prompt, max_tokens: 10, temperature: 1, top_p: 0.9, seed: 42 });
    assert.equal(a.choices[0].text, b.choices[0].text);
    const stream = await client.completions.create({ model: 'lm', prompt, max_tokens: 10, temperature: 1, top_p: 0.9, seed: 42, stream: true });
    let streamed = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      streamed += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(streamed, a.choices[0].text);
    assert.equal(finish, a.choices[0].finish_reason);
    // Stop strings cut the text before the stop.
    const full = greedy.choices[0].text;
    if (full.length > 2) {
      const stop = full.slice(1, 3);
      const cut = await client.completions.create({ model: 'lm', prompt, max_tokens: 8, temperature: 0, stop: [stop] });
      assert.equal(cut.choices[0].text, full.slice(0, full.indexOf(stop)));
      assert.equal(cut.choices[0].finish_reason, 'stop');
    }
    // Chat, plain and streamed.
    const chat = await client.chat.completions.create({ model: 'lm', messages: [{ role: 'system', content: 'You recommend.' }, { role: 'user', content: 'Hello' }], max_tokens: 6, seed: 3, logprobs: true, top_logprobs: 1 });
    assert.equal(chat.choices[0].message.role, 'assistant');
    assert.equal(chat.choices[0].logprobs!.content!.length, chat.usage!.completion_tokens);
    const chatStream = await client.chat.completions.create({ model: 'lm', messages: [{ role: 'system', content: 'You recommend.' }, { role: 'user', content: 'Hello' }], max_tokens: 6, seed: 3, stream: true });
    let chatText = '';
    for await (const chunk of chatStream) chatText += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(chatText, chat.choices[0].message.content);
    const list = await client.models.list();
    assert.deepEqual(list.data.map((m) => m.id), ['lm']);
    await assert.rejects(client.completions.create({ model: 'lm', prompt, max_tokens: 2000 }), (e: { status?: number }) => e.status === 400);
    // A client that leaves a stream early frees its queue slot.
    const ac = new AbortController();
    const left = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, max_tokens: 200, stream: true }), signal: ac.signal });
    await left.body!.getReader().read();
    ac.abort();
    for (let i = 0; i < 100 && server.stats().queueDepth > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.stats().queueDepth, 0);
  });

  test('OpenAPI document and Prometheus metrics', async () => {
    const doc = (await call('/openapi.json')).json as { openapi: string; paths: Record<string, { post?: { requestBody: { content: { 'application/json': { schema: { properties: Record<string, unknown> } } } } } }> };
    assert.equal(doc.openapi, '3.1.0');
    for (const p of ['/v1/recommend', '/v1/items', '/v1/items/{id}', '/v1/items/{id}/similar', '/v1/models', '/v1/rerank', '/v1/completions', '/v1/chat/completions', '/healthz', '/readyz', '/metrics']) assert.ok(doc.paths[p], p);
    const rec = doc.paths['/v1/recommend'].post!.requestBody.content['application/json'].schema;
    assert.deepEqual(Object.keys(rec.properties).sort(), ['candidates', 'exclude', 'excludeSeen', 'history', 'includeHistory', 'k', 'model', 'user']);
    const r = await fetch(`${base}/metrics`);
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
    const text = await r.text();
    assert.match(text, /llmrec_http_requests_total\{method="POST",route="\/v1\/recommend",status="200"\} \d+/);
    assert.match(text, /llmrec_http_request_duration_seconds_bucket\{method="POST",route="\/v1\/recommend",status="200",le="\+Inf"\} \d+/);
    assert.match(text, /llmrec_model_load_seconds\{component="model:sasrec"\} [0-9.e-]+/);
    assert.match(text, /llmrec_model_load_seconds\{component="lm:lm"\} [0-9.e-]+/);
  });

  test('reload under load fails no request', async () => {
    // The load runs before, during and after the reload: the reload starts after two
    // rounds of requests and the load stops only after two more rounds begun after it.
    let stop = false;
    let rounds = 0;
    const statuses: number[] = [];
    const load = (async () => {
      while (!stop) {
        const rs = await Promise.all([
          call('/v1/recommend', { model: 'sasrec', user: data.userIds[1], k: 5 }),
          call('/v1/recommend', { model: 'sasrec', history: [data.itemIds[3]], k: 5 }),
          call('/v1/items?q=a'),
        ]);
        statuses.push(...rs.map((r) => r.status));
        for (const r of rs) if (r.status !== 200) console.error(JSON.stringify(r.json));
        rounds++;
      }
    })();
    const roundsReached = async (n: number) => { while (rounds < n) await new Promise((r) => setTimeout(r, 5)); };
    await roundsReached(2);
    const before = (await call('/v1/models')).json.loadedAt;
    const r1 = await call('/admin/reload', {});
    assert.equal(r1.status, 200, JSON.stringify(r1.json));
    await server.reload();
    await roundsReached(rounds + 2);
    stop = true;
    await load;
    // (Messages given: a failing assert.ok without one can spin in Node 20's source reader on this file.)
    assert.ok(statuses.length >= 12, `only ${statuses.length} requests made`);
    assert.ok(statuses.every((s) => s === 200), `statuses: ${[...new Set(statuses)].join(', ')}`);
    assert.notEqual((await call('/v1/models')).json.loadedAt, before);
  });
});

describe('llmrec serve: token, queue limit, graceful close', () => {
  let d2: string;
  before(async () => {
    d2 = mkdtempSync(join(tmpdir(), 'llmrec-serve2-'));
    const data2 = await writeRun(join(d2, 'run'), [{ label: 'sasrec', name: 'sasrec', config: { d: 8, blocks: 1, heads: 1 } }]);
    writeLm(join(d2, 'lm'), data2);
    data = data2;
  });
  after(() => rmSync(d2, { recursive: true, force: true }));

  test('bearer token: required on the API, not on health checks', async () => {
    const s = await createServer({ run: join(d2, 'run'), port: 0, token: 'secret-token-1', log: () => {} });
    base = await s.listen();
    try {
      assert.equal((await call('/healthz')).status, 200);
      const no = await call('/v1/models');
      assert.equal(no.status, 401);
      assert.equal((no.json.error as { param: string }).param, 'authorization');
      assert.equal((await call('/v1/models', undefined, { authorization: 'Bearer wrong-token' })).status, 401);
      assert.equal((await call('/v1/models', undefined, { authorization: 'Bearer secret-token-1' })).status, 200);
    } finally {
      await s.close();
    }
    await assert.rejects(createServer({ run: join(d2, 'run'), port: 0, token: 'short', log: () => {} }), /at least 8/);
  });

  test('a full queue answers 503 with Retry-After; the server stays up', async () => {
    const s = await createServer({ run: join(d2, 'run'), lm: join(d2, 'lm'), port: 0, maxQueue: 2, log: () => {} });
    base = await s.listen();
    try {
      const rs = await Promise.all(Array.from({ length: 12 }, () => call('/v1/completions', { prompt: 'Answer:', max_tokens: 20, temperature: 0 })));
      const busy = rs.filter((r) => r.status === 503);
      assert.ok(busy.length > 0 && rs.some((r) => r.status === 200), `statuses ${rs.map((r) => r.status).join(',')}`);
      assert.ok(busy.every((r) => r.headers.get('retry-after') === '1' && (r.json.error as { code: string }).code === 'queue_full'));
      assert.equal((await call('/v1/completions', { prompt: 'Answer:', max_tokens: 2 })).status, 200);
      assert.match(await (await fetch(`${base}/metrics`)).text(), /llmrec_rejected_total [1-9]/);
    } finally {
      await s.close();
    }
  });

  test('close() lets in-flight requests finish, then refuses connections', async () => {
    const s = await createServer({ run: join(d2, 'run'), lm: join(d2, 'lm'), port: 0, log: () => {} });
    base = await s.listen();
    const slow = call('/v1/completions', { prompt: 'Answer:', max_tokens: 200, temperature: 1, seed: 1 });
    // Close only once the server is handling the request (a fixed wait races on a loaded machine).
    for (let i = 0; i < 500 && s.stats().inFlight === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(s.stats().inFlight > 0, 'the request never reached the server');
    const closing = s.close();
    const r = await slow;
    await closing;
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.ok(((r.json.usage as { completion_tokens: number }).completion_tokens) > 0);
    await assert.rejects(fetch(`${base}/healthz`));
  });
});
