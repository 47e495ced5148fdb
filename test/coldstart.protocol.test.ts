/**
 * The cold-start protocol (src/data/cold_start.ts, docs/METHODS.md §1.4) and
 * its warm/cold evaluation (src/eval/cold_start.ts): leakage (no cold item
 * anywhere in training data), reproducibility by seed, items without text,
 * negatives over all items, and how id-free baselines score cold targets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateShop } from '../src/data/synthetic.js';
import { applyProtocol } from '../src/data/protocol.js';
import { applyColdStartProtocol, applyAnyProtocol, drawColdItems } from '../src/data/cold_start.js';
import type { ProtocolConfig, RawDataset } from '../src/data/types.js';
import { coldStartRows, evaluateWarmCold } from '../src/eval/cold_start.js';
import { Pop } from '../src/models/pop.js';
import { parseRunConfig } from '../src/config/run.js';
import { initEngine } from '../src/engine/index.js';
import { runExperiment, rerenderRun } from '../src/experiment/run.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const raw: RawDataset = generateShop({ users: 300, items: 200, seed: 5 });
const BASE: ProtocolConfig = { ratingThreshold: null, kCore: 3, maxHistory: 8, numNegatives: 20, seed: 11 };
const CFG: ProtocolConfig = { ...BASE, coldStart: { share: 0.1, seed: 7 } };

describe('cold-start protocol', () => {
  const data = applyColdStartProtocol(raw, CFG);
  const info = data.coldStart!;
  const isCold = new Set(info.coldItems);

  it('withholds round(share x items with text) items, drawn by seed', () => {
    const plain = applyProtocol(raw, BASE);
    assert.equal(data.numItems, plain.numItems);
    assert.equal(data.numUsers, plain.numUsers);
    assert.equal(info.coldItems.length, Math.round(0.1 * (plain.numItems - info.itemsWithoutText)));
    assert.ok(info.coldTestRows > 0 && info.warmTestRows > 0);
    assert.equal(info.coldTestRows + info.warmTestRows, data.test.count);
  });

  it('no cold item appears anywhere in training data, validation, or histories; only as test targets', () => {
    const where: string[] = [];
    const scan = (name: string, xs: ArrayLike<number>) => { for (let i = 0; i < xs.length; i++) if (isCold.has(xs[i])) { where.push(name); return; } };
    scan('train.history', data.train.history);
    scan('train.target', data.train.target);
    data.trainSeqs.forEach((s, u) => scan(`trainSeqs[${u}]`, s));
    scan('valid.history', data.valid.history);
    scan('valid.target', data.valid.target);
    scan('test.history', data.test.history); // negatives may be cold: they are candidates, not data
    assert.deepEqual(where, []);
    // every cold test row is marked, and only those
    for (let r = 0; r < data.test.count; r++) assert.equal(data.test.target[r] !== 0 && isCold.has(data.test.target[r]), info.testCold[r] === 1);
    // the withheld interactions are counted
    assert.ok(info.removedInteractions > 0);
  });

  it('keeps the test target and the order of the warm history of every user', () => {
    const plain = applyProtocol(raw, BASE);
    const rowOf = new Map<number, number>();
    for (let r = 0; r < data.test.count; r++) rowOf.set(data.test.user[r], r);
    for (let u = 0; u < plain.numUsers; u++) {
      const s = plain.sequences[u];
      const warm = [...s.subarray(0, s.length - 1)].filter((i) => !isCold.has(i));
      const r = rowOf.get(u);
      if (warm.length < 2) { assert.equal(r, undefined); continue; }
      assert.equal(data.test.target[r!], s[s.length - 1]);
      const L = data.test.L;
      const hist = [...data.test.history.subarray(r! * L, (r! + 1) * L)].filter((i) => i !== 0);
      assert.deepEqual(hist, warm.slice(-L));
      assert.equal(data.valid.target[r!], warm[warm.length - 1]);
    }
  });

  it('draws negatives over all items (cold ones too), never an item the user interacted with', () => {
    const plain = applyProtocol(raw, BASE);
    let coldNegatives = 0;
    for (const split of [data.valid, data.test]) {
      const k = split.numNegatives;
      assert.equal(k, 20);
      for (let r = 0; r < split.count; r++) {
        const seen = new Set(plain.sequences[split.user[r]]);
        for (const n of split.negatives.subarray(r * k, (r + 1) * k)) {
          assert.ok(!seen.has(n), `row ${r}: negative ${n} was interacted with`);
          if (isCold.has(n)) coldNegatives++;
        }
      }
    }
    assert.ok(coldNegatives > 0);
  });

  it('is reproducible by seed, and another seed draws other items', () => {
    const again = applyColdStartProtocol(raw, CFG);
    assert.deepEqual(again.coldStart!.coldItems, info.coldItems);
    assert.deepEqual(again.train.history, data.train.history);
    assert.deepEqual(again.test.negatives, data.test.negatives);
    const other = applyColdStartProtocol(raw, { ...CFG, coldStart: { share: 0.1, seed: 8 } });
    assert.notDeepEqual(other.coldStart!.coldItems, info.coldItems);
    // applyAnyProtocol dispatches on config.coldStart
    assert.deepEqual(applyAnyProtocol(raw, CFG).coldStart!.coldItems, info.coldItems);
    assert.equal(applyAnyProtocol(raw, BASE).coldStart, undefined);
  });

  it('never picks an item without text when requireText (the default), and counts them', () => {
    const plain = applyProtocol(raw, BASE);
    const itemMeta = new Map(plain.itemMeta);
    for (let i = 1; i <= 50; i++) itemMeta.delete(i);
    const d = drawColdItems({ numItems: plain.numItems, itemMeta }, { share: 0.2, seed: 1 });
    assert.ok([...d.cold].every((i) => i > 50));
    assert.equal(d.itemsWithoutText, 50);
    assert.equal(d.cold.length, Math.round(0.2 * (plain.numItems - 50)));
    const any = drawColdItems({ numItems: plain.numItems, itemMeta }, { share: 0.2, seed: 1, requireText: false });
    assert.equal(any.cold.length, Math.round(0.2 * plain.numItems));
  });

  it('rejects a bad share with the field named', () => {
    assert.throws(() => applyColdStartProtocol(raw, { ...BASE, coldStart: { share: 1.5, seed: 1 } }), /protocol\.coldStart\.share must be in \(0, 1\)/);
    assert.throws(() => parseRunConfig({ protocol: { coldStart: { share: 0 } } }, 'cfg.json'), /coldStart/);
    const cfg = parseRunConfig({ protocol: { coldStart: {} } }, 'cfg.json');
    assert.deepEqual(cfg.protocol.coldStart, { share: 0.1, seed: 2024, requireText: true });
  });

  it('evaluates warm and cold test rows separately; Pop ranks a cold target last (count 0, pessimistic ties)', async () => {
    await initEngine();
    const pop = new Pop();
    await pop.fit(data, { epochs: 1, batchSize: 64, lr: 1e-3, patience: 1, validMetric: 'ndcg@10', validProtocol: 'full', seed: 1 });
    const groups = coldStartRows(data);
    assert.equal(groups.cold.length, info.coldTestRows);
    for (const protocol of ['full', 'sampled'] as const) {
      const r = evaluateWarmCold(pop, data, { protocol, ks: [10] });
      assert.equal(r.warm.count + r.cold.count, r.all.count);
      assert.equal(r.cold['hr@10'], 0);
      assert.ok(r.warm['hr@10'] > 0);
    }
  });
});

describe('benchmark with protocol.coldStart', () => {
  it('writes warm and cold tables (with user counts) and the cold-start facts to data.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-coldrun-'));
    try {
      const cfg = parseRunConfig({
        data: { name: 'synthetic-shop', synthetic: { users: 200, items: 120, seed: 4 } },
        protocol: { ratingThreshold: null, kCore: 3, maxHistory: 8, numNegatives: 20, coldStart: { share: 0.1, seed: 3 } },
        models: ['random', 'pop'],
        eval: { protocols: ['full', 'sampled'], ks: [1, 5], fullKs: [10] },
        output: { runsDir: dir, name: 'cold' },
      }, 'test');
      const res = await runExperiment(cfg, { log: () => {} });
      assert.equal(res.rows.length, 2 * 2 * 3); // 2 models x 2 protocols x (all, warm, cold)
      const pops = res.rows.filter((r) => r.model === 'pop' && r.protocol === 'full');
      const all = pops.find((r) => r.group === undefined)!;
      const warm = pops.find((r) => r.group === 'warm')!;
      const cold = pops.find((r) => r.group === 'cold')!;
      assert.equal(warm.metrics.count + cold.metrics.count, all.metrics.count);
      assert.equal(cold.metrics['hr@10'], 0);
      const md = readFileSync(join(res.dir, 'results.md'), 'utf8');
      for (const t of ['full ranking (history excluded), warm-target users', 'full ranking (history excluded), cold-target users', 'sampled negatives, cold-target users', 'Cold-start protocol']) assert.ok(md.includes(t), t);
      const dataJson = JSON.parse(readFileSync(join(res.dir, 'data.json'), 'utf8')) as { coldStart: { coldTestRows: number; coldItems: number } };
      assert.equal(dataJson.coldStart.coldTestRows, cold.metrics.count);
      assert.ok(dataJson.coldStart.coldItems > 0);
      // `report` re-renders the same tables from metrics.json
      assert.equal(rerenderRun(res.dir), md);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cold-aware validation (protocol.coldStart.validShare)', () => {
  const VCFG: ProtocolConfig = { ...BASE, coldStart: { share: 0.1, seed: 7, validShare: 0.1 } };
  const data = applyColdStartProtocol(raw, VCFG);
  const info = data.coldStart!;
  const isCold = new Set(info.coldItems);
  const isValidCold = new Set(info.validColdItems);

  it('draws round(validShare x eligible) validation-cold items, disjoint from the cold ones, by seed; the cold draw is unchanged', () => {
    const plain = applyColdStartProtocol(raw, CFG).coldStart!;
    assert.deepEqual(info.coldItems, plain.coldItems);
    assert.equal(info.validColdItems.length, Math.round(0.1 * (data.numItems - info.itemsWithoutText)));
    for (const i of info.validColdItems) assert.ok(!isCold.has(i), `item ${i} is both cold and validation-cold`);
    assert.deepEqual(applyColdStartProtocol(raw, VCFG).coldStart!.validColdItems, info.validColdItems);
    assert.notDeepEqual(applyColdStartProtocol(raw, { ...BASE, coldStart: { share: 0.1, seed: 8, validShare: 0.1 } }).coldStart!.validColdItems, info.validColdItems);
    assert.ok(info.coldValidRows > 0 && info.warmValidRows > 0);
    assert.equal(info.coldValidRows + info.warmValidRows, data.valid.count);
  });

  it('no validation-cold item in training data or validation histories; only as validation targets (marked), right after the validation history in the test history, and as test targets (in neither test group)', () => {
    const where: string[] = [];
    const scan = (name: string, xs: ArrayLike<number>) => { for (let i = 0; i < xs.length; i++) if (isValidCold.has(xs[i]) || isCold.has(xs[i])) { where.push(name); return; } };
    scan('train.history', data.train.history);
    scan('train.target', data.train.target);
    data.trainSeqs.forEach((s, u) => scan(`trainSeqs[${u}]`, s));
    scan('valid.history', data.valid.history);
    assert.deepEqual(where, []);
    const L = data.test.L;
    let testTargetsValidCold = 0;
    for (let r = 0; r < data.valid.count; r++) {
      assert.equal(data.valid.user[r], data.test.user[r]);
      const t = data.valid.target[r];
      assert.ok(!isCold.has(t), `validation row ${r}: cold target ${t}`);
      assert.equal(info.validCold[r] === 1, isValidCold.has(t));
      // test history = validation history + the validation target (left-padded windows of L)
      const vh = [...data.valid.history.subarray(r * L, (r + 1) * L)].filter((i) => i !== 0);
      const th = [...data.test.history.subarray(r * L, (r + 1) * L)].filter((i) => i !== 0);
      assert.deepEqual(th, [...vh, t].slice(-L));
      assert.equal(info.testCold[r], isCold.has(data.test.target[r]) ? 1 : isValidCold.has(data.test.target[r]) ? 2 : 0);
      if (isValidCold.has(data.test.target[r])) testTargetsValidCold++;
    }
    assert.ok(testTargetsValidCold > 0);
    assert.equal(info.validColdTestRows, testTargetsValidCold);
    // test groups: warm = trained targets, cold = test-cold targets; validation-cold targets in neither
    const groups = coldStartRows(data);
    assert.equal(groups.cold.length, info.coldTestRows);
    assert.equal(groups.warm.length, info.warmTestRows);
    assert.equal(groups.warm.length + groups.cold.length + testTargetsValidCold, data.test.count);
    for (const r of groups.warm) assert.ok(!isCold.has(data.test.target[r]) && !isValidCold.has(data.test.target[r]));
  });

  it('absent or 0 validShare gives the split of the plain cold-start protocol', () => {
    const plain = applyColdStartProtocol(raw, CFG);
    const zero = applyColdStartProtocol(raw, { ...BASE, coldStart: { share: 0.1, seed: 7, validShare: 0 } });
    for (const d of [plain, zero]) {
      assert.deepEqual(d.train, applyColdStartProtocol(raw, CFG).train);
      assert.equal(d.coldStart!.validColdItems.length, 0);
      assert.equal(d.coldStart!.coldValidRows, 0);
    }
    assert.deepEqual(zero.valid, plain.valid);
    assert.deepEqual(zero.test, plain.test);
    assert.deepEqual(plain.config.coldStart, { share: 0.1, seed: 7, requireText: true });
  });

  it('rejects a bad validShare with the field named', () => {
    assert.throws(() => applyColdStartProtocol(raw, { ...BASE, coldStart: { share: 0.1, seed: 1, validShare: -0.1 } }), /protocol\.coldStart\.validShare must be in \[0, 1\)/);
    assert.throws(() => applyColdStartProtocol(raw, { ...BASE, coldStart: { share: 0.6, seed: 1, validShare: 0.5 } }), /share 0\.6 \+ validShare 0\.5 must stay below 1/);
    assert.throws(() => parseRunConfig({ protocol: { coldStart: { validShare: 1 } } }, 'cfg.json'), /validShare/);
  });

  it('a run reports the validation rows by group (cold count = cold validation rows), rendered as Validation tables', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-coldvalid-'));
    try {
      const cfg = parseRunConfig({
        data: { name: 'synthetic-shop', synthetic: { users: 200, items: 120, seed: 4 } },
        protocol: { ratingThreshold: null, kCore: 3, maxHistory: 8, numNegatives: 20, coldStart: { share: 0.1, seed: 3, validShare: 0.1 } },
        models: ['random', 'pop'],
        eval: { protocols: ['full'], ks: [1, 5], fullKs: [10] },
        output: { runsDir: dir, name: 'coldvalid' },
      }, 'test');
      const res = await runExperiment(cfg, { log: () => {} });
      assert.equal(res.rows.length, 2 * 2 * 3); // 2 models x (test, valid) x (all, warm, cold)
      const dataJson = JSON.parse(readFileSync(join(res.dir, 'data.json'), 'utf8')) as { coldStart: { coldValidRows: number; warmValidRows: number; validColdItems: number } };
      const pv = res.rows.filter((r) => r.model === 'pop' && r.split === 'valid');
      assert.equal(pv.find((r) => r.group === 'cold')!.metrics.count, dataJson.coldStart.coldValidRows);
      assert.equal(pv.find((r) => r.group === 'warm')!.metrics.count, dataJson.coldStart.warmValidRows);
      assert.equal(pv.find((r) => r.group === 'cold')!.metrics['hr@10'], 0); // Pop: a never-trained item has count 0
      assert.ok(dataJson.coldStart.validColdItems > 0);
      const md = readFileSync(join(res.dir, 'results.md'), 'utf8');
      for (const t of ['## Validation, full ranking (history excluded), cold-target users', '## Test, full ranking (history excluded), cold-target users', 'Cold-aware validation']) assert.ok(md.includes(t), t);
      assert.equal(rerenderRun(res.dir), md);
      // `eval --groups` re-evaluates the saved models by group: the same numbers as the run's rows.
      const root = join(import.meta.dirname, '..');
      const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, LLMREC_BLAS_THREADS: '1' } });
      for (const split of ['valid', 'test'] as const) {
        const e = cli('eval', '--run', res.dir, '--groups', '--split', split, '--protocols', 'full');
        assert.equal(e.status, 0, e.stderr);
        for (const group of ['warm', 'cold'] as const) {
          const row = res.rows.find((r) => r.model === 'pop' && r.split === split && r.group === group)!;
          const line = e.stdout.split('\n').find((l) => l.startsWith(`| pop (${group}, ${row.metrics.count} rows) |`));
          assert.ok(line, `${split} ${group}: ${e.stdout}`);
          assert.ok(line.includes(`| ${row.metrics['ndcg@10'].toFixed(4)} |`), `${line} vs ndcg@10 ${row.metrics['ndcg@10']}`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('eval --groups on a run without the cold-start protocol is refused, naming the option', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-nocold-'));
    try {
      const cfg = parseRunConfig({
        data: { name: 'synthetic-shop', synthetic: { users: 80, items: 80, seed: 4 } },
        protocol: { ratingThreshold: null, kCore: 3, maxHistory: 8, numNegatives: 20 },
        models: ['random', 'pop'],
        eval: { protocols: ['full'], ks: [1, 5], fullKs: [10] },
        output: { runsDir: dir, name: 'nocold' },
      }, 'test');
      const res = await runExperiment(cfg, { log: () => {} });
      const root = join(import.meta.dirname, '..');
      const e = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), 'eval', '--run', res.dir, '--groups'], { cwd: root, encoding: 'utf8' });
      assert.notEqual(e.status, 0);
      assert.match(e.stderr, /--groups: the run .* has no cold-start protocol/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
