/**
 * The published package: `npm pack` of this repository, installed into a
 * fresh temporary project, must serve the public API of package.json's
 * "exports" map (runtime and types), hide everything else, and run the
 * README's library examples as written. The examples are the ```js blocks of
 * the README's "Using ..." sections, extracted here, so the README cannot
 * drift from the package.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> };
const SUBPATHS = ['data', 'eval', 'models', 'lm', 'methods', 'engine'];

/** The ```js code blocks of the README section whose heading is `heading`. */
function readmeBlocks(readme: string, heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md: no section '## ${heading}'`);
  const next = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, LLMREC_BLAS_THREADS: '1', npm_config_update_notifier: 'false' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (exit ${r.status}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

describe('package: npm pack, install into a temp project, README examples', { timeout: 20 * 60_000 }, () => {
  let tmp = '';
  let app = '';
  const readme = readFileSync(join(root, 'README.md'), 'utf8');

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'llmrec-pack-'));
    const packed = ok(run('npm', ['pack', '--json', '--pack-destination', tmp], root), 'npm pack');
    const info = JSON.parse(packed.slice(packed.indexOf('['))) as Array<{ filename: string }>;
    const tgz = join(tmp, info[0].filename);
    assert.ok(existsSync(tgz), `npm pack wrote no ${tgz}`);
    app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'llmrec-package-test', version: '0.0.0', private: true, type: 'module' }, null, 2));
    ok(run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional', '--ignore-scripts', tgz], app), 'npm install of the tarball');
  });

  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('the exports map lists the documented subpaths, each with types', () => {
    assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './package.json', ...SUBPATHS.map((s) => `./${s}`)].sort());
    for (const [key, target] of Object.entries(pkg.exports)) {
      if (key === './package.json') continue;
      const t = target as { types: string; default: string };
      assert.ok(existsSync(join(app, 'node_modules', pkg.name, t.default)), `${key}: ${t.default} is not in the package`);
      assert.ok(existsSync(join(app, 'node_modules', pkg.name, t.types)), `${key}: ${t.types} is not in the package`);
    }
  });

  it('every subpath loads at run time; deep imports are not exported', () => {
    const script = `
      const names = {};
      for (const s of ['llmrec', ${SUBPATHS.map((s) => `'llmrec/${s}'`).join(', ')}]) names[s] = Object.keys(await import(s)).length;
      const { createRequire } = await import('node:module');
      names.pkg = createRequire(import.meta.url)('llmrec/package.json').name;
      try { await import('llmrec/dist/data/protocol.js'); names.deep = 'loaded'; } catch (e) { names.deep = e.code; }
      console.log(JSON.stringify(names));
    `;
    writeFileSync(join(app, 'subpaths.mjs'), script);
    const out = JSON.parse(ok(run(process.execPath, ['subpaths.mjs'], app), 'subpaths.mjs').trim()) as Record<string, number | string>;
    for (const s of ['llmrec', ...SUBPATHS.map((x) => `llmrec/${x}`)]) assert.ok((out[s] as number) > 5, `${s} exports ${out[s]} names`);
    assert.equal(out.pkg, 'llmrec');
    assert.equal(out.deep, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('the types resolve through the exports map (tsc, NodeNext)', () => {
    writeFileSync(
      join(app, 'types.ts'),
      [
        "import { applyProtocol, createRecommender, evaluateRecommender, type SplitDataset, type Recommender } from 'llmrec';",
        "import { generateShop, type RawDataset } from 'llmrec/data';",
        "import { ndcgAt, type Scorer } from 'llmrec/eval';",
        "import { SASRec } from 'llmrec/models';",
        "import { Tokenizer } from 'llmrec/lm';",
        "import { YesNoLlm } from 'llmrec/methods';",
        "import { tf } from 'llmrec/engine';",
        'const raw: RawDataset = generateShop({ users: 10 });',
        'const data: SplitDataset = applyProtocol(raw, { ratingThreshold: 3, kCore: 2, maxHistory: 5, numNegatives: 3, seed: 1 });',
        "const model: Recommender = createRecommender('pop');",
        'const scorer: Scorer = model;',
        "const n: number = ndcgAt(1, 5) + evaluateRecommender(scorer, data, 'test', { protocol: 'sampled', ks: [1] }).count;",
        'export const used = [n, SASRec, Tokenizer, YesNoLlm, tf.add];',
        '',
      ].join('\n'),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = run(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types'), 'types.ts'], app);
    ok(r, 'tsc on types.ts');
  });

  it('README "Using the collaborative models": Pop and SASRec trained and evaluated', () => {
    const blocks = readmeBlocks(readme, 'Using the collaborative models');
    assert.equal(blocks.length, 1);
    assert.match(blocks[0], /from 'llmrec';/);
    writeFileSync(join(app, 'collab.mjs'), blocks[0]);
    const out = ok(run(process.execPath, ['collab.mjs'], app), 'README collaborative example');
    const lines = out.trim().split('\n');
    assert.equal(lines[0], '| model | auc | hr@1 | ndcg@5 | count |');
    const rows = lines.slice(2).map((l) => l.split('|').map((c) => c.trim()).filter((c) => c !== ''));
    assert.deepEqual(rows.map((r) => r[0]), ['pop', 'sasrec']);
    for (const r of rows) {
      const [auc, hr1, ndcg5, count] = r.slice(1).map(Number);
      assert.ok(auc > 0 && auc < 1, `${r[0]} auc ${auc}`);
      assert.ok(hr1 >= 0 && hr1 <= 1 && ndcg5 >= hr1 && ndcg5 <= 1, `${r[0]} hr@1 ${hr1} ndcg@5 ${ndcg5}`);
      assert.ok(Number.isInteger(count) && count > 50, `${r[0]} count ${count}`);
    }
    // Pop beats a random ranker (AUC 0.5) on the shop's long-tailed popularity.
    assert.ok(Number(rows[0][1]) > 0.55, `pop auc ${rows[0][1]}`);
  });

  it('README "Using the language-model core": save, load and score with a tiny LLaMA', () => {
    const blocks = readmeBlocks(readme, 'Using the language-model core');
    assert.equal(blocks.length, 1);
    writeFileSync(join(app, 'lm.mjs'), blocks[0]);
    const out = ok(run(process.execPath, ['lm.mjs'], app), 'README language-model example');
    const lines = out.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.slice(0, l.lastIndexOf(':'))), ['Hydrating Face Cream', 'Gentle Shampoo', 'Silk Conditioner', 'Matte Lipstick']);
    for (const l of lines) {
      const v = Number(l.slice(l.lastIndexOf(':') + 1));
      assert.ok(Number.isFinite(v) && v < 0, `log-probability of '${l}'`);
    }
  });

  it('README "Using the engine": a matMul on the engine', () => {
    const blocks = readmeBlocks(readme, 'Using the engine');
    assert.equal(blocks.length, 1);
    writeFileSync(join(app, 'engine.mjs'), blocks[0]);
    const out = ok(run(process.execPath, ['engine.mjs'], app), 'README engine example');
    assert.equal(out.trim(), '[ 4, 3 ] 8 wasm');
  });
});
