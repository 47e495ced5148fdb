/**
 * Hostile and malformed input to `llmrec serve` (docs/SERVING.md, "Limits"):
 * every request below gets a 4xx with a JSON error whose `param` names the
 * field (unknown user or item, k out of range, wrong types, huge arrays, deep
 * JSON, invalid UTF-8, wrong content type, oversized bodies, bad query and
 * path parameters, slow clients). None crashes or stalls the server: a normal
 * request succeeds afterwards, and while a slow client holds a connection.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SplitDataset } from '../src/data/types.js';
import { createServer, type LlmrecServer } from '../src/serve/server.js';
import { writeLm, writeRun } from './serve.fixture.js';

let dir: string;
let data: SplitDataset;
let server: LlmrecServer;
let base: string;

interface Case {
  name: string;
  method?: string;
  path: string;
  /** JSON-encoded unless `raw` is given. */
  body?: unknown;
  raw?: Uint8Array | string;
  contentType?: string | null;
  status: number;
  /** The field the error must name (error.param). */
  param: string;
}

describe('llmrec serve: bad input', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmrec-serve-bad-'));
    data = await writeRun(join(dir, 'run'), [{ label: 'sasrec', name: 'sasrec', config: { d: 8, blocks: 1, heads: 1 } }, { label: 'bprmf', name: 'bprmf', config: { d: 8 } }]);
    writeLm(join(dir, 'lm'), data);
    server = await createServer({ run: join(dir, 'run'), lm: join(dir, 'lm'), port: 0, receiveTimeoutMs: 1000, log: () => {} });
    base = await server.listen();
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('at least 30 malformed requests: 4xx naming the field, then a normal request succeeds', async () => {
    const item = data.itemIds[1];
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const cases: Case[] = [
      { name: 'k = 0', path: '/v1/recommend', body: { history: [item], k: 0 }, status: 400, param: 'k' },
      { name: 'k too large', path: '/v1/recommend', body: { history: [item], k: 101 }, status: 400, param: 'k' },
      { name: 'k as string', path: '/v1/recommend', body: { history: [item], k: '10' }, status: 400, param: 'k' },
      { name: 'k fractional', path: '/v1/recommend', body: { history: [item], k: 1.5 }, status: 400, param: 'k' },
      { name: 'k huge', path: '/v1/recommend', body: { history: [item], k: 1e308 }, status: 400, param: 'k' },
      { name: 'unknown user', path: '/v1/recommend', body: { user: 'no-such-user' }, status: 404, param: 'user' },
      { name: 'unknown history item', path: '/v1/recommend', body: { history: [item, 'no-such-item'] }, status: 404, param: 'history.1' },
      { name: 'user and history', path: '/v1/recommend', body: { user: data.userIds[0], history: [item] }, status: 400, param: 'user' },
      { name: 'neither user nor history', path: '/v1/recommend', body: { k: 5 }, status: 400, param: 'history' },
      { name: 'unknown model', path: '/v1/recommend', body: { model: 'gpt-9', history: [item] }, status: 404, param: 'model' },
      { name: 'history on a user-id model', path: '/v1/recommend', body: { model: 'bprmf', history: [item] }, status: 400, param: 'model' },
      { name: 'huge history array', path: '/v1/recommend', body: { history: Array(201).fill(item) }, status: 413, param: 'history' },
      { name: 'history element an object', path: '/v1/recommend', body: { history: [{ id: item }] }, status: 400, param: 'history.0' },
      { name: 'negative item id', path: '/v1/recommend', body: { history: [-3] }, status: 400, param: 'history.0' },
      { name: 'exclude not an array', path: '/v1/recommend', body: { history: [item], exclude: item }, status: 400, param: 'exclude' },
      { name: 'unknown exclude item', path: '/v1/recommend', body: { history: [item], exclude: ['zzz'] }, status: 404, param: 'exclude.0' },
      { name: 'excludeSeen as string', path: '/v1/recommend', body: { history: [item], excludeSeen: 'yes' }, status: 400, param: 'excludeSeen' },
      { name: 'empty candidates', path: '/v1/recommend', body: { history: [item], candidates: [] }, status: 400, param: 'candidates' },
      { name: 'unknown field', path: '/v1/recommend', body: { history: [item], colour: 'red' }, status: 400, param: 'colour' },
      { name: '__proto__ key', path: '/v1/recommend', raw: `{"history":["${item}"],"__proto__":{"polluted":1}}`, status: 400, param: '__proto__' },
      { name: 'body an array', path: '/v1/recommend', body: [1, 2], status: 400, param: 'body' },
      { name: 'body a string', path: '/v1/recommend', body: 'recommend please', status: 400, param: 'body' },
      { name: 'string too long', path: '/v1/recommend', body: { history: ['x'.repeat(600)] }, status: 400, param: 'history.0' },
      { name: 'truncated JSON', path: '/v1/recommend', raw: '{"history": [', status: 400, param: 'body' },
      { name: 'deeply nested JSON', path: '/v1/recommend', raw: deep, status: 400, param: 'body' },
      { name: 'invalid UTF-8', path: '/v1/recommend', raw: Uint8Array.from([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), status: 400, param: 'body' },
      { name: 'text/plain body', path: '/v1/recommend', raw: 'k=10', contentType: 'text/plain', status: 415, param: 'content-type' },
      { name: 'form body', path: '/v1/recommend', raw: 'k=10', contentType: 'application/x-www-form-urlencoded', status: 415, param: 'content-type' },
      { name: 'oversized body', path: '/v1/recommend', raw: JSON.stringify({ history: [item], pad: 'x'.repeat(300 * 1024) }), status: 413, param: 'body' },
      { name: 'items limit 0', method: 'GET', path: '/v1/items?q=a&limit=0', status: 400, param: 'limit' },
      { name: 'items limit not a number', method: 'GET', path: '/v1/items?limit=lots', status: 400, param: 'limit' },
      { name: 'items query too long', method: 'GET', path: `/v1/items?q=${'a'.repeat(300)}`, status: 400, param: 'q' },
      { name: 'items unknown query parameter', method: 'GET', path: '/v1/items?q=a&sort=desc', status: 400, param: 'sort' },
      { name: 'unknown item id', method: 'GET', path: '/v1/items/not-an-item', status: 404, param: 'id' },
      { name: 'similar k too large', method: 'GET', path: `/v1/items/${item}/similar?k=5000`, status: 400, param: 'k' },
      { name: 'similar unknown model', method: 'GET', path: `/v1/items/${item}/similar?model=nope`, status: 404, param: 'model' },
      { name: 'users negative offset', method: 'GET', path: '/v1/users?offset=-1', status: 400, param: 'offset' },
      { name: 'rerank too many candidates', path: '/v1/rerank', body: { history: [item], candidates: data.itemIds.slice(1, 52) }, status: 413, param: 'candidates' },
      { name: 'rerank duplicate candidates', path: '/v1/rerank', body: { history: [item], candidates: [item, item] }, status: 400, param: 'candidates' },
      { name: 'rerank unknown template', path: '/v1/rerank', body: { history: [item], candidates: [item], template: 'nope' }, status: 400, param: 'template' },
      { name: 'rerank unknown LM', path: '/v1/rerank', body: { model: 'llama-70b', candidates: [item] }, status: 404, param: 'model' },
      { name: 'completions without prompt', path: '/v1/completions', body: { max_tokens: 5 }, status: 400, param: 'prompt' },
      { name: 'completions max_tokens 0', path: '/v1/completions', body: { prompt: 'a', max_tokens: 0 }, status: 400, param: 'max_tokens' },
      { name: 'completions temperature 5', path: '/v1/completions', body: { prompt: 'a', temperature: 5 }, status: 400, param: 'temperature' },
      { name: 'completions n = 2', path: '/v1/completions', body: { prompt: 'a', n: 2 }, status: 400, param: 'n' },
      { name: 'completions logprobs 20', path: '/v1/completions', body: { prompt: 'a', logprobs: 20 }, status: 400, param: 'logprobs' },
      { name: 'completions context too long', path: '/v1/completions', body: { prompt: 'Yes No '.repeat(1000), max_tokens: 512 }, status: 400, param: 'max_tokens' },
      { name: 'chat without messages', path: '/v1/chat/completions', body: { messages: [] }, status: 400, param: 'messages' },
      { name: 'chat unknown role', path: '/v1/chat/completions', body: { messages: [{ role: 'robot', content: 'hi' }] }, status: 400, param: 'messages.0.role' },
      { name: 'chat content a number', path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 42 }] }, status: 400, param: 'messages.0.content' },
      { name: 'unknown route', method: 'GET', path: '/v2/everything', status: 404, param: 'path' },
      { name: 'wrong method', method: 'DELETE', path: '/v1/recommend', status: 404, param: 'path' },
    ];
    assert.ok(cases.length >= 30);
    for (const c of cases) {
      const method = c.method ?? 'POST';
      const init: RequestInit = { method };
      if (method === 'POST') {
        init.headers = c.contentType === null ? {} : { 'content-type': c.contentType ?? 'application/json' };
        init.body = c.raw !== undefined ? c.raw : JSON.stringify(c.body);
      }
      const r = await fetch(base + c.path, init);
      const text = await r.text();
      let err: { message?: string; param?: string | null } | undefined;
      try { err = (JSON.parse(text) as { error?: typeof err }).error; } catch { /* checked below */ }
      assert.ok(err && typeof err.message === 'string', `${c.name}: not a JSON error: ${text.slice(0, 200)}`);
      assert.equal(r.status, c.status, `${c.name}: status ${r.status}, ${err.message}`);
      assert.equal(err.param, c.param, `${c.name}: param ${err.param} (${err.message})`);
    }
    const ok = await fetch(`${base}/v1/recommend`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sasrec', history: [item], k: 5 }) });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { items: unknown[] }).items.length, 5);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  test('a slow client is cut off and does not stall other requests', async () => {
    const url = new URL(base);
    const sock = connect(Number(url.port), url.hostname);
    let received = '';
    sock.on('data', (d: Buffer) => { received += d.toString(); });
    const closed = new Promise<number>((res) => sock.on('close', () => res(performance.now())));
    sock.on('error', () => {});
    const t0 = performance.now();
    sock.write('POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"hist');
    // Meanwhile the server answers others.
    const r = await fetch(`${base}/v1/recommend`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: data.userIds[0], k: 3 }) });
    assert.equal(r.status, 200);
    const t1 = await closed;
    assert.ok(t1 - t0 < 8000, `slow client held the connection for ${t1 - t0} ms`);
    assert.ok(received === '' || /^HTTP\/1\.1 408/.test(received), received.slice(0, 100));
    // A client that sends headers one byte at a time never finishes them either.
    const s2 = connect(Number(url.port), url.hostname);
    s2.on('error', () => {});
    const closed2 = new Promise<void>((res) => s2.on('close', () => res()));
    const head = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ';
    let i = 0;
    const drip = setInterval(() => { if (!s2.destroyed) s2.write(head[i++ % head.length]); }, 200);
    await closed2;
    clearInterval(drip);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });
});
