#!/usr/bin/env node
/**
 * Probe of issue 15's flag / config / run-directory cases through the built
 * CLI (docs/HOSTILE.md, "Flags, config files and run directories"). Run
 * `npm run build` first, then
 *
 *   node scripts/probe-hostile.mjs [--timeout S] [--out FILE]
 *
 * Every case runs `node dist/cli/main.js ...` in a scratch folder (a tiny
 * synthetic shop), and the table (case, exit code, first line of the
 * message, whether the run directory was left untouched where that matters)
 * is printed as Markdown. A case still running after --timeout seconds
 * (default 120) is killed and reported as such.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const main = join(root, 'dist', 'cli', 'main.js');
if (!existsSync(main)) {
  console.error(`probe-hostile: ${main} not found; run npm run build first`);
  process.exit(2);
}
const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const timeoutS = Number(opt('--timeout', '120'));
const outFile = opt('--out', undefined);

const work = mkdtempSync(join(tmpdir(), 'llmrec-probe-'));
const env = { ...process.env, LLMREC_BLAS_THREADS: '1' };
const tiny = { name: 'synthetic-shop', synthetic: { users: 150, items: 80, seed: 7 } };
const cfgFile = (name, obj, raw) => {
  const f = join(work, name);
  writeFileSync(f, raw ?? JSON.stringify(obj, null, 2));
  return f;
};
const base = cfgFile('tiny.json', { data: tiny, models: ['random', 'pop'], train: { epochs: 1 }, output: { runsDir: join(work, 'runs') } });
const runsDir = join(work, 'runs');

function run(args) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [main, ...args], { cwd: root, env, encoding: 'utf8', timeout: timeoutS * 1000, killSignal: 'SIGKILL' });
  const seconds = (Date.now() - t0) / 1000;
  const text = `${r.stderr ?? ''}`.trim() || `${r.stdout ?? ''}`.trim();
  // The first line, and the first field line of a validation error (the line naming the field).
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const field = lines.slice(1).find((l) => /^\s+field '/.test(l));
  const first = `${lines[0] ?? ''}${field ? ` ${field.trim()}` : ''}`;
  return { code: r.status ?? (r.signal ? `killed (${r.signal}) after ${timeoutS} s` : '?'), first: first.replaceAll(work, '$TMP').replaceAll(root, '$REPO').replaceAll('|', '\\|').slice(0, 300), seconds, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** name -> sha256 of every file under `dir` (the "untouched" check). */
function snapshot(dir) {
  const out = {};
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p.slice(dir.length)] = `${createHash('sha256').update(readFileSync(p)).digest('hex')}:${statSync(p).mtimeMs}`;
    }
  };
  if (existsSync(dir)) walk(dir);
  return JSON.stringify(out);
}

// A finished tiny run to resume / damage.
const done = run(['train', '-c', base, '--name', 'done']);
if (done.code !== 0) {
  console.error(`probe-hostile: the reference run failed: ${done.stderr}`);
  process.exit(2);
}
const doneDir = join(runsDir, 'done');
const copyRun = (name) => {
  const d = join(runsDir, name);
  rmSync(d, { recursive: true, force: true });
  spawnSync('cp', ['-a', doneDir, d]);
  return d;
};

const cases = [];
const add = (name, args, prepare, untouchedDir) => cases.push({ name, args, prepare, untouchedDir });

// Run names and labels (path components).
add('`train --name ../escape`', ['train', '-c', base, '--name', '../escape']);
add('`train --name /tmp/abs`', ['train', '-c', base, '--name', '/tmp/llmrec-probe-abs']);
add('`train --name a/b`', ['train', '-c', base, '--name', 'a/b']);
add("`train --name ''` (empty)", ['train', '-c', base, '--name', '']);
add('`train --name .`', ['train', '-c', base, '--name', '.']);
add('`train --name ..`', ['train', '-c', base, '--name', '..']);
add('`train --name` 300 characters', ['train', '-c', base, '--name', 'x'.repeat(300)]);
add('`train --name CON` (Windows-reserved)', ['train', '-c', base, '--name', 'CON']);
add('config `output.name` with a NUL', ['train', '-c', cfgFile('nul.json', { data: tiny, models: ['random'], output: { runsDir, name: 'a\u0000b' } })]);
add('config model label `../../evil`', ['train', '-c', cfgFile('label.json', { data: tiny, models: [{ name: 'pop', label: '../../evil' }], output: { runsDir } })]);
add('`benchmark --models bogus`', ['benchmark', '-c', base, '--models', 'pop,bogus', '--name', 'bogus-model']);
// Numeric flags.
add('`run recsysllm --eval-users 0`', ['run', 'recsysllm', '--eval-users', '0', '--out', join(work, 'r1')]);
add('`run ganprompt --train-users 0`', ['run', 'ganprompt', '--train-users', '0', '--out', join(work, 'r2')]);
add('`run recsysllm --pretrain-steps 0`', ['run', 'recsysllm', '--pretrain-steps', '0', '--out', join(work, 'r3')]);
add('`run recsysllm --baselines bogus`', ['run', 'recsysllm', '--baselines', 'bogus', '--out', join(work, 'r4')]);
add('`run ganprompt --collab bogus`', ['run', 'ganprompt', '--collab', 'bogus', '--out', join(work, 'r5')]);
add('`lm pretrain --lr -1`', ['lm', 'pretrain', '--lr', '-1', '--out', join(work, 'lm1')]);
add('`lm pretrain --lr 0`', ['lm', 'pretrain', '--lr', '0', '--out', join(work, 'lm2')]);
add('`lm pretrain --epochs 0`', ['lm', 'pretrain', '--epochs', '0', '--out', join(work, 'lm3')]);
add('`lm pretrain --steps -3`', ['lm', 'pretrain', '--steps', '-3', '--out', join(work, 'lm4')]);
add('`lm pretrain --warmup -5`', ['lm', 'pretrain', '--warmup', '-5', '--out', join(work, 'lm5')]);
add('`train --epochs 0`', ['train', '-c', base, '--epochs', '0', '--name', 'e0']);
add('`train --lr 0`', ['train', '-c', base, '--lr', '0', '--name', 'lr0']);
add('`train --ks 50` (10 candidates)', ['train', '-c', base, '--ks', '50', '--name', 'ks50']);
add('`train --protocols full --full-ks 100000`', ['train', '-c', base, '--protocols', 'full', '--full-ks', '100000', '--name', 'fullks']);
// Config files.
add('config file with a UTF-8 BOM', ['data', 'stats', '-c', cfgFile('bom.json', null, '\uFEFF' + JSON.stringify({ data: tiny }))]);
add('config file that is not JSON', ['data', 'stats', '-c', cfgFile('broken.json', null, '{\n  "data": {\n    "name": "synthetic-shop",\n  }\n}\n')]);
// Run directories.
add('`train --resume DIR --data other`', ['train', '--resume', join(runsDir, 'resume-other'), '--data', 'ml-100k'], () => copyRun('resume-other'), join(runsDir, 'resume-other'));
add('`train --resume DIR --k-core 3`', ['train', '--resume', join(runsDir, 'resume-kcore'), '--k-core', '3'], () => copyRun('resume-kcore'), join(runsDir, 'resume-kcore'));
add('`report --run DIR`, metrics.json truncated', ['report', '--run', join(runsDir, 'trunc')], () => {
  const d = copyRun('trunc');
  const f = join(d, 'metrics.json');
  writeFileSync(f, readFileSync(f).subarray(0, 40));
});
add('`report --run DIR`, data.json empty', ['report', '--run', join(runsDir, 'empty-data')], () => writeFileSync(join(copyRun('empty-data'), 'data.json'), ''));
add('`train --resume DIR`, data.json empty (derived: rewritten)', ['train', '--resume', join(runsDir, 'empty-data2')], () => writeFileSync(join(copyRun('empty-data2'), 'data.json'), ''));
add('`eval --run DIR`, metrics.json truncated', ['eval', '--run', join(runsDir, 'trunc2')], () => {
  const d = copyRun('trunc2');
  const f = join(d, 'metrics.json');
  writeFileSync(f, readFileSync(f).subarray(0, 40));
});
add('`eval --run DIR` of an interrupted run (pop finished, bprmf not started)', ['eval', '--run', join(runsDir, 'interrupted')], () => {
  const d = copyRun('interrupted');
  const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
  cfg.models = ['random', 'pop', 'bprmf'];
  writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
});
add('`train --resume DIR`, live lock of another process', ['train', '--resume', join(runsDir, 'locked')], () => {
  const d = copyRun('locked');
  writeFileSync(join(d, 'run.lock'), JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), command: 'probe' }));
}, join(runsDir, 'locked'));

const rows = [];
for (const c of cases) {
  c.prepare?.();
  const before = c.untouchedDir ? snapshot(c.untouchedDir) : null;
  const r = run(c.args);
  const untouched = before === null ? '' : (snapshot(c.untouchedDir) === before ? 'yes' : 'NO');
  rows.push(`| ${c.name} | ${r.code} | ${r.first} | ${untouched} |`);
  process.stderr.write(`${c.name}: ${r.code} (${r.seconds.toFixed(1)} s)\n`);
}
const escaped = existsSync(join(work, 'escape')) || existsSync('/tmp/llmrec-probe-abs') || existsSync(join(work, 'evil'));
const table = ['| case | exit code | first line of the message | run directory untouched |', '|---|---|---|---|', ...rows].join('\n');
const text = `${table}\n\n${cases.length} cases; files written outside the runs folder: ${escaped ? 'YES' : 'none'}\n`;
console.log(text);
if (outFile) writeFileSync(outFile, text);
rmSync('/tmp/llmrec-probe-abs', { recursive: true, force: true });
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
rmSync(work, { recursive: true, force: true });
