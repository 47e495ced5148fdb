/**
 * src/backends: the same tiny llmrec model in-process, as a GGUF file run by
 * llama.cpp (node-llama-cpp) and behind an OpenAI-compatible HTTP server
 * written here (node:http on loopback, answering /v1/completions and
 * /v1/chat/completions from the in-process model), reached through the
 * official `openai` client. Scores of the same prompts must agree across the
 * three within SCORE_TOLERANCE. Bad servers (down, slow, malformed JSON,
 * refusing, context exceeded) give clear errors within each test's time
 * bound, and the response cache never answers a different request.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { generateShop } from '../src/data/synthetic.js';
import { itemSentence } from '../src/data/item_text.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { savePretrained } from '../src/lm/checkpoint.js';
import { trainBpe } from '../src/lm/tokenizer/index.js';
import { exportGguf } from '../src/lm/interop/gguf.js';
import { llamaCppStatus } from '../src/lm/interop/llamacpp.js';
import {
  BackendError, canonicalJson, choicesGrammar, createBackend, GgufBackend, LocalBackend, OpenAiBackend, parseBackendSpec,
  ResponseCache, resolveOpenAiEndpoint, UnsupportedCapabilityError,
} from '../src/backends/index.js';
import { ready, Rng } from './helpers.js';

await ready();
// Asked before any test is registered (a top-level await between suites lets the root's `after` run early).
const llamaStatus = await llamaCppStatus();
const skipGguf = llamaStatus.available ? false : `node-llama-cpp cannot run here: ${llamaStatus.reason}`;

/**
 * Largest allowed difference of a continuation's summed natural-log
 * probability between backends. In-process and HTTP run the same f32 model
 * (cached prefix vs one full forward: ~1e-5 apart); llama.cpp with an F32
 * file and F32 KV cache matches llmrec's logits to ~2e-5 (test/lm.gguf.test.ts),
 * a few tokens summed stay far below 2e-3.
 */
const SCORE_TOLERANCE = 2e-3;
const CONTEXT = 128;

const dir = mkdtempSync(join(tmpdir(), 'llmrec-backends-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const shop = generateShop({ users: 20, items: 80, seed: 3 });
const sentences = [...shop.itemMeta.values()].map((m) => itemSentence(m));
const titles = [...shop.itemMeta.values()].map((m) => m.title).slice(0, 6);
const tokenizer = trainBpe(sentences, { vocabSize: 400 });
const model = (() => {
  const cfg = parseLlamaConfig({
    model_type: 'llama', vocab_size: tokenizer.vocabSize, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-5, max_position_embeddings: CONTEXT,
  });
  const m = new LlamaForCausalLM(cfg, { seed: 7 });
  const rng = new Rng(107);
  for (const v of m.store.vars.values()) tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.3), v.shape))));
  return m;
})();
const folder = join(dir, 'hf');
savePretrained(model, folder);
tokenizer.save(folder);
const ggufPath = join(dir, 'tiny.gguf');
exportGguf(model, tokenizer, ggufPath, { dtype: 'f32' });

const local = new LocalBackend({ model, tokenizer, name: 'local:tiny' });
after(() => local.dispose());

const prompts = [
  `The user bought ${titles[0]} and ${titles[1]}. Next:`,
  `History: ${titles[2]}; ${titles[3]}. Recommended item:`,
];
const conts = titles.slice(2).map((t) => ` ${t}`);

// ---------------------------------------------------------------------------
// The OpenAI-compatible test server.

interface ServerState {
  counts: Map<string, number>;
  flaky: number;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.on('data', (c: Buffer) => { s += c.toString('utf8'); });
    req.on('end', () => { try { resolve(JSON.parse(s) as Record<string, unknown>); } catch (e) { reject(e as Error); } });
  });
}

/**
 * Echoed log-probs of the prompt followed by the generated text, from one
 * full forward pass: tokens, log-probs (the first null) and character
 * offsets. As vLLM does, the prompt is tokenized alone and the generated
 * tokens are appended.
 */
function echoLogprobs(prompt: string, generated: string): { tokens: string[]; token_logprobs: Array<number | null>; text_offset: number[] } {
  const pIds = tokenizer.encode(prompt);
  const gIds = generated === '' ? [] : tokenizer.encode(generated, { addSpecialTokens: false });
  const ids = [...pIds, ...gIds];
  const out = model.forward({ inputIds: [ids] });
  const logits = out.logits.dataSync() as Float32Array;
  tf.dispose([out.logits, out.hidden]);
  const V = model.vocabSize;
  const lps: Array<number | null> = [null];
  for (let t = 1; t < ids.length; t++) {
    const o = (t - 1) * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, logits[o + j]);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[o + j] - max);
    lps.push(logits[o + ids[t]] - max - Math.log(s));
  }
  const offsets = ids.map((_, t) => (t < pIds.length ? tokenizer.decode(pIds.slice(0, t)).length : prompt.length + tokenizer.decode(gIds.slice(0, t - pIds.length)).length));
  return { tokens: ids.map((i) => tokenizer.decode([i])), token_logprobs: lps, text_offset: offsets };
}

async function handle(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = req.url ?? '';
  state.counts.set(path, (state.counts.get(path) ?? 0) + 1);
  const body = await readBody(req);
  const name = String(body.model);
  if (name === 'slow') { await new Promise((r) => setTimeout(r, 3000)); return send(res, 200, { choices: [] }); }
  if (name === 'malformed') return send(res, 200, '{"choices": [ this is not JSON');
  if (name === 'refuse') return send(res, 403, { error: { message: 'model refuse is not allowed for this key', type: 'permission_error' } });
  if (name === 'flaky' && state.flaky++ < 2) return send(res, 503, { error: { message: 'overloaded' } }, { 'retry-after-ms': '10' });
  if (name === 'nochoices') return send(res, 200, { id: 'x', object: 'text_completion', choices: [] });
  const maxTokens = Number(body.max_tokens ?? 16);
  const tooLong = (p: string): boolean => tokenizer.encode(p).length + maxTokens > CONTEXT;
  if (path === '/v1/completions') {
    const list = Array.isArray(body.prompt) ? (body.prompt as string[]) : [String(body.prompt)];
    if (list.some(tooLong)) return send(res, 400, { error: { message: `This model's maximum context length is ${CONTEXT} tokens`, type: 'invalid_request_error' } });
    let pt = 0;
    let ct = 0;
    const choices = await Promise.all(list.map(async (p, index) => {
      const g = await local.generate(p, { maxTokens, temperature: Number(body.temperature ?? 0), seed: body.seed as number | undefined, stop: body.stop as string[] | undefined });
      pt += g.promptTokens;
      ct += g.completionTokens;
      if (body.echo === true) return { index, text: p + g.text, logprobs: echoLogprobs(p, g.text), finish_reason: g.finishReason };
      return { index, text: g.text, logprobs: null, finish_reason: g.finishReason };
    }));
    return send(res, 200, { id: 'cmpl-1', object: 'text_completion', model: name, choices, usage: { prompt_tokens: pt, completion_tokens: ct, total_tokens: pt + ct } });
  }
  if (path === '/v1/chat/completions') {
    const messages = body.messages as Array<{ content: string }>;
    const prompt = messages[messages.length - 1].content;
    if (tooLong(prompt)) return send(res, 400, { error: { message: `This model's maximum context length is ${CONTEXT} tokens`, type: 'invalid_request_error' } });
    const rf = body.response_format as { json_schema?: { schema?: { properties?: { choice?: { enum?: string[] } } } } } | undefined;
    const choices = rf?.json_schema?.schema?.properties?.choice?.enum;
    if (rf && !choices) return send(res, 400, { error: { message: 'this test server only supports the choice enum schema' } });
    const g = await local.generate(prompt, { maxTokens, temperature: Number(body.temperature ?? 0), seed: body.seed as number | undefined, constraint: choices ? { type: 'choices', choices } : undefined });
    const content = choices ? JSON.stringify({ choice: g.text }) : g.text;
    return send(res, 200, {
      id: 'chat-1', object: 'chat.completion', model: name,
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: g.finishReason }],
      usage: { prompt_tokens: g.promptTokens, completion_tokens: g.completionTokens, total_tokens: g.promptTokens + g.completionTokens },
    });
  }
  return send(res, 404, { error: { message: `no route ${path}` } });
}

function listen(state: ServerState): Promise<Server> {
  const server = createServer((req, res) => { handle(state, req, res).catch((e: Error) => send(res, 500, { error: { message: e.message } })); });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

const state: ServerState = { counts: new Map(), flaky: 0 };
let server: Server;
let url = '';
before(async () => {
  server = await listen(state);
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(() => { server.closeAllConnections(); server.close(); });

// A generous timeout: the machine may be shared; the slow-server test sets its own short one.
const http = (o: Partial<ConstructorParameters<typeof OpenAiBackend>[0]> = {}) => new OpenAiBackend({ model: 'tiny', baseURL: url, maxRetries: 0, timeoutMs: 60_000, env: {}, ...o });

// ---------------------------------------------------------------------------

describe('specs and factory', () => {
  test('parseBackendSpec', { timeout: 5000 }, () => {
    assert.deepEqual(parseBackendSpec('local:/m/small'), { kind: 'local', path: '/m/small' });
    assert.deepEqual(parseBackendSpec('gguf:/m/x.gguf'), { kind: 'gguf', path: '/m/x.gguf' });
    assert.deepEqual(parseBackendSpec('openai:qwen2.5:0.5b@http://localhost:11434/v1'), { kind: 'openai', model: 'qwen2.5:0.5b', baseURL: 'http://localhost:11434/v1' });
    assert.deepEqual(parseBackendSpec('openai:gpt-4o-mini', { cacheDir: '/c' }), { kind: 'openai', model: 'gpt-4o-mini', cacheDir: '/c' });
    assert.throws(() => parseBackendSpec('hf:/x'), /expected local:PATH, gguf:FILE, openai:MODEL or openai:MODEL@URL/);
    assert.throws(() => parseBackendSpec('openai:@http://x'), /empty model name/);
  });

  test('endpoint resolution: options, then LLMREC_OPENAI_*, then OPENAI_*', { timeout: 5000 }, () => {
    const env = { OPENAI_BASE_URL: 'http://a/v1', OPENAI_API_KEY: 'ka', LLMREC_OPENAI_BASE_URL: 'http://b/v1/' };
    assert.deepEqual(resolveOpenAiEndpoint({ env }), { baseURL: 'http://b/v1', apiKey: 'ka' });
    assert.deepEqual(resolveOpenAiEndpoint({ env, baseURL: 'http://c/v1', apiKey: 'kc' }), { baseURL: 'http://c/v1', apiKey: 'kc' });
    assert.deepEqual(resolveOpenAiEndpoint({ env: {} }), { baseURL: 'https://api.openai.com/v1', apiKey: 'EMPTY' });
    assert.throws(() => resolveOpenAiEndpoint({ baseURL: 'ftp://x', env: {} }), /invalid base URL "ftp:\/\/x"/);
  });

  test('createBackend opens a local folder; facts and token counts', { timeout: 60_000 }, async () => {
    const b = await createBackend(parseBackendSpec(`local:${folder}`));
    try {
      assert.equal(b.name, `local:${folder}`);
      const f = await b.tokenizerFacts();
      assert.equal(f.vocabSize, tokenizer.vocabSize);
      assert.equal(f.contextLength, CONTEXT);
      assert.equal(f.specialTokens.eos, '</s>');
      assert.equal(await b.countTokens(titles[0]), tokenizer.encode(titles[0], { addSpecialTokens: false }).length);
      const [s] = await b.scoreContinuations(prompts[0], [conts[0]]);
      const [r] = await local.scoreContinuations(prompts[0], [conts[0]]);
      assert.ok(Math.abs(s.logProb - r.logProb) < 1e-6);
    } finally {
      await b.dispose();
    }
    await assert.rejects(createBackend({ kind: 'local', path: join(dir, 'missing') }), /no config\.json/);
  });

  test('unsupported capabilities say so and name the backend', { timeout: 5000 }, async () => {
    await assert.rejects(local.generate('x', { maxTokens: 2, constraint: { type: 'json_schema', schema: { type: 'object' } } }),
      (e: Error) => e instanceof UnsupportedCapabilityError && /backend local:tiny does not support constrainedJsonSchema/.test(e.message));
    const h = http({ echoLogprobs: false });
    assert.equal(h.capabilities.vectorInjection, false);
    assert.equal(local.capabilities.vectorInjection, true);
    await assert.rejects(h.scoreContinuations('a', ['b']), /openai:tiny@http.*echoLogprobs: false/);
  });

  test('GBNF of choices escapes quotes, backslashes and newlines', { timeout: 5000 }, () => {
    assert.equal(choicesGrammar(['a "b"', 'c\\d\ne', 'a "b"']), 'root ::= "a \\"b\\"" | "c\\\\d\\ne"\n');
  });
});

describe('local backend', () => {
  test('greedy generation is deterministic, stops at stop strings, counts tokens', { timeout: 120_000 }, async () => {
    const a = await local.generate(prompts[0], { maxTokens: 8 });
    const b = await local.generate(prompts[0], { maxTokens: 8 });
    assert.equal(a.text, b.text);
    assert.ok(a.completionTokens >= 1 && a.completionTokens <= 8);
    assert.equal(a.promptTokens, tokenizer.encode(prompts[0]).length);
    const u = local.usage();
    assert.ok(u.requests >= 2 && u.promptTokens >= 2 * a.promptTokens);
    if (a.text.length > 2) {
      const stop = a.text.slice(1, 2);
      const c = await local.generate(prompts[0], { maxTokens: 8, stop: [stop] });
      assert.equal(c.text, a.text.slice(0, a.text.indexOf(stop)));
      assert.equal(c.finishReason, 'stop');
    }
  });

  test('choices: the answer is always one of them, also when sampling', { timeout: 120_000 }, async () => {
    for (const seed of [1, 2, 3]) {
      const g = await local.generate(prompts[1], { maxTokens: 40, temperature: 1.5, seed, constraint: { type: 'choices', choices: titles } });
      assert.ok(titles.includes(g.text), g.text);
    }
  });

  test('context exceeded and bad options are clear errors', { timeout: 10_000 }, async () => {
    const long = `${titles.join(' ')} `.repeat(30);
    await assert.rejects(local.generate(long, { maxTokens: 4 }), /backend local:tiny: prompt \(\d+ tokens\) \+ 4 more exceed the context length 128/);
    await assert.rejects(local.generate('x', { maxTokens: 0 }), /maxTokens must be a positive integer/);
    await assert.rejects(local.generate('x', { maxTokens: 2, topP: 2 }), /topP must be in \(0, 1\]/);
    await assert.rejects(local.scoreContinuations('x', ['']), /continuation 0 \(""\) has no tokens/);
  });
});

describe('OpenAI-compatible HTTP backend (loopback server)', () => {
  test('same continuation scores as in-process', { timeout: 120_000 }, async () => {
    const h = http();
    for (const p of prompts) {
      const want = await local.scoreContinuations(p, conts);
      const got = await h.scoreContinuations(p, conts);
      got.forEach((g, i) => {
        assert.equal(g.tokens, want[i].tokens, `tokens of continuation ${i}`);
        assert.ok(Math.abs(g.logProb - want[i].logProb) < SCORE_TOLERANCE, `${g.logProb} vs ${want[i].logProb}`);
      });
    }
    assert.ok(h.usage().promptTokens > 0);
  });

  test('generation through chat and completions equals in-process greedy; choices via response_format', { timeout: 120_000 }, async () => {
    const want = await local.generate(prompts[0], { maxTokens: 6 });
    const chat = await http().generate(prompts[0], { maxTokens: 6 });
    const comp = await http({ api: 'completions' }).generate(prompts[0], { maxTokens: 6 });
    assert.equal(chat.text, want.text);
    assert.equal(comp.text, want.text);
    assert.equal(chat.promptTokens, want.promptTokens);
    const c = await http().generate(prompts[1], { maxTokens: 40, constraint: { type: 'choices', choices: titles } });
    assert.ok(titles.includes(c.text));
  });

  test('token accounting sums the server usage', { timeout: 120_000 }, async () => {
    const h = http();
    const a = await h.generate(prompts[0], { maxTokens: 3 });
    const b = await h.generate(prompts[1], { maxTokens: 3 });
    assert.deepEqual(h.usage(), { requests: 2, promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens, cacheHits: 0 });
  });

  test('a server that is down: connection refused, named', { timeout: 120_000 }, async () => {
    const s = await listen({ counts: new Map(), flaky: 0 });
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    const h = new OpenAiBackend({ model: 'tiny', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 1, timeoutMs: 2000, env: {} });
    await assert.rejects(h.generate('hello', { maxTokens: 2 }), (e: Error) => e instanceof BackendError && /cannot connect to http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions \(ECONNREFUSED\); is the server running\?/.test(e.message));
  });

  test('a slow server times out', { timeout: 120_000 }, async () => {
    const h = http({ model: 'slow', timeoutMs: 300 });
    await assert.rejects(h.generate('hello', { maxTokens: 2 }), /backend openai:slow@.*: timed out after 300 ms/);
  });

  test('malformed JSON, no choices and refusals are clear errors', { timeout: 120_000 }, async () => {
    await assert.rejects(http({ model: 'malformed' }).generate('hello', { maxTokens: 2 }), /malformed or unreadable response from http:.*\/chat\/completions/);
    await assert.rejects(http({ model: 'nochoices', api: 'completions' }).generate('hello', { maxTokens: 2 }), /malformed response from \/completions: no choices/);
    await assert.rejects(http({ model: 'refuse' }).generate('hello', { maxTokens: 2 }),
      (e: Error) => e instanceof BackendError && e.status === 403 && /refused the request \(HTTP 403 .*\): .*not allowed for this key/.test(e.message));
  });

  test('5xx is retried with backoff, then answered', { timeout: 120_000 }, async () => {
    state.flaky = 0;
    const before = state.counts.get('/v1/chat/completions') ?? 0;
    const g = await http({ model: 'flaky', maxRetries: 3 }).generate(prompts[0], { maxTokens: 2 });
    assert.equal((state.counts.get('/v1/chat/completions') ?? 0) - before, 3);
    assert.ok(g.completionTokens >= 1);
    state.flaky = 0;
    await assert.rejects(http({ model: 'flaky', maxRetries: 1 }).generate(prompts[0], { maxTokens: 2 }), /HTTP 503/);
  });

  test('context exceeded: the server refusal is passed on', { timeout: 120_000 }, async () => {
    const long = `${titles.join(' ')} `.repeat(30);
    await assert.rejects(http().generate(long, { maxTokens: 4 }), (e: Error) => e instanceof BackendError && e.status === 400 && /maximum context length is 128 tokens/.test(e.message));
  });

  test('the cache answers the identical request only', { timeout: 120_000 }, async () => {
    const cacheDir = join(dir, 'cache');
    const h = http({ cacheDir });
    const count = () => state.counts.get('/v1/chat/completions') ?? 0;
    const n0 = count();
    const a = await h.generate(prompts[0], { maxTokens: 4 });
    const a2 = await h.generate(prompts[0], { maxTokens: 4 });
    assert.equal(count() - n0, 1);
    assert.equal(a2.text, a.text);
    assert.equal(a2.cached, true);
    // Any change of a parameter, the prompt or the model is a new request.
    await h.generate(prompts[0], { maxTokens: 5 });
    await h.generate(prompts[1], { maxTokens: 4 });
    await http({ cacheDir, model: 'tiny2' }).generate(prompts[0], { maxTokens: 4 });
    assert.equal(count() - n0, 4);
    // Sampling without a seed is not cached.
    await h.generate(prompts[0], { maxTokens: 4, temperature: 0.7 });
    await h.generate(prompts[0], { maxTokens: 4, temperature: 0.7 });
    assert.equal(count() - n0, 6);
    assert.equal(h.usage().cacheHits, 1);
    // An entry stored under another request's key (collision, tampering) is never served.
    const cache = new ResponseCache(cacheDir);
    const reqA = { baseURL: url, endpoint: 'chat', body: { model: 'tiny', q: 1 } };
    const reqB = { baseURL: url, endpoint: 'chat', body: { model: 'tiny', q: 2 } };
    cache.set(reqA, { answer: 'A' });
    assert.deepEqual(cache.get(reqA), { answer: 'A' });
    assert.equal(cache.get({ body: { q: 1, model: 'tiny' }, endpoint: 'chat', baseURL: url }) !== undefined, true, 'key order does not matter');
    const pathB = cache.path(cache.key(reqB));
    mkdirSync(join(pathB, '..'), { recursive: true });
    writeFileSync(pathB, JSON.stringify({ request: reqA, response: { answer: 'A' } }));
    assert.equal(cache.get(reqB), undefined);
    writeFileSync(pathB, '{ torn');
    assert.equal(cache.get(reqB), undefined);
    assert.notEqual(canonicalJson({ a: [1, { b: 2, c: 3 }] }), canonicalJson({ a: [1, { b: 2, c: 4 }] }));
    // No temp files are left behind (atomic writes).
    for (const d of readdirSync(cacheDir)) for (const f of readdirSync(join(cacheDir, d))) assert.match(f, /^[0-9a-f]{64}\.json$/);
  });

  test('concurrency limit keeps requests in flight bounded', { timeout: 120_000 }, async () => {
    const h = http({ concurrency: 1 });
    const outs = await Promise.all([0, 1, 2].map((i) => h.generate(prompts[i % 2], { maxTokens: 2 })));
    assert.equal(outs.length, 3);
    assert.equal(h.usage().requests, 3);
  });
});

describe('GGUF backend (node-llama-cpp)', { skip: skipGguf }, () => {
  let g: GgufBackend;
  before(async () => { g = (await createBackend({ kind: 'gguf', path: ggufPath, contextSize: CONTEXT })) as GgufBackend; });
  after(() => g.dispose());

  test('same continuation scores as in-process and over HTTP', { timeout: 240_000 }, async () => {
    const h = http();
    for (const p of prompts) {
      const want = await local.scoreContinuations(p, conts);
      const got = await g.scoreContinuations(p, conts);
      const viaHttp = await h.scoreContinuations(p, conts);
      got.forEach((s, i) => {
        assert.equal(s.tokens, want[i].tokens);
        assert.ok(Math.abs(s.logProb - want[i].logProb) < SCORE_TOLERANCE, `gguf ${s.logProb} vs local ${want[i].logProb}`);
        assert.ok(Math.abs(s.logProb - viaHttp[i].logProb) < SCORE_TOLERANCE, `gguf ${s.logProb} vs http ${viaHttp[i].logProb}`);
      });
    }
    const f = await g.tokenizerFacts();
    assert.equal(f.vocabSize, tokenizer.vocabSize);
    assert.equal(f.contextLength, CONTEXT);
    assert.equal(await g.countTokens(titles[0]), await local.countTokens(titles[0]));
  });

  test('greedy generation matches in-process; grammar of choices; JSON schema', { timeout: 240_000 }, async () => {
    const want = await local.generate(prompts[0], { maxTokens: 6 });
    const got = await g.generate(prompts[0], { maxTokens: 6 });
    assert.equal(got.text, want.text);
    for (const seed of [1]) {
      const c = await g.generate(prompts[1], { maxTokens: 40, temperature: 1.5, seed, constraint: { type: 'choices', choices: titles } });
      assert.ok(titles.includes(c.text), c.text);
    }
    const schema = { type: 'object', properties: { rank: { type: 'array', items: { type: 'integer' }, maxItems: 3 } }, required: ['rank'], additionalProperties: false };
    const j = await g.generate(prompts[1], { maxTokens: 30, constraint: { type: 'json_schema', schema } });
    if (j.finishReason === 'stop') assert.ok(Array.isArray((JSON.parse(j.text) as { rank: unknown }).rank));
    assert.ok(g.usage().requests >= 3);
  });

  test('context exceeded and missing files are clear errors', { timeout: 120_000 }, async () => {
    const long = `${titles.join(' ')} `.repeat(30);
    await assert.rejects(g.generate(long, { maxTokens: 4 }), /backend gguf:.*tiny\.gguf: prompt \(\d+ tokens\) \+ 4 more exceed the context size 128/);
    await assert.rejects(createBackend({ kind: 'gguf', path: join(dir, 'none.gguf') }), /backend gguf:.*none\.gguf: loadGguf: .* does not exist/);
  });
});
