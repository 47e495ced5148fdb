/**
 * Relaunching a command with start-time settings (src/util/relaunch.ts,
 * docs/PERF.md "Fresh memory", docs/SERVING.md "The serving Node flags"):
 * the child's exit status and fatal signal are the first process's, signals
 * are passed on once, the child stops when its starter dies, and the CLI on
 * the pure-wasm path runs with glibc's allocator settings.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { MALLOC_POLICY, mallocEnv } from '../src/engine/native.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const linux = process.platform === 'linux';

describe('relaunch', () => {
  let dir: string;
  let script: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmrec-relaunch-'));
    script = join(dir, 'child.mts');
    // First process: relaunch with an env variable. Child: act as argv[2] says.
    writeFileSync(script, `import { isRelaunched, relaunch, watchStarter } from ${JSON.stringify(join(root, 'src', 'util', 'relaunch.ts'))};
if (!isRelaunched()) await relaunch([], { RELAUNCH_PROBE: 'yes' });
watchStarter();
const how = process.argv[2];
// 'wait' installs its handlers before the line the test waits for: a signal sent right after
// the line must not meet the default action (the test was flaky under load).
if (how === 'wait') {
  let n = 0;
  process.on('SIGINT', () => { n++; console.log('SIGINT', n); setTimeout(() => process.exit(n === 1 ? 0 : 5), 300); });
  process.on('SIGTERM', () => { console.log('SIGTERM'); process.exit(0); });
  setInterval(() => {}, 1000);
}
console.log('child', process.env.RELAUNCH_PROBE, process.pid);
if (how === 'exit') process.exit(7);
if (how === 'kill') process.kill(process.pid, 'SIGKILL');
`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (how: string) => spawn(process.execPath, ['--import', 'tsx', script, how], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const ended = (p: ReturnType<typeof run>) => new Promise<{ code: number | null; signal: string | null; out: string }>((res) => {
    let out = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('exit', (code, signal) => res({ code, signal, out }));
  });
  const printed = async (p: ReturnType<typeof run>, re: RegExp) => {
    let out = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    const t0 = Date.now();
    while (!re.test(out)) {
      if (Date.now() - t0 > 60_000) throw new Error(`no ${re} in time: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return out;
  };

  test('the child gets the settings; its exit status and its fatal signal are the first process\'s', async () => {
    const a = await ended(run('exit'));
    assert.match(a.out, /child yes/);
    assert.equal(a.code, 7);
    const b = await ended(run('kill'));
    assert.equal(b.signal, 'SIGKILL', JSON.stringify(b));
  });

  test('a Ctrl-C to the first process group reaches the child once; SIGTERM is passed on', async () => {
    const p = run('wait');
    const e = ended(p);
    await printed(p, /child yes/);
    process.kill(-p.pid!, 'SIGINT');
    const r = await e;
    assert.equal(r.code, 0, r.out);
    assert.equal((r.out.match(/SIGINT/g) ?? []).length, 1, r.out);
    const q = run('wait');
    const eq = ended(q);
    await printed(q, /child yes/);
    q.kill('SIGTERM');
    const rq = await eq;
    assert.equal(rq.code, 0);
    assert.match(rq.out, /SIGTERM/);
  });

  test('the child stops when its starter is killed', { skip: linux ? false : 'Linux /proc' }, async () => {
    const p = run('wait');
    const out = await printed(p, /child yes \d+/);
    const child = Number(/child yes (\d+)/.exec(out)![1]);
    p.kill('SIGKILL');
    const t0 = Date.now();
    let alive = true;
    while (alive && Date.now() - t0 < 30_000) {
      try { process.kill(child, 0); await new Promise((r) => setTimeout(r, 50)); } catch { alive = false; }
    }
    assert.equal(alive, false, 'the relaunched child outlived its starter');
  });
});

describe('the CLI on the pure-wasm path', { skip: linux ? false : 'glibc settings' }, () => {
  test('runs with glibc\'s allocator settings, unless LLMREC_MALLOC_TUNE=0', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, LLMREC_NATIVE: 'off', LLMREC_BLAS_THREADS: '1' };
    delete env.MALLOC_MMAP_THRESHOLD_; delete env.MALLOC_TRIM_THRESHOLD_; delete env.MALLOC_TOP_PAD_; delete env.GLIBC_TUNABLES; delete env.LLMREC_MALLOC_TUNE;
    assert.deepEqual(mallocEnv(env), { MALLOC_MMAP_THRESHOLD_: String(MALLOC_POLICY.mmapThreshold), MALLOC_TRIM_THRESHOLD_: String(MALLOC_POLICY.trimThreshold), MALLOC_TOP_PAD_: String(MALLOC_POLICY.topPad) });
    const doctor = (e: NodeJS.ProcessEnv) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), 'doctor'], { cwd: root, env: e, encoding: 'utf8', timeout: 120_000 });
    const on = doctor(env);
    assert.equal(on.status, 0, on.stderr);
    assert.match(on.stdout, new RegExp(`allocator +from the environment: MALLOC_MMAP_THRESHOLD_=${MALLOC_POLICY.mmapThreshold}`));
    const off = doctor({ ...env, LLMREC_MALLOC_TUNE: '0' });
    assert.match(off.stdout, /allocator +as is/);
    assert.deepEqual(mallocEnv({ ...env, LLMREC_MALLOC_TUNE: '0' }), {});
  });
});
