/**
 * OpenBLAS core check at addon load (src/engine/blas_check.ts, native.ts):
 * CPU feature parsing, the core choice, the numerical self-test, and the
 * fallback to pure wasm when the self-test fails (forced with
 * LLMREC_BLAS_SELFTEST_FAIL=1 in a child process, since a process loads the
 * addon once).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { betterCores, blasSelfTest, coreLevel, parseCpuinfo, type SgemmLike } from '../src/engine/blas_check.js';
import { MALLOC_POLICY, mallocPolicy, packageRoot } from '../src/engine/native.js';

const cpuinfo = (vendor: string, flags: string) => `processor\t: 0\nvendor_id\t: ${vendor}\nmodel name\t: Test CPU\nflags\t\t: ${flags}\n`;
const AVX512 = 'fpu sse sse2 avx avx2 fma avx512f avx512bw avx512dq avx512vl';

describe('CPU features and core choice', () => {
  it('parses vector levels from /proc/cpuinfo text', () => {
    assert.equal(parseCpuinfo(cpuinfo('GenuineIntel', AVX512)).level, 3);
    assert.equal(parseCpuinfo(cpuinfo('GenuineIntel', 'sse2 avx avx2 fma')).level, 2);
    assert.equal(parseCpuinfo(cpuinfo('GenuineIntel', 'sse2 avx')).level, 1);
    assert.equal(parseCpuinfo(cpuinfo('GenuineIntel', 'sse2')).level, 0);
    // avx512f alone (no BW/DQ/VL, e.g. Knights Landing) is not SkylakeX-capable.
    assert.equal(parseCpuinfo(cpuinfo('GenuineIntel', 'avx avx2 fma avx512f')).level, 2);
    const none = parseCpuinfo('');
    assert.equal(none.level, 0);
    assert.equal(none.source, 'unknown');
  });

  it('ranks OpenBLAS core names', () => {
    assert.equal(coreLevel('Prescott'), 0);
    assert.equal(coreLevel('Core2'), 0);
    assert.equal(coreLevel('Sandybridge'), 1);
    assert.equal(coreLevel('Haswell'), 2);
    assert.equal(coreLevel('zen'), 2);
    assert.equal(coreLevel('SkylakeX'), 3);
    assert.equal(coreLevel('Cooperlake'), 3);
  });

  it('switches a generic core to one the CPU supports, and keeps a fitting one', () => {
    const xeon = parseCpuinfo(cpuinfo('GenuineIntel', AVX512));
    assert.deepEqual(betterCores('Prescott', xeon), ['SkylakeX', 'Haswell']);
    assert.deepEqual(betterCores('Haswell', xeon), ['SkylakeX']);
    assert.deepEqual(betterCores('SkylakeX', xeon), []);
    const epyc2 = parseCpuinfo(cpuinfo('AuthenticAMD', 'sse2 avx avx2 fma'));
    assert.deepEqual(betterCores('Prescott', epyc2), ['Zen']);
    assert.deepEqual(betterCores('Zen', epyc2), []);
    const zen4 = parseCpuinfo(cpuinfo('AuthenticAMD', `${AVX512} avx512_bf16`));
    assert.deepEqual(betterCores('Katmai', zen4), ['Cooperlake', 'SkylakeX', 'Zen']);
    // A CPU without AVX2, or unknown features: nothing to gain.
    assert.deepEqual(betterCores('Prescott', parseCpuinfo(cpuinfo('GenuineIntel', 'sse2 avx'))), []);
    assert.deepEqual(betterCores('Prescott', parseCpuinfo('')), []);
  });
});

/** A correct reference sgemm in JS; `bug` makes it ignore transB, as a miscompiled kernel might. */
function jsSgemm(bug = false): SgemmLike {
  return {
    sgemmBatched(tA, tB, M, N, K, batch, A, offA, sA, B, offB, sB, C, offC, sC, alpha, beta) {
      const tb = bug ? false : tB;
      for (let b = 0; b < batch; b++) {
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let k = 0; k < K; k++) {
              s += A[offA + b * sA + (tA ? k * M + i : i * K + k)] * B[offB + b * sB + (tb ? j * K + k : k * N + j)];
            }
            const c = offC + b * sC + i * N + j;
            C[c] = alpha * s + (beta === 0 ? 0 : beta * C[c]);
          }
        }
      }
    },
  };
}

describe('GEMM self-test', () => {
  it('passes a correct sgemm with a small relative error', () => {
    const r = blasSelfTest(jsSgemm(), false);
    assert.equal(r.ok, true, r.detail);
    assert.ok(r.maxRelErr < 1e-6, `maxRelErr ${r.maxRelErr}`);
  });

  it('fails an sgemm that computes wrong products, naming the shape', () => {
    const r = blasSelfTest(jsSgemm(true), false);
    assert.equal(r.ok, false);
    assert.match(r.detail, /transB/);
  });

  it('fails when the reference is corrupted on purpose', () => {
    const r = blasSelfTest(jsSgemm(), true);
    assert.equal(r.ok, false);
    assert.match(r.detail, /LLMREC_BLAS_SELFTEST_FAIL/);
  });
});

const addonBuilt = existsSync(join(packageRoot, 'build', 'llmrec_blas.node'));

/** Starts a fresh process that initialises the engine and prints engineInfo() as JSON. */
function engineInChild(env: Record<string, string | undefined>): { matmulPath: string; native: { loaded: boolean; reason?: string; malloc?: { tuned: boolean; detail: string }; blas?: { decision: string; reason: string; core: string; selfTest?: { ok: boolean }; gflops?: number } } } {
  const script = `import { initEngine, engineInfo } from ${JSON.stringify(join(packageRoot, 'src', 'engine', 'index.ts'))};
await initEngine();
process.stdout.write(JSON.stringify(engineInfo()));`;
  // These tests are about loading the addon: the child loads it even when the suite runs with LLMREC_NATIVE=off.
  const childEnv: Record<string, string | undefined> = { ...process.env, LLMREC_BLAS_THREADS: '1', LLMREC_NATIVE: 'auto', ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: packageRoot, env: childEnv as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 120_000,
  });
  assert.equal(res.status, 0, `child failed: ${res.stderr}`);
  return JSON.parse(res.stdout);
}

describe('allocator policy (docs/PERF.md, "Fresh memory")', () => {
  it('applies by default; off with LLMREC_MALLOC_TUNE=0; left to the user who set glibc\'s own settings', () => {
    assert.deepEqual(mallocPolicy({}), { apply: true, reason: 'default' });
    assert.deepEqual(mallocPolicy({ LLMREC_MALLOC_TUNE: '1', MALLOC_ARENA_MAX: '2' }), { apply: true, reason: 'default' });
    assert.equal(mallocPolicy({ LLMREC_MALLOC_TUNE: '0' }).apply, false);
    assert.deepEqual(mallocPolicy({ MALLOC_TRIM_THRESHOLD_: '1', GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1' }),
      { apply: false, reason: "left to the user's GLIBC_TUNABLES, MALLOC_TRIM_THRESHOLD_" });
    assert.ok(MALLOC_POLICY.mmapThreshold <= MALLOC_POLICY.trimThreshold);
  });
});

describe('addon load with the core check', { skip: addonBuilt ? false : 'native addon not built' }, () => {
  it('loads with a passing self-test and records core, GFLOPS and decision', () => {
    const info = engineInChild({ LLMREC_BLAS_SELFTEST_FAIL: undefined });
    assert.equal(info.matmulPath, 'blas');
    const bc = info.native.blas!;
    assert.ok(bc.core.length > 0);
    assert.equal(bc.selfTest?.ok, true);
    assert.ok((bc.gflops ?? 0) > 0);
    assert.ok(bc.decision.length > 0 && bc.reason.length > 0);
  });

  it('tunes the allocator at load (glibc), and not when told otherwise', { skip: process.platform === 'linux' ? false : 'glibc only' }, () => {
    const on = engineInChild({ LLMREC_MALLOC_TUNE: undefined, MALLOC_TRIM_THRESHOLD_: undefined, MALLOC_MMAP_THRESHOLD_: undefined, MALLOC_TOP_PAD_: undefined, GLIBC_TUNABLES: undefined });
    assert.equal(on.native.malloc?.tuned, true, JSON.stringify(on.native.malloc));
    assert.match(on.native.malloc!.detail, /mmap threshold 64 MiB, trim threshold 256 MiB, top pad 64 MiB/);
    const off = engineInChild({ LLMREC_MALLOC_TUNE: '0' });
    assert.deepEqual(off.native.malloc, { tuned: false, detail: 'LLMREC_MALLOC_TUNE=0' });
  });

  it('falls back to pure wasm, reason recorded, when the self-test fails (library default core)', () => {
    const info = engineInChild({ LLMREC_BLAS_SELFTEST_FAIL: '1', OPENBLAS_CORETYPE: undefined });
    assert.equal(info.matmulPath, 'wasm');
    assert.equal(info.native.loaded, false);
    assert.match(info.native.reason!, /self-test failed/);
    assert.equal(info.native.blas!.decision, 'pure wasm');
  });

  // Prescott (SSE3) runs on every x86-64 CPU; it is generic, and still kept because the user chose it.
  it('respects a user-set OPENBLAS_CORETYPE, and still falls back when its self-test fails',
    { skip: process.arch === 'x64' ? false : 'x86-64 core names only' }, () => {
      const ok = engineInChild({ LLMREC_BLAS_SELFTEST_FAIL: undefined, OPENBLAS_CORETYPE: 'Prescott' });
      assert.equal(ok.native.blas!.decision, 'user-set OPENBLAS_CORETYPE');
      assert.equal(ok.native.blas!.core.toLowerCase(), 'prescott');
      assert.equal(ok.matmulPath, 'blas');
      const bad = engineInChild({ LLMREC_BLAS_SELFTEST_FAIL: '1', OPENBLAS_CORETYPE: 'Prescott' });
      assert.equal(bad.matmulPath, 'wasm');
      assert.match(bad.native.reason!, /self-test failed on core Prescott/);
    });
});
