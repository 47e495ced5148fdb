/**
 * The experiment layer end to end on a small synthetic shop: config schema
 * (defaults < file < flags, clear errors), a run directory with config,
 * data stats, metrics JSON and a Markdown report carrying Random and Pop rows,
 * Ctrl-C-style interruption and --resume, and refusal to overwrite a run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, modelSpecs, parseRunConfig, resolveRunConfig } from '../src/config/index.js';
import { renderResults, rerenderRun, runExperiment, trainingStop, type RunRow } from '../src/experiment/run.js';
import { dataAvailable } from '../src/data/resolve.js';
import { type BenchmarkSignificance, benchmarkSignificance, pairedReferences, significanceLines } from '../src/experiment/paired.js';
import { ready } from './helpers.js';

await ready();

const small = (dir: string, name: string, models: unknown[]) => parseRunConfig({
  data: { name: 'synthetic-shop', synthetic: { users: 150, items: 90, seed: 7 } },
  protocol: { kCore: 3, maxHistory: 8, numNegatives: 9, seed: 1 },
  models,
  train: { epochs: 2, batchSize: 64, patience: 2, validMetric: 'ndcg@5', validProtocol: 'sampled', seed: 3 },
  eval: { protocols: ['sampled', 'full'], ks: [1, 5], fullKs: [10] },
  output: { runsDir: dir, name },
}, 'test');

describe('run configuration', () => {
  it('fills defaults, and flags override the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ protocol: { kCore: 10 }, train: { epochs: 7 }, models: ['pop', { name: 'sasrec', label: 's2', config: { loss: 'bce' }, train: { lr: 0.01 } }] }));
    const cfg = resolveRunConfig(file, { train: { epochs: 3 } });
    assert.equal(cfg.protocol.kCore, 10);
    assert.equal(cfg.protocol.maxHistory, 10);
    assert.equal(cfg.train.epochs, 3);
    assert.equal(cfg.data.name, 'synthetic-shop');
    const specs = modelSpecs(cfg);
    assert.deepEqual(specs.map((s) => s.label), ['pop', 's2']);
    assert.deepEqual(specs[1].config, { loss: 'bce' });
    assert.equal(specs[1].train.lr, 0.01);
  });

  it('rejects unknown keys, bad values and bad files with the file and key path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-cfg-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ protocol: { kcore: 5 } }));
    assert.throws(() => resolveRunConfig(file, {}), (e: Error) => e instanceof ConfigError && e.message.includes(file) && /protocol/.test(e.message));
    writeFileSync(file, JSON.stringify({ train: { epochs: 0 } }));
    assert.throws(() => resolveRunConfig(file, {}), /train\.epochs/);
    writeFileSync(file, JSON.stringify({ train: { lrDecay: 1.5 } }));
    assert.throws(() => resolveRunConfig(file, {}), /train\.lrDecay/);
    writeFileSync(file, JSON.stringify({ models: [{ name: 'tiger', train: { lrDecayPatience: 0 } }] }));
    assert.throws(() => resolveRunConfig(file, {}), /models\.0\.train\.lrDecayPatience/);
    writeFileSync(file, '{ not json');
    assert.throws(() => resolveRunConfig(file, {}), /not valid JSON/);
    assert.throws(() => resolveRunConfig(join(dir, 'missing.json'), {}), /cannot read config file/);
    assert.throws(() => modelSpecs(parseRunConfig({ models: ['pop', 'pop'] }, 'x')), /label 'pop' appears twice/);
  });
});

describe('runExperiment', () => {
  it('writes a complete run directory with Random and Pop rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-run-'));
    const cfg = small(dir, 'r1', ['random', 'pop', 'sasrec']);
    const res = await runExperiment(cfg, { log: () => {} });
    assert.equal(res.interrupted, false);
    for (const f of ['config.json', 'data.json', 'metrics.json', 'results.md', 'models/sasrec/config.json']) assert.ok(existsSync(join(res.dir, f)), f);
    const metrics = JSON.parse(readFileSync(join(res.dir, 'metrics.json'), 'utf8')) as { rows: RunRow[] };
    assert.deepEqual([...new Set(metrics.rows.map((r) => r.model))], ['random', 'pop', 'sasrec']);
    const sampled = metrics.rows.filter((r) => r.protocol === 'sampled');
    for (const r of sampled) assert.ok(r.metrics.auc >= 0 && r.metrics.auc <= 1 && 'hr@5' in r.metrics);
    const full = metrics.rows.filter((r) => r.protocol === 'full');
    for (const r of full) assert.ok('ndcg@10' in r.metrics);
    const md = readFileSync(join(res.dir, 'results.md'), 'utf8');
    assert.match(md, /\| random \|/);
    assert.match(md, /\| pop \|/);
    assert.match(md, /1 positive \+ 9 sampled negatives/);
    // Same seeds, same numbers.
    const again = await runExperiment(small(dir, 'r2', ['random', 'pop', 'sasrec']), { log: () => {} });
    assert.deepEqual(again.rows.map((r) => r.metrics), res.rows.map((r) => r.metrics));
    // A fresh run never writes into a finished one.
    await assert.rejects(runExperiment(cfg, { log: () => {} }), /already holds results/);
  });

  it('stops on abort with a checkpoint and --resume finishes the run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-run-'));
    const cfg = small(dir, 'r3', ['pop', 'gru4rec']);
    const ac = new AbortController();
    const first = await runExperiment(cfg, { log: () => {}, signal: ac.signal, onBatch: (m) => { if (m === 'gru4rec') ac.abort(); } });
    assert.equal(first.interrupted, true);
    assert.deepEqual([...new Set(first.rows.map((r) => r.model))], ['pop']);
    assert.ok(existsSync(join(first.dir, 'models', 'gru4rec')), 'checkpoint directory written');
    const resumed = await runExperiment(cfg, { log: () => {} }, first.dir);
    assert.equal(resumed.interrupted, false);
    assert.deepEqual([...new Set(resumed.rows.map((r) => r.model))], ['pop', 'gru4rec']);
  });

  it('an abort during a model\'s test evaluation leaves its trained model; --resume evaluates it as a straight run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-run-'));
    const straight = await runExperiment(small(dir, 'r5a', ['pop', 'gru4rec']), { log: () => {} });
    const cfg = small(dir, 'r5', ['pop', 'gru4rec']);
    const ac = new AbortController();
    const logs: string[] = [];
    // The signal fires as the last epoch is reported: training ends normally, the test evaluation is cut short.
    const first = await runExperiment(cfg, { log: (l) => logs.push(l), signal: ac.signal, onEpoch: (m, e) => { if (m === 'gru4rec' && e.epoch === 1) ac.abort(); } });
    assert.equal(first.interrupted, true);
    assert.deepEqual([...new Set(first.rows.map((r) => r.model))], ['pop']);
    assert.ok(logs.some((l) => /gru4rec: interrupted while its rows were evaluated/.test(l)), logs.join('\n'));
    assert.ok(existsSync(join(first.dir, 'models', 'gru4rec', 'config.json')), 'the trained model is saved');
    const resumed = await runExperiment(cfg, { log: () => {} }, first.dir);
    assert.equal(resumed.interrupted, false);
    assert.deepEqual(resumed.rows.map((r) => [r.model, r.protocol, r.metrics]), straight.rows.map((r) => [r.model, r.protocol, r.metrics]));
  });

  it('--only runs some models; the report keeps the config order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-run-'));
    const cfg = small(dir, 'r4', ['random', 'pop', 'bprmf']);
    const a = await runExperiment(cfg, { log: () => {} }, undefined, ['bprmf']);
    assert.deepEqual(a.rows.map((r) => r.model), ['bprmf', 'bprmf']);
    await assert.rejects(runExperiment(cfg, { log: () => {} }, a.dir, ['nope']), /--only nope/);
    const b = await runExperiment(cfg, { log: () => {} }, a.dir, ['random', 'pop']);
    assert.deepEqual([...new Set(b.rows.map((r) => r.model))], ['bprmf', 'random', 'pop']);
    const md = rerenderRun(a.dir);
    const at = (m: string) => md.indexOf(`| ${m} |`);
    assert.ok(at('random') < at('pop') && at('pop') < at('bprmf'), 'rows follow the config order');
  });
});

describe('paired significance in the benchmark (docs/METHODS.md §2.6)', () => {
  it('keeps per-user test ranks, tests every model against Pop on the same users, and says what it could not test', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-run-'));
    const cfg = small(dir, 'p1', ['random', 'pop', 'bprmf']);
    const res = await runExperiment(cfg, { log: () => {} });
    const sig = JSON.parse(readFileSync(join(res.dir, 'significance.json'), 'utf8')) as BenchmarkSignificance;
    assert.deepEqual(sig.missing, []);
    assert.deepEqual(sig.pairs.map((g) => `${g.protocol} ${g.model} ${g.against}`), ['sampled random pop', 'sampled bprmf pop', 'full random pop', 'full bprmf pop']);
    for (const g of sig.pairs) {
      assert.deepEqual(Object.keys(g.tests), g.protocol === 'sampled' ? ['auc', 'ndcg@5'] : ['ndcg@10']);
      for (const [metric, t] of Object.entries(g.tests)) {
        // The paired means are the metrics.json rows of both models, over every test user.
        const row = (m: string) => res.rows.find((r) => r.model === m && r.protocol === g.protocol)!;
        assert.ok(Math.abs(t.meanA - row(g.model).metrics[metric]) < 1e-12 && Math.abs(t.meanB - row(g.against).metrics[metric]) < 1e-12, `${g.model} ${metric}`);
        assert.equal(t.n + t.dropped, row(g.model).metrics.count);
        assert.ok(t.pValue > 0 && t.pValue <= 1 && t.ci95[0] <= t.meanDiff && t.meanDiff <= t.ci95[1], `${g.model} ${metric}`);
      }
    }
    // The per-user file: the split's test users in order, with the rank behind each metric.
    const per = JSON.parse(readFileSync(join(res.dir, 'models/bprmf/test-sampled.users.json'), 'utf8')) as { users: number[]; rank: number[] };
    assert.equal(per.users.length, res.rows.find((r) => r.model === 'bprmf')!.metrics.count);
    const md = readFileSync(join(res.dir, 'results.md'), 'utf8');
    assert.match(md, /## Paired against the reference models[^]*\| sampled \| bprmf \| pop \| AUC \|/);
    assert.equal(rerenderRun(res.dir), md, 'rerendered: the same tests from the per-user files');
    // Two references: each model against both, the two references once (the reverse pair is the same test).
    const two = small(dir, 'p4', ['random', 'pop', 'bprmf']);
    two.eval.pairedAgainst = ['pop', 'bprmf'];
    assert.deepEqual(benchmarkSignificance(res.dir, two, ['random', 'pop', 'bprmf']).pairs.filter((g) => g.protocol === 'sampled').map((g) => `${g.model} ${g.against}`),
      ['random pop', 'bprmf pop', 'random bprmf']);
    // A run whose model was evaluated before per-user files existed: named, not tested; a damaged file: named.
    rmSync(join(res.dir, 'models/random/test-full.users.json'));
    const partial = benchmarkSignificance(res.dir, cfg, ['random', 'pop', 'bprmf']);
    assert.deepEqual(partial.missing, ['random']);
    assert.deepEqual(partial.pairs.map((g) => `${g.protocol} ${g.model}`), ['sampled random', 'sampled bprmf', 'full bprmf']);
    assert.match(significanceLines(partial).join('\n'), /Not tested \(no per-user file[^]*: random\./);
    writeFileSync(join(res.dir, 'models/bprmf/test-full.users.json'), JSON.stringify({ users: [1, 2], rank: [0, 1], auc: [1, 1] }));
    assert.throws(() => benchmarkSignificance(res.dir, cfg, ['pop', 'bprmf']), /models\/bprmf\/test-full\.users\.json: not a per-user evaluation/);
    // Other reference models by label; an unknown label is refused before anything runs or is written.
    const against = small(dir, 'p2', ['random', 'pop', 'bprmf']);
    against.eval.pairedAgainst = ['bprmf'];
    assert.deepEqual(pairedReferences(against), ['bprmf']);
    const bad = small(dir, 'p3', ['pop', 'bprmf']);
    bad.eval.pairedAgainst = ['sasrec'];
    await assert.rejects(runExperiment(bad, { log: () => {} }), /eval\.pairedAgainst\[0\]: no model labelled 'sasrec'/);
    assert.equal(existsSync(join(dir, 'p3')), false);
    bad.eval.pairedAgainst = ['pop', 'pop'];
    assert.throws(() => pairedReferences(bad), /eval\.pairedAgainst\[1\]: 'pop' appears twice/);
  });
});

describe('training table of results.md (issue 19: baselines to convergence)', () => {
  const fit = (epochs: number, bestEpoch: number, stoppedEarly = false): RunRow['fit'] => ({
    epochs, bestEpoch, stoppedEarly, interrupted: false, bestValid: { 'ndcg@10': 0.0123 }, secondsPerEpoch: 1, peakRssMiB: 100, fitSeconds: epochs,
  });
  const row = (model: string, name: string, f: RunRow['fit']): RunRow => ({ model, name, protocol: 'full', split: 'test', metrics: { 'hr@10': 0.1, 'ndcg@10': 0.05 }, fit: f });

  it('classifies how each training ended', () => {
    const lim = { epochs: 40, patience: 10 };
    assert.deepEqual(trainingStop(row('b', 'bprmf', fit(40, 39)), lim), { cap: 40, patience: 10, capWhileImproving: true, text: '**cap reached while improving**' });
    assert.equal(trainingStop(row('b', 'bprmf', fit(40, 35)), lim).text, 'cap reached (best + 4)');
    assert.equal(trainingStop(row('b', 'bprmf', fit(21, 10, true)), lim).text, 'early stop (best + 10)');
    assert.equal(trainingStop(row('b', 'bprmf', fit(21, 10, true)), lim).capWhileImproving, false);
    assert.equal(trainingStop(row('b', 'bprmf', fit(40, 29, true)), lim).text, 'patience ran out at the cap (best + 10)', 'patience ended it exactly at the cap');
    // Pop and Random do not train by epochs: one pass, epoch 0 is both best and last, never flagged.
    assert.deepEqual(trainingStop(row('pop', 'pop', fit(1, 0)), { epochs: 1, patience: 1 }), { capWhileImproving: false, text: 'no training' });
    assert.equal(trainingStop(row('b', 'bprmf', { ...fit(12, 11), interrupted: true }), lim).text, 'interrupted');
    // A zero-shot model (textseq with zeroShot) runs no epoch: not 'ended (best + -1)'.
    assert.deepEqual(trainingStop(row('t', 'textseq', fit(0, 0)), lim), { cap: 40, patience: 10, capWhileImproving: false, text: 'no training (0 epochs: zero-shot or loaded)' });
  });

  it('shows cap, patience, best and last epoch per model and flags a cap reached while improving', () => {
    const cfg = parseRunConfig({
      data: { name: 'synthetic-shop' },
      models: ['random', 'pop', { name: 'bprmf', train: { epochs: 40 } }, { name: 'gru4rec', label: 'gru', train: { epochs: 20, patience: 5 } }],
      train: { epochs: 30, patience: 10, validMetric: 'ndcg@10', validProtocol: 'full' },
      eval: { protocols: ['full'], fullKs: [10] },
    }, 'test');
    const st = { users: 10, items: 20, interactions: 100, sparsity: 0.5, meanHistory: 10 };
    const md = renderResults('shop', cfg, { raw: st, split: st }, [
      row('random', 'random', fit(1, 0)), row('pop', 'pop', fit(1, 0)), row('bprmf', 'bprmf', fit(25, 14, true)), row('gru', 'gru4rec', fit(20, 19)),
    ]);
    const line = (m: string) => md.split('\n').find((l) => l.startsWith(`| ${m} |`) && l.includes('ndcg@10 0.0123'));
    assert.equal(line('bprmf'), '| bprmf | 25 | 40 | 10 | 14 | 24 | ndcg@10 0.0123 | early stop (best + 10) | 1.00 | 25 | 100 |');
    assert.equal(line('gru'), '| gru | 20 | 20 | 5 | 19 | 19 | ndcg@10 0.0123 | **cap reached while improving** | 1.00 | 20 | 100 |');
    assert.match(line('pop') ?? '', /\| no training \|/);
    assert.match(md, /\*\*Cap reached while improving:\*\* gru: the best validation epoch is the last one/);
    const ok = renderResults('shop', cfg, { raw: st, split: st }, [row('bprmf', 'bprmf', fit(25, 14, true))]);
    assert.doesNotMatch(ok, /Cap reached while improving/);
  });
});

describe('real data (ml-100k, GANPrompt protocol)', () => {
  const skip = dataAvailable('ml-100k') ? false : 'real dataset ml-100k not found (set LLMREC_DATA_DIR)';
  it('Pop and a briefly trained BPR-MF beat Random on 1 + 9 candidates', { skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-run-'));
    const cfg = parseRunConfig({
      data: { name: 'ml-100k' },
      models: ['random', 'pop', { name: 'bprmf', train: { lr: 0.01 } }],
      train: { epochs: 2, validMetric: 'ndcg@5', validProtocol: 'sampled', patience: 2 },
      eval: { protocols: ['sampled'], ks: [1, 3, 5] },
      output: { runsDir: dir, name: 'ml' },
    }, 'test');
    const res = await runExperiment(cfg, { log: () => {} });
    assert.equal(res.stats.split.users, 938);
    assert.equal(res.stats.split.items, 1008);
    const auc = Object.fromEntries(res.rows.map((r) => [r.model, r.metrics.auc]));
    assert.ok(Math.abs(auc.random - 0.5) < 0.06, `random AUC ${auc.random}`);
    assert.ok(auc.pop > auc.random + 0.1, `pop AUC ${auc.pop}`);
    assert.ok(auc.bprmf > auc.random + 0.1, `bprmf AUC ${auc.bprmf}`);
  });
});
