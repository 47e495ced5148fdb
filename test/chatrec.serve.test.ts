/**
 * POST /v1/chat (src/serve/routes/chat.ts): Chat-Rec over a served run and
 * LM, end to end through HTTP; bad bodies, unknown users and models, no LM,
 * and the demo page.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type LlmrecServer } from '../src/serve/server.js';
import { writeLm, writeRun } from './serve.fixture.js';

let dir: string;
let server: LlmrecServer;
let noLm: LlmrecServer;
let base: string;
let baseNoLm: string;
let userId: string;

async function post(b: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(b + '/v1/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() as Record<string, unknown> };
}

describe('POST /v1/chat', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmrec-chat-'));
    const data = await writeRun(join(dir, 'run'));
    userId = data.userIds[2];
    writeLm(join(dir, 'lm'), data);
    server = await createServer({ run: join(dir, 'run'), lm: join(dir, 'lm'), port: 0, log: () => {} });
    base = await server.listen();
    noLm = await createServer({ run: join(dir, 'run'), port: 0, log: () => {} });
    baseNoLm = await noLm.listen();
  });
  after(async () => {
    await server?.close();
    await noLm?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a turn: tool call (or counted fallback), k items, re-rank, counts', { timeout: 120_000 }, async () => {
    const r = await post(base, { message: 'something for the kitchen', user: userId, k: 5, model: 'sasrec' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const j = r.json as { model: string; toolCall: { args: { k: number; user?: string }; problem?: string }; candidates: unknown[]; ranking: Array<{ id: string }>; counts: { turns: number; toolCallFallbacks: number }; rerank: { mode: string } };
    assert.equal(j.model, 'sasrec');
    assert.equal(j.counts.turns, 1);
    // A random tiny LM rarely writes a valid call: either way the answer has k items and the fallback is counted.
    if (j.toolCall.problem) assert.equal(j.counts.toolCallFallbacks, 1);
    assert.equal(j.candidates.length, j.toolCall.args.k);
    assert.equal(j.ranking.length, j.candidates.length);
    assert.equal(new Set(j.ranking.map((x) => x.id)).size, j.ranking.length);
    assert.equal(j.rerank.mode, 'score');
  });

  test('bad input: 400/404 with the field', { timeout: 60_000 }, async () => {
    let r = await post(base, { message: '' });
    assert.equal(r.status, 400);
    assert.match((r.json.error as { message: string }).message, /field 'message'/);
    r = await post(base, { message: 'x', k: 51 });
    assert.equal(r.status, 400);
    assert.match((r.json.error as { message: string }).message, /field 'k'/);
    r = await post(base, { message: 'x', extra: 1 });
    assert.equal(r.status, 400);
    r = await post(base, { message: 'x', user: 'nobody' });
    assert.equal(r.status, 404);
    assert.equal((r.json.error as { code: string }).code, 'unknown_user');
    r = await post(base, { message: 'x', model: 'nope' });
    assert.equal(r.status, 404);
    r = await post(baseNoLm, { message: 'x' });
    assert.equal(r.status, 404);
    assert.equal((r.json.error as { code: string }).code, 'no_lm');
  });

  test('the demo page', { timeout: 30_000 }, async () => {
    const h = await fetch(base + '/demo/chat.html');
    assert.equal(h.status, 200);
    assert.match(await h.text(), /src="\/demo\/chat.js"/);
    const js = await fetch(base + '/demo/chat.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
  });
});
