/**
 * Inference settings of a saved model (src/models/registry.ts `inference`,
 * `loadRecommender(dir, { set })`, `llmrec eval --set`, `llmrec serve --set`):
 * only the keys a model declares as changing no weight (TIGER's beams and
 * beamChunk) can be set when loading; they change the scores as the setting
 * says (a wider beam reaches more items); every other key, a label that is
 * not in the run and a malformed LABEL.KEY=VALUE are refused by name.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { parseRunConfig } from '../src/config/run.js';
import { loadConfiguredData, prepareSplit, runExperiment } from '../src/experiment/run.js';
import { loadRecommender, parseModelSettings } from '../src/models/registry.js';
import { evaluateRecommender } from '../src/eval/evaluate.js';
import { disposeRun, loadRun, rankBatch, RunLoadError, seenOf, testHistory } from '../src/serve/run.js';
import { parseServeArgs, UsageError } from '../src/serve/main.js';
import type { SplitDataset } from '../src/data/types.js';

const TIGER = {
  idMethod: 'rqkmeans', levels: 2, codebookSize: 8, maxCollisions: 32, kmeansIters: 3, textDim: 16,
  dModel: 16, dKv: 8, numHeads: 2, dFf: 32, numLayers: 1, dropout: 0, maxItems: 3, beams: 10, beamChunk: 16,
};

function finitePerRow(scores: Float32Array, V: number, rows: number): number[] {
  return Array.from({ length: rows }, (_, b) => scores.subarray(b * V, (b + 1) * V).filter((x) => Number.isFinite(x)).length);
}

describe('parseModelSettings (LABEL.KEY=VALUE)', () => {
  it('parses JSON values, plain strings and dotted labels, one record per label', () => {
    const s = parseModelSettings(['tiger.beams=80', 'tiger.beamChunk=16', 'my.tiger.beams=40', 'x.mode=fast', 'x.flag=true'], '--set');
    assert.deepEqual(s.get('tiger'), { beams: 80, beamChunk: 16 });
    assert.deepEqual(s.get('my.tiger'), { beams: 40 });
    assert.deepEqual(s.get('x'), { mode: 'fast', flag: true });
  });

  it('refuses malformed settings, naming the flag and the setting', () => {
    assert.throws(() => parseModelSettings(['beams=80'], '--set'), /--set 'beams=80': expected LABEL\.KEY=VALUE/);
    assert.throws(() => parseModelSettings(['tiger.beams'], '--set'), /--set 'tiger\.beams': expected LABEL\.KEY=VALUE/);
    assert.throws(() => parseModelSettings(['tiger.=3'], '--set'), /expected LABEL\.KEY=VALUE/);
    assert.throws(() => parseModelSettings(['tiger.beams='], '--set'), /--set 'tiger\.beams=': the value is empty/);
    assert.throws(() => parseModelSettings(['tiger.beams=20', 'tiger.beams=40'], '--set'), /--set: 'tiger\.beams' is set twice/);
    assert.throws(() => parseModelSettings(['tiger.__proto__={"beams":80}'], '--set'), /'__proto__' is not a config key/);
    assert.throws(() => parseModelSettings(['tiger.beam-width=80'], '--set'), /'beam-width' is not a config key/);
  });
});

describe('inference settings of a saved run', () => {
  let root: string;
  let runDir: string;
  let data: SplitDataset;
  const repo = join(import.meta.dirname, '..');
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'src', 'cli', 'main.ts'), ...args], { cwd: repo, encoding: 'utf8', env: { ...process.env, LLMREC_BLAS_THREADS: '1' } });

  before(async () => {
    await initEngine();
    root = mkdtempSync(join(tmpdir(), 'llmrec-inference-'));
    const cfg = parseRunConfig({
      data: { name: 'synthetic-shop', synthetic: { users: 150, items: 90, seed: 6 } },
      protocol: { ratingThreshold: null, kCore: 3, maxHistory: 6, numNegatives: 20 },
      models: ['random', 'pop', { name: 'tiger', config: TIGER, train: { epochs: 1 } }],
      train: { epochs: 1, batchSize: 64, lr: 5e-3, patience: 1, seed: 3 },
      eval: { protocols: ['full'], ks: [1, 5], fullKs: [5, 10] },
      output: { runsDir: root, name: 'tiny' },
    }, 'test');
    const res = await runExperiment(cfg, { log: () => {} });
    runDir = res.dir;
    data = prepareSplit(await loadConfiguredData(cfg), cfg);
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  it('loadRecommender: a set beam width changes what retrieval reaches; the saved width is the default', async () => {
    const dir = join(runDir, 'models', 'tiger');
    const saved = await loadRecommender(dir);
    const same = await loadRecommender(dir, { set: { beams: 10 } });
    const wide = await loadRecommender(dir, { set: { beams: 25, beamChunk: 4 } });
    try {
      const B = 6;
      const V = data.numItems + 1;
      const batch = { size: B, L: data.test.L, user: data.test.user.subarray(0, B), history: data.test.history.subarray(0, B * data.test.L) };
      const a = saved.scoreAll(batch);
      assert.deepEqual(finitePerRow(a, V, B), new Array<number>(B).fill(10));
      assert.deepEqual(Array.from(same.scoreAll(batch)), Array.from(a));
      assert.deepEqual(finitePerRow(wide.scoreAll(batch), V, B), new Array<number>(B).fill(25));
    } finally {
      saved.dispose();
      same.dispose();
      wide.dispose();
    }
  });

  it('loadRecommender refuses keys that shaped the weights, models without settings and bad values', async () => {
    const dir = join(runDir, 'models', 'tiger');
    await assert.rejects(loadRecommender(dir, { set: { dModel: 32 } }), /cannot set 'dModel' of the tiger model in .*: only its inference settings \(beams, beamChunk\) can be set when loading; the other keys shaped its weights/);
    await assert.rejects(loadRecommender(join(runDir, 'models', 'pop'), { set: { beams: 3 } }), /cannot set 'beams' of the pop model in .*: it has no inference settings/);
    await assert.rejects(loadRecommender(dir, { set: { beams: 0 } }), /cannot load model from .*tiger.*'beams' must be an integer >= 1/);
    await assert.rejects(loadRecommender(dir, { set: { beams: 'wide' } }), /cannot load model from .*'beams' must be number/);
  });

  it('llmrec eval --set: the rows of the set width, as JSON; the other models unchanged', async () => {
    const e = cli('eval', '--run', runDir, '--split', 'valid', '--protocols', 'full', '--ks', '5,10', '--set', 'tiger.beams=25', '--json');
    assert.equal(e.status, 0, e.stderr);
    const lines = e.stdout.trim().split('\n');
    assert.equal(lines.length, 1, e.stdout);
    const out = JSON.parse(lines[0]) as { split: string; protocol: string; ks: number[]; set: Record<string, Record<string, unknown>>; rows: Array<{ model: string; metrics: Record<string, number>; seconds: number }> };
    assert.deepEqual([out.split, out.protocol, out.ks, out.set], ['valid', 'full', [5, 10], { tiger: { beams: 25 } }]);
    assert.deepEqual(out.rows.map((r) => r.model), ['random', 'pop', 'tiger']);
    for (const r of out.rows) assert.ok(r.seconds >= 0);
    const wide = await loadRecommender(join(runDir, 'models', 'tiger'), { set: { beams: 25 } });
    const pop = await loadRecommender(join(runDir, 'models', 'pop'));
    try {
      const opts = { protocol: 'full' as const, ks: [5, 10] };
      assert.deepEqual(out.rows[2].metrics, JSON.parse(JSON.stringify(evaluateRecommender(wide, data, 'valid', opts))));
      assert.deepEqual(out.rows[1].metrics, JSON.parse(JSON.stringify(evaluateRecommender(pop, data, 'valid', opts))));
    } finally {
      wide.dispose();
      pop.dispose();
    }
    // Tables name the setting in their heading.
    const t = cli('eval', '--run', runDir, '--split', 'valid', '--protocols', 'full', '--set', 'tiger.beams=25');
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /## valid, full \(tiger\.beams=25\)/);
  });

  it('llmrec eval --set refuses an unknown label, a weight key and a malformed setting', () => {
    const unknown = cli('eval', '--run', runDir, '--set', 'sasrec.beams=20');
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /--set: no model labelled 'sasrec' in the run .* \(labels: random, pop, tiger\)/);
    const weight = cli('eval', '--run', runDir, '--protocols', 'full', '--set', 'tiger.numLayers=2');
    assert.notEqual(weight.status, 0);
    assert.match(weight.stderr, /cannot set 'numLayers' of the tiger model/);
    const bad = cli('eval', '--run', runDir, '--set', 'tiger-beams-80');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--set 'tiger-beams-80': expected LABEL\.KEY=VALUE/);
  });

  it('llmrec serve --set: parsed per label, applied at load, an unknown label refused', async () => {
    const o = parseServeArgs(['--run', runDir, '--set', 'tiger.beams=25', '--set=tiger.beamChunk=8'], {});
    assert.deepEqual(o.set?.get('tiger'), { beams: 25, beamChunk: 8 });
    assert.throws(() => parseServeArgs(['--run', runDir, '--set', 'beams=25'], {}), (e: Error) => e instanceof UsageError && /expected LABEL\.KEY=VALUE/.test(e.message));
    const lines: string[] = [];
    const run = await loadRun(runDir, (l) => lines.push(l), { precomputeK: 0, set: new Map([['tiger', { beams: 25 }]]) });
    try {
      assert.ok(lines.some((l) => l === 'model tiger: inference settings beams=25 (--set)'), lines.join('\n'));
      const tiger = run.models.find((m) => m.label === 'tiger')!;
      const batch = { size: 1, L: tiger.L, user: Int32Array.of(0), history: new Int32Array(tiger.L).fill(0).map((_, j) => (j === tiger.L - 1 ? 1 : 0)) };
      assert.equal(finitePerRow(tiger.model.scoreAll(batch), data.numItems + 1, 1)[0], 25);
    } finally {
      disposeRun(run);
    }
    // Serving a generative model: items no beam reached are not ranked, so a top-k
    // beyond the width is shorter (never padded with unranked items); candidates get
    // their exact scores, reached by the beams or not.
    const run10 = await loadRun(runDir, () => {}, { precomputeK: 0 });
    try {
      const tiger = run10.models.find((m) => m.label === 'tiger')!;
      const user = 3;
      const skip = seenOf(run10, user);
      const [top] = rankBatch(tiger, [{ user, history: testHistory(run10.data, user), k: 40, skip }]);
      assert.ok(top.length <= 10 && top.length > 0, `${top.length} items`);
      for (const r of top) assert.ok(Number.isFinite(r.score) && !skip.includes(r.item));
      const all = Array.from({ length: run10.data.numItems }, (_, j) => j + 1).filter((i) => !skip.includes(i));
      const cands = all.slice(0, 30);
      const [ranked] = rankBatch(tiger, [{ user, history: testHistory(run10.data, user), k: 30, skip, candidates: cands }]);
      assert.equal(ranked.length, cands.length, 'every candidate is ranked');
      const L = tiger.L;
      const h = testHistory(run10.data, user);
      const hist = new Int32Array(L);
      hist.set(h.subarray(Math.max(0, h.length - L)), L - Math.min(L, h.length));
      const exact = tiger.model.scoreCandidates({ size: 1, L, user: Int32Array.of(user), history: hist }, Int32Array.from(cands), cands.length);
      for (const r of ranked) assert.ok(Math.abs(r.score - exact[cands.indexOf(r.item)]) < 1e-5, `item ${r.item}`);
      for (let j = 1; j < ranked.length; j++) assert.ok(ranked[j - 1].score >= ranked[j].score);
    } finally {
      disposeRun(run10);
    }
    await assert.rejects(loadRun(runDir, () => {}, { precomputeK: 0, set: new Map([['nope', { beams: 25 }]]) }), (e: Error) => e instanceof RunLoadError && /--set: no saved model labelled 'nope' in .* \(labels: random, pop, tiger\)/.test(e.message));
  });
});
