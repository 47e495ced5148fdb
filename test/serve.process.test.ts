/**
 * The `llmrec serve` process (src/serve/main.ts, docs/SERVING.md): option
 * parsing; a real child process that answers on 127.0.0.1, reloads on SIGHUP
 * while serving, and on SIGTERM lets an in-flight request finish before it
 * exits with status 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { parseServeArgs, UsageError } from '../src/serve/main.js';
import { missingServeFlags, SERVE_NODE_FLAGS_DEFAULT } from '../src/serve/node_flags.js';
import { writeLm, writeRun } from './serve.fixture.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('llmrec serve: process', () => {
  let dir: string;
  let item: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmrec-serve-proc-'));
    const data = await writeRun(join(dir, 'run'), [{ label: 'sasrec', name: 'sasrec', config: { d: 8, blocks: 1, heads: 1 } }]);
    writeLm(join(dir, 'lm'), data);
    item = data.itemIds[1];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('options', () => {
    assert.deepEqual(parseServeArgs(['--run', 'r', '--lm=l', '--port', '9000', '--host', '0.0.0.0', '--max-queue', '5'], {}),
      { run: 'r', lm: 'l', port: 9000, host: '0.0.0.0', maxQueue: 5 });
    assert.equal(parseServeArgs(['--run', 'r'], { LLMREC_SERVE_TOKEN: 'from-the-env' }).token, 'from-the-env');
    assert.throws(() => parseServeArgs([], {}), (e: Error) => e instanceof UsageError && /--run RUN_DIR is required/.test(e.message));
    assert.throws(() => parseServeArgs(['--run', 'r', '--port', '70000'], {}), /--port: expected an integer in \[0, 65535\]/);
    assert.throws(() => parseServeArgs(['--run', 'r', '--colour'], {}), /unknown option '--colour'/);
    assert.throws(() => parseServeArgs(['--run'], {}), /--run: missing value/);
  });

  test('serving Node flags: added unless given on the command line, in NODE_OPTIONS or by LLMREC_SERVE_NODE_FLAGS', () => {
    assert.deepEqual(missingServeFlags([], {}), SERVE_NODE_FLAGS_DEFAULT);
    assert.deepEqual(missingServeFlags(['--import', 'tsx'], {}), ['--max-semi-space-size=64']);
    assert.deepEqual(missingServeFlags(['--max-semi-space-size=32'], {}), []);
    assert.deepEqual(missingServeFlags(['--max_semi_space_size=32'], {}), []);
    assert.deepEqual(missingServeFlags([], { NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=16' }), []);
    assert.deepEqual(missingServeFlags([], { LLMREC_SERVE_NODE_FLAGS: '' }), []);
    assert.deepEqual(missingServeFlags(['--max-old-space-size=4096'], { LLMREC_SERVE_NODE_FLAGS: '--max-old-space-size=8192 --max-semi-space-size=8' }), ['--max-semi-space-size=8']);
    assert.deepEqual(missingServeFlags([], { LLMREC_RELAUNCHED: '1' }), [], 'a relaunched process never relaunches');
    assert.throws(() => missingServeFlags([], { LLMREC_SERVE_NODE_FLAGS: 'rm -rf' }), /LLMREC_SERVE_NODE_FLAGS: 'rm' is not a Node flag/);
  });

  /** `llmrec serve` as the CLI starts it, in its own process group; resolves once it listens. */
  const startServe = async (withLm: boolean) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'serve', 'main.ts'), '--run', join(dir, 'run'), ...(withLm ? ['--lm', join(dir, 'lm')] : []), '--port', '0'], {
      cwd: root, env: { ...process.env, LLMREC_BLAS_THREADS: '1' }, stdio: ['ignore', 'ignore', 'pipe'], detached: true,
    });
    const out = { log: '' };
    child.stderr!.on('data', (d: Buffer) => { out.log += d.toString(); });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const base = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no listening line in time:\n${out.log}`)), 120_000);
      const check = () => {
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out.log);
        if (m) { clearTimeout(t); res(m[1]); } else setTimeout(check, 100);
      };
      check();
    });
    return { child, out, exited, base };
  };

  test('a Ctrl-C (SIGINT to the whole process group) reaches the server once: graceful exit 0', async () => {
    const { child, out, exited, base } = await startServe(false);
    try {
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      process.kill(-child.pid!, 'SIGINT');
      assert.equal(await exited, 0, out.log);
      assert.equal((out.log.match(/SIGINT: finishing in-flight requests/g) ?? []).length, 1, out.log);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('the server stops when the process that started it is killed', async () => {
    const { child, base } = await startServe(false);
    child.kill('SIGKILL');
    const deadline = Date.now() + 60_000;
    let up = true;
    while (up && Date.now() < deadline) {
      up = await fetch(`${base}/healthz`).then(() => true, () => false);
      if (up) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(up, false, 'the server still answers after its starting process was killed');
  });

  test('SIGHUP reloads while serving; SIGTERM finishes the in-flight request, then exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'serve', 'main.ts'), '--run', join(dir, 'run'), '--lm', join(dir, 'lm'), '--port', '0'], {
      cwd: root, env: { ...process.env, LLMREC_BLAS_THREADS: '1' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    try {
      const base = await new Promise<string>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`no listening line in time:\n${log}`)), 120_000);
        const check = () => {
          const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
          if (m) { clearTimeout(t); res(m[1]); } else setTimeout(check, 100);
        };
        check();
      });
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      // Started once more with the serving Node flags (the signals below go to the first process and are passed on).
      assert.match(log, /llmrec serve: node --max-semi-space-size=64/);
      const before = ((await (await fetch(`${base}/v1/models`)).json()) as { loadedAt: string }).loadedAt;
      child.kill('SIGHUP');
      const deadline = Date.now() + 60_000;
      while (!/reloaded/.test(log) && Date.now() < deadline) {
        const r = await fetch(`${base}/v1/recommend`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ history: [item], k: 3 }) });
        assert.equal(r.status, 200);
        await new Promise((res) => setTimeout(res, 20));
      }
      assert.match(log, /reloaded/);
      assert.notEqual(((await (await fetch(`${base}/v1/models`)).json()) as { loadedAt: string }).loadedAt, before);
      // A long generation in flight, then SIGTERM.
      const slow = fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Answer:', max_tokens: 300, temperature: 1, seed: 2 }) });
      await new Promise((res) => setTimeout(res, 150));
      child.kill('SIGTERM');
      const r = await slow;
      assert.equal(r.status, 200);
      assert.ok(((await r.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens > 0);
      assert.equal(await exited, 0);
      assert.match(log, /SIGTERM: finishing in-flight requests/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
