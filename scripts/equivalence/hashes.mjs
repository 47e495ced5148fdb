#!/usr/bin/env node
// Behaviour fingerprint of the upper floors (issue 13): runs a seeded ml-100k
// benchmark, the tiny GANPrompt pipeline and the tiny RecSysLLM pipeline
// through the CLI and prints a SHA-256 of each run's metrics, with timings,
// memory and the echoed options left out. A refactor that must not change
// behaviour gives the same three hashes before and after (same engine path:
// run with LLMREC_NATIVE=off, or with the addon both times).
//
//   node scripts/equivalence/hashes.mjs [OUT_DIR]       (default: a temp dir)
//   node scripts/equivalence/hashes.mjs --only ganprompt,recsysllm
//   node scripts/equivalence/hashes.mjs OUT_DIR --no-run   (hash runs already in OUT_DIR)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const args = process.argv.slice(2);
const noRun = args.includes('--no-run');
if (noRun) args.splice(args.indexOf('--no-run'), 1);
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args.splice(onlyAt, 2)[1].split(',') : ['ml100k', 'ganprompt', 'recsysllm'];
const out = resolve(args[0] ?? mkdtempSync(join(tmpdir(), 'llmrec-eq-')));
const cli = join(root, 'dist', 'cli', 'main.js');

/** Keys that vary between identical runs or echo options rather than results. */
const VOLATILE = /seconds|secs|elapsed|wall|rss|mib|time|date|started|finished|persecond|^ms$|^options$|^config$|^dir$|path|version|^engine$|^files$/i;
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) if (!VOLATILE.test(k)) o[k] = canonical(v[k]);
    return o;
  }
  return v;
}
function hashOf(file) {
  const json = canonical(JSON.parse(readFileSync(file, 'utf8')));
  return createHash('sha256').update(JSON.stringify(json)).digest('hex');
}
function run(argv) {
  if (noRun) return;
  const r = spawnSync(process.execPath, [cli, ...argv], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
  if (r.status !== 0) throw new Error(`llmrec ${argv.join(' ')} exited ${r.status}`);
}

const cases = {
  ml100k: () => {
    run(['benchmark', '--data', 'ml-100k', '--models', 'random,pop,bprmf,gru4rec,sasrec', '--epochs', '3', '--seed', '7', '--protocols', 'sampled,full', '--runs-dir', out, '--name', 'ml100k']);
    return join(out, 'ml100k', 'metrics.json');
  },
  ganprompt: () => {
    run(['run', 'ganprompt', '-c', join(here, 'ganprompt-tiny.json'), '--out', join(out, 'ganprompt')]);
    return join(out, 'ganprompt', 'report.json');
  },
  recsysllm: () => {
    run(['run', 'recsysllm', '-c', join(here, 'recsysllm-tiny.json'), '--out', join(out, 'recsysllm')]);
    return join(out, 'recsysllm', 'report.json');
  },
};
// The expected hashes (wasm path; the last line per case counts), to compare against.
const expected = Object.fromEntries(readFileSync(join(here, 'expected.txt'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((l) => l.trim().split(/\s+/)));
for (const name of only) {
  if (!cases[name]) throw new Error(`unknown case '${name}' (one of ${Object.keys(cases).join(', ')})`);
  const h = hashOf(cases[name]());
  console.log(`${name.padEnd(10)} ${h} ${h === expected[name] ? 'same as scripts/equivalence/expected.txt' : 'DIFFERS from scripts/equivalence/expected.txt'}`);
}
