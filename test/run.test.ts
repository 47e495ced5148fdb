/**
 * The run layer (src/run/): options checked on resume before anything is
 * written, stages run in order and stop at an interruption, JSON stage
 * outputs reused on resume, stage keys, portable paths in results files; and the yes/no
 * recipes table matching the configuration's recipe names.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cachedJson, openRunDir, portablePath, resetStageDir, runStages, type Stage, STAGE_KEY_FILE, staleStageKey, StageTimer, writeStageKey,
} from '../src/run/index.js';
import { dataRoot } from '../src/data/resolve.js';
import { RECIPES } from '../src/config/ganprompt.js';
import { ADAPTERS, PLANS } from '../src/methods/ganprompt/recipes.js';

describe('run layer', () => {
  it('resume checks the options before writing anything', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'llmrec-run-')), 'r');
    openRunDir(dir, { a: 1, rows: ['x'] }, { mutable: ['rows'], resume: false });
    const file = join(dir, 'options.json');
    const before = readFileSync(file, 'utf8');
    assert.throws(() => openRunDir(dir, { a: 2, rows: ['x'] }, { mutable: ['rows'], resume: true }), /different options/);
    assert.equal(readFileSync(file, 'utf8'), before);
    openRunDir(dir, { a: 1, rows: ['x', 'y'] }, { mutable: ['rows'], resume: true });
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { a: 1, rows: ['x', 'y'] });
  });

  it('stage keys: outputs made with other options are found, replaced atomically; a folder without a key takes the previous options', () => {
    const root = mkdtempSync(join(tmpdir(), 'llmrec-run-'));
    const dir = join(root, 'adapter');
    assert.deepEqual(staleStageKey(dir, { epochs: 2 }), [], 'no folder: nothing stale');
    writeStageKey(dir, { epochs: 2, targets: undefined });
    writeFileSync(join(dir, 'weights.bin'), 'w');
    assert.deepEqual(staleStageKey(dir, { epochs: 2 }), [], 'undefined fields compare as absent, as they read back');
    assert.deepEqual(staleStageKey(dir, { epochs: 3 }), ['epochs: 2 in the run, 3 now']);
    resetStageDir(dir, { epochs: 3 });
    assert.deepEqual(readdirSync(dir), [STAGE_KEY_FILE]);
    assert.deepEqual(readdirSync(root), ['adapter'], 'no .old folder left');
    assert.deepEqual(staleStageKey(dir, { epochs: 3 }), []);
    // Before stage keys: the folder was made with the previous opening's options, or (none known) taken as matching.
    rmSync(join(dir, STAGE_KEY_FILE));
    assert.deepEqual(staleStageKey(dir, { epochs: 3 }, { epochs: 2 }), ['epochs: 2 in the run, 3 now']);
    assert.deepEqual(staleStageKey(dir, { epochs: 3 }), []);
  });

  it('stages run in order, timed, and stop at the first interruption or after the `until` stage', async () => {
    const seen: string[] = [];
    const timer = new StageTimer();
    const stage = (name: string, outcome: 'done' | 'interrupted'): Stage<string[]> => ({ name, run: (ctx) => timer.timed(name, () => { ctx.push(name); return outcome; }) });
    assert.equal(await runStages([stage('a', 'done'), stage('b', 'done')], seen), 'complete');
    assert.equal(await runStages([stage('c', 'interrupted'), stage('d', 'done')], seen), 'interrupted');
    assert.deepEqual(seen, ['a', 'b', 'c']);
    assert.deepEqual(Object.keys(timer.seconds), ['a', 'b', 'c']);
    // until: stop after the named stage; naming the last stage is a complete run; an unknown name is refused before any stage runs.
    const u: string[] = [];
    assert.equal(await runStages([stage('e', 'done'), stage('f', 'done'), stage('g', 'done')], u, 'f'), 'stopped');
    assert.deepEqual(u, ['e', 'f']);
    assert.equal(await runStages([stage('e', 'done'), stage('f', 'done')], u, 'f'), 'complete');
    assert.equal(await runStages([stage('e', 'interrupted'), stage('f', 'done')], u, 'e'), 'interrupted', 'an interruption stays one');
    await assert.rejects(runStages([stage('h', 'done'), stage('i', 'done')], u, 'x'), /--until: no stage 'x' in this pipeline \(its stages, in order: h, i\)/);
    assert.deepEqual(u, ['e', 'f', 'e', 'f', 'e']);
  });

  it('a JSON stage output is reused on resume and recomputed otherwise', async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'llmrec-run-')), 'out.json');
    let calls = 0;
    const compute = () => { calls++; return Promise.resolve({ v: calls }); };
    assert.deepEqual(await cachedJson(f, true, compute), { v: 1 });
    assert.deepEqual(await cachedJson(f, true, compute), { v: 1 });
    assert.deepEqual(await cachedJson(f, false, compute), { v: 2 });
    const g = join(mkdtempSync(join(tmpdir(), 'llmrec-run-')), 'none.json');
    assert.equal(await cachedJson(g, true, () => Promise.resolve(undefined)), undefined);
    assert.equal(existsSync(g), false);
  });

  it('paths in results files are portable', () => {
    assert.equal(portablePath(join(dataRoot(), 'ml-100k', 'u.data')), '$LLMREC_DATA_DIR/ml-100k/u.data');
    const run = mkdtempSync(join(tmpdir(), 'llmrec-run-'));
    assert.equal(portablePath(join(run, 'lm'), run), 'lm');
    assert.equal(portablePath(join(import.meta.dirname, 'fixtures', 'x')), 'test/fixtures/x');
    assert.equal(portablePath('/elsewhere/data/ml-1m/ratings.dat'), '.../ml-1m/ratings.dat');
    assert.equal(portablePath('synthetic:shop(seed=1)'), 'synthetic:shop(seed=1)');
  });

  it('every configured recipe has a plan, and every plan an adapter that exists', () => {
    assert.deepEqual(Object.keys(PLANS).sort(), [...RECIPES].sort());
    for (const [name, p] of Object.entries(PLANS)) if (p.adapter) assert.ok(ADAPTERS[p.adapter], `${name}: adapter ${p.adapter}`);
  });
});
