/**
 * The kill -9 suite (issue 15; docs/HOSTILE.md, "Kill -9 at checkpoint
 * writes"): real training runs started through the CLI as child processes
 * are SIGKILLed at chosen points of their checkpoint and report writes (the
 * LLMREC_TEST_KILL_AT hook, `killPoint` in src/io/files.ts: the process
 * kills itself right there), then resumed; the final metrics must equal an
 * uninterrupted run's exactly. After the resume, no temp file of the killed
 * write and no run.lock may be left.
 *
 * Runs: the collaborative benchmark (`train`, Pop + BPR-MF, 4 epochs, tiny
 * synthetic shop) and the small LM pre-training (`lm pretrain`, a 1-layer
 * model, 12 steps, a checkpoint every 4). Prints the table of docs/HOSTILE.md.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'llmrec-kill-'));
const env: NodeJS.ProcessEnv = { ...process.env, LLMREC_BLAS_THREADS: '1' };
delete env.LLMREC_TEST_KILL_AT;

interface Result { code: number | null; signal: NodeJS.Signals | null; out: string }

function cli(args: string[], killAt?: string): Promise<Result> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), ...args], {
      cwd: root, env: killAt ? { ...env, LLMREC_TEST_KILL_AT: killAt } : env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('error', rej);
    p.on('close', (code, signal) => res({ code, signal, out }));
  });
}

/** Paths under `dir` (relative) whose name marks a leftover of an atomic write or a lock. */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (/\.tmp-\d+|\.old-\d+$|^run\.lock$/.test(name)) out.push(p.slice(dir.length + 1));
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

const cfgFile = join(work, 'cfg.json');
writeFileSync(cfgFile, JSON.stringify({
  data: { name: 'synthetic-shop', synthetic: { users: 150, items: 80, seed: 7 } },
  models: ['pop', 'bprmf'], train: { epochs: 4, patience: 10 }, output: { runsDir: join(work, 'runs') },
}));
const LM_ARGS = ['--hidden', '16', '--layers', '1', '--heads', '2', '--kv-heads', '1', '--ffn', '32', '--block', '32', '--batch-size', '4',
  '--steps', '12', '--vocab', '300', '--eval-users', '0', '--checkpoint-every', '4', '--warmup', '2'];

/** What must be identical after a resume: every metric row (fit times excluded) / the LM's losses and perplexity. */
function benchmarkOutcome(dir: string): unknown {
  const { rows } = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as { rows: Array<{ model: string; protocol: string; metrics: unknown; fit: { epochs: number; bestEpoch: number; bestValue: unknown } }> };
  return rows.map((r) => ({ model: r.model, protocol: r.protocol, metrics: r.metrics, epochs: r.fit.epochs, bestEpoch: r.fit.bestEpoch, bestValue: r.fit.bestValue }));
}
function lmOutcome(dir: string): unknown {
  const r = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { parameters: number; training: { steps: number; interrupted: boolean; trainLoss: number; heldOutPerplexity: number } };
  return { parameters: r.parameters, steps: r.training.steps, interrupted: r.training.interrupted, trainLoss: r.training.trainLoss, heldOutPerplexity: r.training.heldOutPerplexity };
}

interface Case { run: 'benchmark' | 'lm'; point: string; what: string }
const CASES: Case[] = [
  { run: 'benchmark', point: 'checkpoint-tmp:2', what: 'BPR-MF epoch 2: temp checkpoint folder half written' },
  { run: 'benchmark', point: 'checkpoint-best:2', what: 'BPR-MF epoch 2: best.safetensors written into the temp folder, the rest not' },
  { run: 'benchmark', point: 'checkpoint-before-rename:3', what: 'BPR-MF epoch 3: temp folder complete, before the rename' },
  { run: 'benchmark', point: 'checkpoint-after-rename:2', what: 'BPR-MF epoch 2: right after the rename' },
  { run: 'benchmark', point: 'report-write:2', what: "run report: BPR-MF's row in metrics.json, results.md not written" },
  { run: 'lm', point: 'checkpoint-before-rename:2', what: 'LM pre-training step 8: temp folder complete, before the rename' },
];

interface Row { c: Case; killed: boolean; resumed: boolean | null; identical: boolean | null; tookOver: boolean; cleaned: string; left: string[] }
const rows: Row[] = [];
let refBenchmark: unknown;
let refLm: unknown;

async function runCase(c: Case, i: number): Promise<Row> {
  const name = `k${i}`;
  const start = c.run === 'benchmark' ? ['train', '-c', cfgFile, '--name', name] : ['lm', 'pretrain', ...LM_ARGS, '--out', join(work, name)];
  const dir = c.run === 'benchmark' ? join(work, 'runs', name) : join(work, name);
  const k = await cli(start, c.point);
  const killed = k.signal === 'SIGKILL';
  if (!killed) return { c, killed, resumed: null, identical: null, tookOver: false, cleaned: '', left: [] };
  const resume = c.run === 'benchmark' ? ['train', '--resume', dir] : ['lm', 'pretrain', ...LM_ARGS, '--out', dir, '--resume'];
  const r = await cli(resume);
  const resumed = r.code === 0;
  assert.ok(resumed, `${c.point}: resume failed (exit ${r.code}):\n${r.out}`);
  const outcome = c.run === 'benchmark' ? benchmarkOutcome(dir) : lmOutcome(dir);
  const identical = JSON.stringify(outcome) === JSON.stringify(c.run === 'benchmark' ? refBenchmark : refLm);
  const cleanedMatch = /removed (\d+) temp file/.exec(r.out);
  return { c, killed, resumed, identical, tookOver: /took over the stale lock/.test(r.out), cleaned: cleanedMatch ? cleanedMatch[1] : '0', left: leftovers(dir) };
}

describe('kill -9 at checkpoint and report writes, then resume', () => {
  before(async () => {
    const [b, l] = await Promise.all([cli(['train', '-c', cfgFile, '--name', 'ref']), cli(['lm', 'pretrain', ...LM_ARGS, '--out', join(work, 'lmref')])]);
    assert.equal(b.code, 0, b.out);
    assert.equal(l.code, 0, l.out);
    refBenchmark = benchmarkOutcome(join(work, 'runs', 'ref'));
    refLm = lmOutcome(join(work, 'lmref'));
  });

  after(() => {
    const lines = ['| run | killed at (LLMREC_TEST_KILL_AT) | moment | killed | resumed | final metrics identical | stale lock taken over | temp entries removed | leftovers after resume |', '|---|---|---|---|---|---|---|---|---|'];
    for (const r of rows) {
      const yn = (v: boolean | null) => (v === null ? '-' : v ? 'yes' : 'NO');
      lines.push(`| ${r.c.run} | \`${r.c.point}\` | ${r.c.what} | ${yn(r.killed)} | ${yn(r.resumed)} | ${yn(r.identical)} | ${r.killed ? yn(r.tookOver) : '-'} | ${r.killed ? r.cleaned : '-'} | ${r.left.join(', ') || 'none'} |`);
    }
    const k = rows.filter((r) => r.killed);
    lines.push('', `${rows.length} cases, ${k.length} killed at the point, ${k.filter((r) => r.identical).length} of them resumed to identical final metrics`);
    console.log(lines.join('\n'));
    rmSync(work, { recursive: true, force: true });
  });

  // Two cases at a time (each is a chain of two processes).
  for (let i = 0; i < CASES.length; i += 2) {
    const pair = CASES.slice(i, i + 2);
    it(pair.map((c) => `${c.run} ${c.point}`).join(' + '), async () => {
      const res = await Promise.all(pair.map((c, j) => runCase(c, i + j)));
      rows.push(...res);
      for (const r of res) {
        assert.ok(r.killed, `${r.c.point}: the run never reached the kill point`);
        assert.equal(r.identical, true, `${r.c.point}: the resumed run's final metrics differ from the uninterrupted run's`);
        assert.equal(r.tookOver, true, `${r.c.point}: the resume did not report taking over the dead process's lock`);
        assert.deepEqual(r.left, [], `${r.c.point}: leftovers after the resume`);
      }
    });
  }

  it('the reference runs left no lock or temp file', () => {
    assert.deepEqual(leftovers(join(work, 'runs', 'ref')), []);
    assert.deepEqual(leftovers(join(work, 'lmref')), []);
    assert.ok(existsSync(join(work, 'runs', 'ref', 'results.md')));
  });
});
