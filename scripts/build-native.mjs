#!/usr/bin/env node
// Builds the optional OpenBLAS GEMM addon (native/blas.c -> build/llmrec_blas.node).
//
// Runs on `npm install` (the package's own install script). It never fails the
// install: when no C compiler, Node headers or OpenBLAS are present it records
// why in build/native-status.json and the engine runs on pure wasm kernels.
// Set LLMREC_NO_NATIVE=1 to skip the build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'build');
const target = join(outDir, 'llmrec_blas.node');
const statusFile = join(outDir, 'native-status.json');
mkdirSync(outDir, { recursive: true });

function record(status) {
  const tmp = `${statusFile}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ ...status, at: new Date().toISOString() }, null, 2) + '\n');
  renameSync(tmp, statusFile);
  const msg = status.built
    ? `llmrec: native OpenBLAS addon built (${target})`
    : `llmrec: native OpenBLAS addon not built (${status.reason}); the engine will use pure wasm kernels`;
  console.log(msg);
}

if (process.env.LLMREC_NO_NATIVE === '1') {
  record({ built: false, reason: 'LLMREC_NO_NATIVE=1' });
  process.exit(0);
}

const headerDirs = [
  join(dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter((d) => existsSync(join(d, 'node_api.h')));
if (headerDirs.length === 0) {
  record({ built: false, reason: 'Node headers (node_api.h) not found' });
  process.exit(0);
}

const cc = process.env.CC || 'cc';
const tmpOut = `${target}.tmp-${process.pid}`;
const args = [
  '-O3', '-fno-math-errno', '-shared', '-fPIC', '-Wall',
  `-I${headerDirs[0]}`,
  '-DNODE_GYP_MODULE_NAME=llmrec_blas',
  join(root, 'native', 'blas.c'),
  join(root, 'native', 'kernels.c'),
  '-o', tmpOut,
  '-lopenblas', '-lm',
];
// Built on the machine that runs it, so tune for its CPU; compilers that do
// not know -march=native get a second, portable attempt.
let res = spawnSync(cc, ['-march=native', ...args], { encoding: 'utf8' });
if (res.error || res.status !== 0) res = spawnSync(cc, args, { encoding: 'utf8' });
else args.unshift('-march=native');
if (res.error || res.status !== 0) {
  rmSync(tmpOut, { force: true });
  const detail = res.error ? res.error.message : (res.stderr || '').trim().split('\n').slice(-3).join(' | ');
  const hint = /cblas\.h|lopenblas/.test(detail) ? ' (install libopenblas-dev)' : '';
  record({ built: false, reason: `${cc} failed: ${detail}${hint}`, command: [cc, ...args].join(' ') });
  process.exit(0);
}
renameSync(tmpOut, target);
record({ built: true, command: [cc, ...args].join(' ') });
