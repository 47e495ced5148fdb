/**
 * Hostile input to run directories, flags and config files (issue 15;
 * docs/HOSTILE.md, "Run directories" and "Flags and config files"): safe
 * names for every path component from the user, the run lock, resume checks
 * before any write, cleanup of killed writes, damaged files named in errors,
 * and the numeric / name rules of the config schemas.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  acquireRunLock, checkSafeName, cleanStaleTemps, LOCK_FILE, openRunDir, readJson, readLock, RUN_FILE, runPath, safeName, sanitizeName, UnsafeNameError, unsafeNameReason,
} from '../src/run/index.js';
import { ConfigError, jsonErrorLocation, readConfigFile } from '../src/config/layers.js';
import { checkFullRankingKs, modelSpecs, parseRunConfig } from '../src/config/run.js';
import { parseSmallLmOptions } from '../src/config/small_lm.js';
import { parseRecSysOptions } from '../src/config/recsysllm.js';
import { parseGanPromptOptions } from '../src/config/ganprompt.js';
import { resolveMethodConfig } from '../src/config/method.js';
import { runProgress, unfinishedNote } from '../src/eval/report.js';
import { killPoint } from '../src/io/files.js';
import { CHECKPOINT_DIR, CHECKPOINT_FILES, loadCheckpoint } from '../src/train/checkpoint.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'llmrec-hostile-'));

/** relative path -> sha256 + mtime of every file under `dir`. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p.slice(dir.length)] = `${createHash('sha256').update(readFileSync(p)).digest('hex')}@${statSync(p).mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

/** A pid that is certainly dead: a child that has exited. */
function deadPid(): Promise<number> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['-e', '0']);
    p.on('close', () => res(p.pid!));
  });
}

describe('safe names', () => {
  const bad: Array<[string, RegExp]> = [
    ['../x', /path separator/], ['/etc/passwd', /path separator/], ['a/b', /path separator/], ['a\\b', /path separator/],
    ['a\u0000b', /NUL/], ['', /empty/], ['.', /names a folder/], ['..', /names a folder/], ['x'.repeat(129), /129 characters/],
    ['CON', /reserved/], ['nul.txt', /reserved/], ['com1', /reserved/], ['.hidden', /starts with '\.'/], ['-rf', /starts with '-'/],
    ['trail.', /ends with/], ['a b', /contains " "/], ['caf\u00e9', /contains/], ['a:b', /contains ":"/],
  ];
  for (const [name, why] of bad) {
    it(`refuses ${JSON.stringify(name).slice(0, 30)}`, () => {
      assert.match(unsafeNameReason(name) ?? '', why);
      assert.throws(() => checkSafeName(name, '--name'), (e: unknown) => e instanceof UnsafeNameError && e.message.startsWith('--name ') && e.field === '--name');
    });
  }
  it('accepts ordinary names', () => {
    for (const n of ['sasrec', 'sasrec-h64', 'run_2026-12-03T19-00-00-000Z', 'a.b', 'bpr+mf', 'x'.repeat(128), 'CONSOLE', 'e=mc2@home']) assert.equal(unsafeNameReason(n), null, n);
  });
  it('runPath joins checked parts and never leaves the root', () => {
    assert.equal(runPath('/r', ['models', 'f'], ['sasrec', 'label']), '/r/models/sasrec');
    assert.throws(() => runPath('/r', ['models', 'f'], ['..', 'model label']), /model label "\.\." is not a safe name/);
  });
  it('sanitizeName (default run names from dataset paths) always gives a safe name', () => {
    for (const n of ['..', '.', '', '/data/amazon/beauty.json.gz', 'con', '-x', '\u0000', 'x'.repeat(500), 'a..', '...']) {
      const s = sanitizeName(n);
      assert.equal(unsafeNameReason(s), null, `${JSON.stringify(n)} -> ${JSON.stringify(s)}`);
      assert.equal(safeName(n), s);
    }
  });
  it('config: output.name and model labels must be safe names, model names known', () => {
    assert.throws(() => parseRunConfig({ output: { name: '../escape' } }, 'f.json'), /field 'output\.name': "\.\.\/escape" is not a safe name/);
    assert.throws(() => parseRunConfig({ models: [{ name: 'pop', label: '../../evil' }] }, 'f.json'), /field 'models\.0\.label'/);
    assert.throws(() => parseRunConfig({ models: ['pop', 'bogus'] }, 'f.json'), /unknown model 'bogus' \(known: /);
    assert.throws(() => parseRecSysOptions({ baselines: { models: ['bogus'] } }), /field 'baselines\.models\.0': unknown model 'bogus'/);
    assert.throws(() => parseGanPromptOptions({ collab: { model: 'bogus' } }), /field 'collab\.model': unknown model 'bogus'/);
    const specs = modelSpecs(parseRunConfig({ models: ['pop', { name: 'bprmf', label: 'bpr-lr5' }] }, 'f.json'));
    assert.deepEqual(specs.map((s) => s.label), ['pop', 'bpr-lr5']);
  });
});

describe('run lock', () => {
  it('a live lock of another process is an error naming it; nothing is written', () => {
    const dir = tmp();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, host: hostname(), started: '2026-12-03T00:00:00.000Z', command: 'train --name x' }));
    const before = snapshot(dir);
    assert.throws(() => openRunDir(dir, { a: 1 }, { resume: false, log: () => {} }), new RegExp(`in use by pid ${process.ppid} on host ${hostname()}, started 2026-12-03T00:00:00.000Z \\(train --name x\\)`));
    assert.deepEqual(snapshot(dir), before);
  });
  it('a lock of another host is never taken over', () => {
    const dir = tmp();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', started: '2026-12-03T00:00:00.000Z' }));
    assert.throws(() => acquireRunLock(dir, () => {}), /another host/);
  });
  it('a stale lock of a dead pid is taken over with a message, and released', async () => {
    const dir = tmp();
    const pid = await deadPid();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), started: '2026-12-03T00:00:00.000Z', command: 'killed run' }));
    const logs: string[] = [];
    const lock = acquireRunLock(dir, (s) => logs.push(s));
    assert.equal(lock.tookOver?.pid, pid);
    assert.match(logs.join('\n'), new RegExp(`took over the stale lock of pid ${pid}`));
    assert.equal(readLock(dir)?.pid, process.pid);
    lock.release();
    assert.equal(existsSync(join(dir, LOCK_FILE)), false);
  });
  it('a damaged lock file is an error naming it', () => {
    const dir = tmp();
    writeFileSync(join(dir, LOCK_FILE), '{"pid": 12');
    assert.throws(() => acquireRunLock(dir, () => {}), new RegExp(`${join(dir, LOCK_FILE).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a run lock`));
  });
  it('is released on SIGTERM and on an error exit of the process', async () => {
    for (const how of ['SIGTERM', 'throw']) {
      const dir = tmp();
      const code = `import { openRunDir } from ${JSON.stringify(join(import.meta.dirname, '..', 'src', 'run', 'index.ts'))};
        openRunDir(${JSON.stringify(dir)}, { a: 1 }, { resume: false });
        console.log('locked');
        ${how === 'throw' ? "setTimeout(() => { throw new Error('boom'); }, 10);" : 'setInterval(() => {}, 1000);'}`;
      const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
      await new Promise<void>((res) => p.stdout.on('data', (d: Buffer) => { if (d.toString().includes('locked')) res(); }));
      assert.equal(existsSync(join(dir, LOCK_FILE)), how === 'SIGTERM' || existsSync(join(dir, LOCK_FILE)));
      if (how === 'SIGTERM') p.kill('SIGTERM');
      const status = await new Promise<number | null>((res) => p.on('close', (c) => res(c)));
      assert.equal(status, how === 'SIGTERM' ? 143 : 1);
      assert.equal(existsSync(join(dir, LOCK_FILE)), false, `${how}: run.lock left behind`);
    }
  });
});

describe('resume checks before any write', () => {
  it('different options: refused naming the field; no file touched (options file included)', () => {
    const dir = tmp();
    openRunDir(dir, { lr: 1, eval: { users: 5 } }, { resume: false, data: { name: 'shop', fingerprint: 'a'.repeat(64) } });
    const before = snapshot(dir);
    assert.throws(() => openRunDir(dir, { lr: 2, eval: { users: 5 } }, { resume: true, mutable: ['eval'], data: { name: 'shop', fingerprint: 'a'.repeat(64) } }), /field|lr: 1 in the run, 2 now/);
    assert.deepEqual(snapshot(dir), before);
    // Mutable keys may change.
    openRunDir(dir, { lr: 1, eval: { users: 9 } }, { resume: true, mutable: ['eval'], data: { name: 'shop', fingerprint: 'a'.repeat(64) } });
  });
  it('other data: refused naming both datasets; no file touched', () => {
    const dir = tmp();
    openRunDir(dir, { lr: 1 }, { resume: false, data: { name: 'synthetic-shop', fingerprint: 'a'.repeat(64) } });
    const before = snapshot(dir);
    assert.throws(() => openRunDir(dir, { lr: 1 }, { resume: true, data: { name: 'ml-100k', fingerprint: 'b'.repeat(64) } }),
      /made with dataset 'synthetic-shop' \(fingerprint aaaaaaaaaaaa\), this run loads dataset 'ml-100k' \(fingerprint bbbbbbbbbbbb\)/);
    assert.throws(() => openRunDir(dir, { lr: 1 }, { resume: true, data: { name: 'synthetic-shop', fingerprint: 'c'.repeat(64) } }), /a different version of dataset 'synthetic-shop'/);
    assert.deepEqual(snapshot(dir), before);
    assert.equal(readJson<{ data: { name: string } }>(join(dir, RUN_FILE)).data.name, 'synthetic-shop');
  });
  it('damaged files are errors naming the file', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'options.json'), '{"lr": 1, "ev');
    assert.throws(() => openRunDir(dir, { lr: 1 }, { resume: true }), new RegExp(`options\\.json: not valid JSON, truncated or damaged`));
    writeFileSync(join(dir, 'data.json'), '');
    assert.throws(() => readJson(join(dir, 'data.json')), /data\.json: the file is empty/);
    assert.throws(() => readJson(join(dir, 'nope.json')), /nope\.json: file not found/);
  });
  it('a truncated trainer_state.json is an error naming it', () => {
    const dir = tmp();
    mkdirSync(join(dir, CHECKPOINT_DIR));
    const state = join(dir, CHECKPOINT_DIR, CHECKPOINT_FILES.state);
    writeFileSync(state, '{"format": "llmrec-training-checkpoint", "vers');
    assert.throws(() => loadCheckpoint(dir, { trainer: 'collaborative', identity: {} }), (e: unknown) => (e as Error).message.startsWith(`${state}: unreadable JSON`));
    writeFileSync(state, '');
    assert.throws(() => loadCheckpoint(dir, { trainer: 'collaborative', identity: {} }), (e: unknown) => (e as Error).message.startsWith(`${state}: unreadable JSON`));
  });
});

describe('temp files of killed writes', () => {
  it('are removed when their process is dead, counted; live ones, this process and surviving .old folders are kept', async () => {
    const dir = tmp();
    const dead = await deadPid();
    mkdirSync(join(dir, 'models', 'm', 'checkpoint'), { recursive: true });
    writeFileSync(join(dir, `metrics.json.tmp-${dead}-1700000000000`), '{"ro');
    mkdirSync(join(dir, 'models', 'm', `checkpoint.tmp-${dead}`));
    writeFileSync(join(dir, 'models', 'm', `checkpoint.tmp-${dead}`, 'model.safetensors'), 'x');
    mkdirSync(join(dir, 'models', 'm', `checkpoint.old-${dead}`)); // replaced: checkpoint/ exists
    mkdirSync(join(dir, 'models', 'n'), { recursive: true });
    mkdirSync(join(dir, 'models', 'n', `checkpoint.old-${dead}`)); // the surviving checkpoint: kept
    writeFileSync(join(dir, `report.json.tmp-${process.pid}-1`), 'mine');
    writeFileSync(join(dir, `live.json.tmp-${process.ppid}-1`), 'a live writer, newer than the lock');
    const old = join(dir, `reused.json.tmp-${process.ppid}-2`);
    writeFileSync(old, 'a live pid, but older than the lock: reused');
    utimesSync(old, new Date(1e12), new Date(1e12));
    const n = cleanStaleTemps(dir, Date.now() - 60_000);
    assert.equal(n, 4);
    assert.deepEqual(readdirSync(dir).sort(), ['live.json.tmp-' + process.ppid + '-1', 'models', `report.json.tmp-${process.pid}-1`].sort());
    assert.deepEqual(readdirSync(join(dir, 'models', 'm')), ['checkpoint']);
    assert.deepEqual(readdirSync(join(dir, 'models', 'n')), [`checkpoint.old-${dead}`]);
  });
  it('openRunDir reports how many it removed', async () => {
    const dir = tmp();
    writeFileSync(join(dir, `options.json.tmp-${await deadPid()}-1`), '{');
    const logs: string[] = [];
    openRunDir(dir, {}, { resume: false, log: (s) => logs.push(s) }).release();
    assert.match(logs.join('\n'), /removed 1 temp file of an interrupted write/);
  });
  it('killPoint is a no-op unless LLMREC_TEST_KILL_AT names the point', () => {
    const saved = process.env.LLMREC_TEST_KILL_AT;
    process.env.LLMREC_TEST_KILL_AT = 'some-other-point:1';
    try {
      killPoint('checkpoint-tmp');
      killPoint('checkpoint-tmp');
    } finally {
      if (saved === undefined) delete process.env.LLMREC_TEST_KILL_AT; else process.env.LLMREC_TEST_KILL_AT = saved;
    }
  });
});

describe('flags and config files', () => {
  it('a config file with a UTF-8 BOM is accepted', () => {
    const f = join(tmp(), 'bom.json');
    writeFileSync(f, '\uFEFF{"data": {"name": "synthetic-shop"}}');
    assert.deepEqual(readConfigFile(f), { data: { name: 'synthetic-shop' } });
  });
  it('a config file that is not JSON names file, line and column', () => {
    const f = join(tmp(), 'broken.json');
    writeFileSync(f, '{\n  "data": {\n    "name": "x",\n  }\n}\n');
    assert.throws(() => readConfigFile(f), (e: unknown) => e instanceof ConfigError && e.message.startsWith(`config file ${f}, line 4, column 3: not valid JSON`));
    writeFileSync(f, '{"a": ');
    assert.throws(() => readConfigFile(f), /, line 1, column 7: not valid JSON/);
    writeFileSync(f, '[1, 2]');
    assert.throws(() => readConfigFile(f), /top level must be a JSON object/);
    assert.deepEqual(jsonErrorLocation('ab\ncd', 'x at position 4'), { line: 2, column: 2 });
  });
  it('k above the candidate count is an error (sampled: 1 + negatives; full: items)', () => {
    assert.throws(() => parseRunConfig({ eval: { ks: [1, 50] } }, 'cmd'), /field 'eval\.ks\.1': k = 50 is above the number of candidates: the sampled protocol ranks 10 candidates .*allowed 1\.\.10/);
    assert.doesNotThrow(() => parseRunConfig({ eval: { ks: [10] } }, 'cmd'));
    assert.doesNotThrow(() => parseRunConfig({ eval: { ks: [50], protocols: ['full'] } }, 'cmd'));
    assert.doesNotThrow(() => parseRunConfig({ eval: { ks: [50] }, protocol: { numNegatives: 99 } }, 'cmd'));
    assert.throws(() => parseRunConfig({ train: { validMetric: 'ndcg@20' } }, 'cmd'), /field 'train\.validMetric'/);
    assert.throws(() => checkFullRankingKs([10, 100000], 79), /eval\.fullKs: k = 100000 is above the number of items \(79\)/);
    const spec = { key: 'ganprompt', runDefaults: {}, optionDefaults: {}, parseOptions: (raw: unknown) => parseGanPromptOptions(raw) };
    assert.throws(() => resolveMethodConfig(spec, undefined, { run: {}, options: { eval: { ks: [1, 20] } } }), /field 'eval\.ks': k = 20 is above the 10 candidates/);
  });
  it('numeric ranges: 0 is an error, never "the default"', () => {
    assert.throws(() => parseSmallLmOptions({ steps: 0 }), /field 'steps'/);
    assert.throws(() => parseSmallLmOptions({ steps: -3 }), /field 'steps'/);
    for (const [k, v] of [['lr', -1], ['lr', 0], ['epochs', 0], ['warmupSteps', -5]] as const) assert.throws(() => parseSmallLmOptions({ [k]: v }), new RegExp(`field '${k}'`));
    assert.deepEqual(parseSmallLmOptions({ evalUsers: 0 }), { evalUsers: 0 }); // means 0: the evaluation is skipped
    assert.throws(() => parseRecSysOptions({ eval: { users: 0 } }), /field 'eval\.users'/);
    assert.throws(() => parseRecSysOptions({ pretrain: { steps: 0 } }), /field 'pretrain\.steps'/);
    assert.throws(() => parseGanPromptOptions({ loraStage: { users: 0 } }), /field 'loraStage\.users'/);
    assert.throws(() => parseGanPromptOptions({ lm: { small: { lr: -1 } } }), /field 'lm\.small\.lr'/);
    assert.throws(() => parseRunConfig({ train: { epochs: 0 } }, 'cmd'), /field 'train\.epochs'/);
  });
});

describe('eval --run on an interrupted run', () => {
  it('lists finished and unfinished models', () => {
    const p = runProgress(['random', 'pop', 'bprmf', 'sasrec'], new Set(['random', 'pop']), (l) => l === 'random' || l === 'pop', (l) => (l === 'bprmf' ? 2 : null));
    assert.deepEqual(p.map((x) => x.state), ['finished', 'finished', 'training', 'not started']);
    assert.equal(unfinishedNote(p), 'unfinished models, not evaluated: bprmf (interrupted after epoch 2, checkpoint kept), sasrec (not started); finish the run with --resume');
    assert.equal(unfinishedNote(p.slice(0, 2)), '');
  });
});
