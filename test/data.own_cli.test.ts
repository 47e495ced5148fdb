/**
 * Your own data through the configuration and the command line (issues 14
 * and 15, docs/DATA.md): the data section's validation (strict, bounded
 * synthetic sizes), flags over the config file (src/config/layers.ts),
 * relative paths of a config file and of a run directory, and a benchmark
 * end to end through the CLI on a tiny own CSV with an item file, re-loaded
 * by `eval --run` from another working directory and by the server's run
 * loader. The CSV is derived here from ml-100k's u.data when it is there,
 * else from the synthetic shop; nothing is committed.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseRunConfig, portableRunConfig, resolveRunConfig, SYNTHETIC_BOUNDS } from '../src/config/index.js';
import { dataAvailable, dataRoot, generateShop, loadDataSection, resolveDataset } from '../src/data/index.js';
import { loadRun } from '../src/serve/run.js';

const root = join(import.meta.dirname, '..');
// tsx by its resolved URL: the commands run in other working directories.
const tsx = import.meta.resolve('tsx');
const cli = (cwd: string, ...args: string[]) => spawnSync(process.execPath, ['--import', tsx, join(root, 'src', 'cli', 'main.ts'), ...args], {
  cwd, encoding: 'utf8', env: { ...process.env, LLMREC_BLAS_THREADS: '1' },
});

function configError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ConfigError && re.test(e.message));
}

describe('data.synthetic is strict and bounded (issue 15)', () => {
  it('users: 1e9 is refused at once, naming the field and the bound', () => {
    configError(() => parseRunConfig({ data: { synthetic: { users: 1e9 } } }, 'x.json'), /data\.synthetic\.users.*1000000/);
    configError(() => parseRunConfig({ data: { synthetic: { items: 5e6 } } }, 'x.json'), /data\.synthetic\.items.*1000000/);
    configError(() => parseRunConfig({ data: { synthetic: { maxLength: 1e7 } } }, 'x.json'), /data\.synthetic\.maxLength.*10000/);
    // Each size within its bound, the product above the row bound.
    configError(() => parseRunConfig({ data: { synthetic: { users: 900_000, meanLength: 900 } } }, 'x.json'), new RegExp(`data\\.synthetic\\.users.*${SYNTHETIC_BOUNDS.interactions.toExponential(0).replace('+', '\\+')}`));
  });

  it('unknown keys, wrong types and other numeric data options are refused naming the field', () => {
    configError(() => parseRunConfig({ data: { synthetic: { userz: 10 } } }, 'x.json'), /userz/);
    configError(() => parseRunConfig({ data: { synthetic: { users: '10' } } }, 'x.json'), /data\.synthetic\.users/);
    configError(() => parseRunConfig({ data: { synthetic: { pRepeat: 2 } } }, 'x.json'), /data\.synthetic\.pRepeat/);
    configError(() => parseRunConfig({ data: { columns: { user: -1 } } }, 'x.json'), /data\.columns\.user/);
    configError(() => parseRunConfig({ data: { columns: { usr: 'a' } } }, 'x.json'), /usr/);
    configError(() => parseRunConfig({ data: { timeUnit: 'hours' } }, 'x.json'), /data\.timeUnit/);
    configError(() => parseRunConfig({ data: { format: 'excel' } }, 'x.json'), /data\.format.*unknown format/);
    configError(() => parseRunConfig({ data: { items: { title: 'x' } } }, 'x.json'), /data\.items\.path/);
    const ok = parseRunConfig({ data: { synthetic: { users: 100, items: 90, seed: 1 } } }, 'x.json');
    assert.equal(ok.data.synthetic.users, 100);
  });

  it('through the CLI: an immediate error, exit 1', () => {
    const d = mkdtempSync(join(tmpdir(), 'llmrec-own-cli-'));
    const cfg = join(d, 'big.json');
    writeFileSync(cfg, JSON.stringify({ data: { synthetic: { users: 1e9 } } }));
    const t0 = Date.now();
    const r = cli(d, 'data', 'stats', '-c', cfg);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /data\.synthetic\.users/);
    assert.match(r.stderr, /1000000/);
    assert.ok(Date.now() - t0 < 60_000, 'refused before generating anything');
  });
});

describe('precedence and paths', () => {
  it('flags override the file field by field; file-only options are kept', () => {
    const d = mkdtempSync(join(tmpdir(), 'llmrec-own-prec-'));
    const f = join(d, 'c.json');
    writeFileSync(f, JSON.stringify({ data: { name: 'x.csv', columns: { user: 'a', item: 'b' }, timeUnit: 'ms', delimiter: ';', items: { path: 'items.csv', title: 'name' } } }));
    const cfg = resolveRunConfig(f, { data: { columns: { user: 'z' }, delimiter: '\t', items: { attributes: ['genre'] } } });
    assert.deepEqual(cfg.data.columns, { user: 'z', item: 'b' });
    assert.equal(cfg.data.timeUnit, 'ms');
    assert.equal(cfg.data.delimiter, '\t');
    assert.deepEqual(cfg.data.items, { path: 'items.csv', title: 'name', attributes: ['genre'] });
  });

  it('relative paths of a config file resolve against its folder; a run records them relative to itself or the data root', async () => {
    const d = mkdtempSync(join(tmpdir(), 'llmrec-own-paths-'));
    mkdirSync(join(d, 'exp'));
    writeFileSync(join(d, 'exp', 'events.csv'), 'user,item\nu,i\nu,j\n');
    writeFileSync(join(d, 'exp', 'c.json'), JSON.stringify({ data: { name: 'events.csv' } }));
    const cfg = resolveRunConfig(join(d, 'exp', 'c.json'), {});
    assert.equal(cfg.data.name, join(d, 'exp', 'events.csv'));
    const recorded = portableRunConfig(cfg, join(d, 'runs', 'r1'));
    assert.equal(recorded.data.name, '../../exp/events.csv');
    // Re-loaded with the run directory as the base, whatever the working directory.
    const raw = await loadDataSection(recorded.data, join(d, 'runs', 'r1'));
    assert.equal(raw.user.length, 2);
    if (dataAvailable('ml-100k')) {
      const under = portableRunConfig(parseRunConfig({ data: { name: resolveDataset('ml-100k') } }, 'x'), d);
      assert.equal(under.data.name, '$LLMREC_DATA_DIR/ml-100k');
      assert.equal(resolveDataset(under.data.name), join(dataRoot(), 'ml-100k'));
    }
    // Names stay names.
    assert.equal(portableRunConfig(parseRunConfig({ data: { name: 'no-such-name' } }, 'x'), d).data.name, 'no-such-name');
  });
});

describe('a benchmark on your own CSV through the CLI', () => {
  const work = mkdtempSync(join(tmpdir(), 'llmrec-own-e2e-'));
  before(() => {
    // A tiny own CSV with a header, and an item file with titles.
    let lines: string[];
    let titles: string[];
    if (dataAvailable('ml-100k')) {
      const udata = readFileSync(join(resolveDataset('ml-100k'), 'u.data'), 'utf8').trim().split('\n').slice(0, 3000);
      lines = udata.map((l) => l.split('\t').join(','));
      const ids = new Set(lines.map((l) => l.split(',')[1]));
      titles = [...ids].map((id) => `${id},"Movie ${id}, the title"`);
    } else {
      const shop = generateShop({ users: 120, items: 100, seed: 3, reviews: false });
      lines = Array.from(shop.user, (u, r) => `${shop.userIds[u]},${shop.itemIds[shop.item[r]]},${shop.rating?.[r] ?? 5},${shop.time?.[r] ?? r}`);
      titles = shop.itemIds.map((id) => `${id},"Item ${id}, the title"`);
    }
    mkdirSync(join(work, 'mydata'));
    writeFileSync(join(work, 'mydata', 'interactions.csv'), 'user_id,item_id,rating,timestamp\n' + lines.join('\n') + '\n');
    writeFileSync(join(work, 'mydata', 'items.csv'), 'item_id,title\n' + titles.join('\n') + '\n');
  });

  it('data stats, benchmark with --items, eval --run from another folder, and the server re-loads it', async () => {
    const stats = cli(work, 'data', 'stats', '--data', 'mydata/interactions.csv', '--json');
    assert.equal(stats.status, 0, stats.stderr);
    const s = JSON.parse(stats.stdout) as { raw: { interactions: number } };
    assert.ok(s.raw.interactions > 1000);

    const b = cli(work, 'benchmark', '--data', 'mydata/interactions.csv', '--items', 'mydata/items.csv', '--models', 'pop', '--epochs', '1',
      '--runs-dir', 'runs', '--name', 'own', '--rating-threshold', 'none', '--k-core', '2');
    assert.equal(b.status, 0, b.stderr + b.stdout);
    assert.match(b.stdout, /\| pop /);
    const cfg = JSON.parse(readFileSync(join(work, 'runs', 'own', 'config.json'), 'utf8')) as { data: { name: string; items: { path: string } } };
    assert.equal(cfg.data.name, '../../mydata/interactions.csv');
    assert.equal(cfg.data.items.path, '../../mydata/items.csv');

    // Another working directory: the run's relative paths still find the data.
    const elsewhere = mkdtempSync(join(tmpdir(), 'llmrec-own-cwd-'));
    const e = cli(elsewhere, 'eval', '--run', join(work, 'runs', 'own'));
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /\| pop /);

    const run = await loadRun(join(work, 'runs', 'own'));
    try {
      const i = run.data.itemIds.indexOf(run.data.itemIds[1]);
      assert.match(run.data.itemMeta.get(i)?.title ?? '', /, the title$/);
      assert.deepEqual(run.models.map((m) => m.label).sort(), ['pop', 'random']);
    } finally {
      for (const m of run.models) m.model.dispose();
    }
  });

  it('flags beat the config file on the command line', () => {
    const f = join(work, 'c.json');
    writeFileSync(f, JSON.stringify({ data: { name: 'mydata/interactions.csv', columns: { user: 'nope' } } }));
    const bad = cli(work, 'data', 'stats', '-c', f);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /field 'nope': missing column in header/);
    const good = cli(work, 'data', 'stats', '-c', f, '--user-col', '0', '--json');
    assert.equal(good.status, 0, good.stderr);
  });
});
