/**
 * OpenBLAS core check at addon load (docs/PERF.md "OpenBLAS core check").
 *
 * OpenBLAS built with DYNAMIC_ARCH picks its kernels ("core") once, when the
 * shared library initialises, from cpuid; older releases do not know newer
 * CPUs and fall back to generic SSE kernels (Debian's 0.3.21 reported
 * `Prescott` on an AVX-512 Xeon: ~3x slower than `SkylakeX`). The core can only
 * be chosen through OPENBLAS_CORETYPE before the library is loaded, and a
 * process cannot load it twice; so the library's default core, and any other
 * core we consider, is probed in a short child process (self-test and one
 * timed GEMM), the choice is cached in build/blas-core.json, and the parent
 * sets OPENBLAS_CORETYPE before it loads the addon and re-runs the self-test.
 *
 * Some OpenBLAS builds compute wrong results on some processors, hence the
 * numerical self-test against a float64 triple loop (transposed and odd shapes,
 * a batched call) before any core is used.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The GEMM entry the self-test exercises (a subset of the addon's interface). */
export interface SgemmLike {
  sgemmBatched(
    transA: boolean, transB: boolean, M: number, N: number, K: number, batch: number,
    A: Float32Array, offA: number, strideA: number,
    B: Float32Array, offB: number, strideB: number,
    C: Float32Array, offC: number, strideC: number,
    alpha: number, beta: number,
  ): void;
}

export interface SelfTestResult {
  ok: boolean;
  /** Largest |error| / (sum_k |a_ik b_kj| + 1e-30) over all checked entries. */
  maxRelErr: number;
  detail: string;
}

export interface CpuFeatures {
  vendor: string;
  model: string;
  /** 0: none of the below, 1: AVX, 2: AVX2 + FMA, 3: AVX-512 F/BW/DQ/VL. */
  level: number;
  flags: string[];
  source: string;
}

/**
 * Self-test of sgemmBatched against a float64 triple loop. With `corrupt`
 * (LLMREC_BLAS_SELFTEST_FAIL=1, for tests only) one reference entry is
 * perturbed so the check must fail. Self-contained on purpose: its source is
 * also run in the probe child process (see probeScript).
 */
export function blasSelfTest(blas: SgemmLike, corrupt: boolean): SelfTestResult {
  // [M, N, K, transA, transB, batch]: square, odd, transposed, vector-like, batched.
  const shapes: Array<[number, number, number, boolean, boolean, number]> = [
    [1, 1, 1, false, false, 1], [7, 13, 5, false, true, 1], [33, 17, 65, true, false, 1],
    [64, 64, 64, true, true, 1], [130, 70, 257, false, false, 1], [1, 301, 19, false, true, 1],
    [23, 9, 40, false, false, 3],
  ];
  let seed = 12345;
  const rnd = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return ((seed >>> 8) / 16777216) * 2 - 1;
  };
  let maxRelErr = 0;
  let bad = '';
  for (const [M, N, K, tA, tB, batch] of shapes) {
    const A = new Float32Array(batch * M * K).map(rnd);
    const B = new Float32Array(batch * K * N).map(rnd);
    const C = new Float32Array(batch * M * N).fill(Number.NaN);
    blas.sgemmBatched(tA, tB, M, N, K, batch, A, 0, M * K, B, 0, K * N, C, 0, M * N, 1, 0);
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let ref = 0;
          let mag = 0;
          for (let k = 0; k < K; k++) {
            const a = A[b * M * K + (tA ? k * M + i : i * K + k)];
            const bb = B[b * K * N + (tB ? j * K + k : k * N + j)];
            ref += a * bb;
            mag += Math.abs(a * bb);
          }
          if (corrupt && b === 0 && i === 0 && j === 0) ref += 1 + mag;
          const err = Math.abs(C[b * M * N + i * N + j] - ref) / (mag + 1e-30);
          if (!(err <= maxRelErr)) maxRelErr = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err;
          if (!(err <= 1e-5) && !bad) {
            bad = `C[${b},${i},${j}] = ${C[b * M * N + i * N + j]} vs ${ref} for ${M}x${N}x${K}` +
              `${tA ? ' transA' : ''}${tB ? ' transB' : ''}${batch > 1 ? ` batch ${batch}` : ''}`;
          }
        }
      }
    }
  }
  return bad
    ? { ok: false, maxRelErr, detail: `wrong result: ${bad}${corrupt ? ' (reference corrupted by LLMREC_BLAS_SELFTEST_FAIL=1)' : ''}` }
    : { ok: true, maxRelErr, detail: `${shapes.length} shapes within 1e-5 of a float64 reference` };
}

/** GFLOPS of one 256^3 sgemm (best of 3 after a warm-up), on the caller's thread policy. */
export function measureGflops(blas: SgemmLike): number {
  const n = 256;
  const A = new Float32Array(n * n).fill(0.5);
  const B = new Float32Array(n * n).fill(0.25);
  const C = new Float32Array(n * n);
  blas.sgemmBatched(false, false, n, n, n, 1, A, 0, 0, B, 0, 0, C, 0, 0, 1, 0);
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    blas.sgemmBatched(false, false, n, n, n, 1, A, 0, 0, B, 0, 0, C, 0, 0, 1, 0);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return Math.round((2 * n * n * n) / Math.max(best, 1e-9) / 1e8) / 10;
}

const AVX512_CORES = new Set(['SkylakeX', 'Cooperlake', 'SapphireRapids']);
const AVX2_CORES = new Set(['Haswell', 'Zen']);
const AVX_CORES = new Set(['Sandybridge', 'Bulldozer', 'Piledriver', 'Steamroller', 'Excavator']);

/** Vector level a core's kernels use (see CpuFeatures.level); unknown names count as generic (0). */
export function coreLevel(core: string): number {
  const c = core.trim();
  const norm = [...AVX512_CORES, ...AVX2_CORES, ...AVX_CORES].find((k) => k.toLowerCase() === c.toLowerCase());
  if (norm == null) return 0;
  return AVX512_CORES.has(norm) ? 3 : AVX2_CORES.has(norm) ? 2 : 1;
}

/** CPU vector features from /proc/cpuinfo text (Linux); level 0 and source 'unknown' elsewhere. */
export function parseCpuinfo(text: string): CpuFeatures {
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const flags = new Set(field('flags').split(/\s+/).filter(Boolean));
  const has = (...f: string[]) => f.every((x) => flags.has(x));
  const level = has('avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx2', 'fma') ? 3
    : has('avx2', 'fma') ? 2 : has('avx') ? 1 : 0;
  const interesting = ['avx', 'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512_bf16'];
  return {
    vendor: field('vendor_id'), model: field('model name'), level,
    flags: interesting.filter((f) => flags.has(f)), source: flags.size > 0 ? '/proc/cpuinfo' : 'unknown',
  };
}

export function cpuFeatures(): CpuFeatures {
  try {
    return parseCpuinfo(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return { vendor: '', model: '', level: 0, flags: [], source: 'unknown' };
  }
}

/**
 * Cores worth trying, best first, when the library's own choice uses fewer
 * vector features than the CPU has (a generic core on an AVX2 CPU, or an AVX2
 * core on an AVX-512 CPU); [] when its choice fits or the CPU is unknown.
 * The later entries are the fallbacks.
 */
export function betterCores(defaultCore: string, cpu: CpuFeatures): string[] {
  if (cpu.level < 2 || coreLevel(defaultCore) >= cpu.level) return [];
  const avx2 = cpu.vendor === 'AuthenticAMD' ? 'Zen' : 'Haswell';
  const avx512 = cpu.flags.includes('avx512_bf16') ? 'Cooperlake' : 'SkylakeX';
  const out = cpu.level >= 3 ? [avx512, ...(avx512 === 'Cooperlake' ? ['SkylakeX'] : []), avx2] : [avx2];
  return out.filter((c) => coreLevel(c) > coreLevel(defaultCore));
}

export interface ProbeResult {
  /** OPENBLAS_CORETYPE given to the child ('' = the library's own choice). */
  requested: string;
  ok: boolean;
  corename?: string;
  config?: string;
  selfTest?: SelfTestResult;
  gflops?: number;
  error?: string;
}

/** The probe child's CommonJS source: load the addon, report core, self-test and GFLOPS as JSON. */
function probeScript(addonPath: string, corrupt: boolean): string {
  return [
    // tsx/esbuild may wrap nested functions in __name(fn, 'name') (keepNames).
    'const __name = (f) => f;',
    `const blasSelfTest = ${blasSelfTest.toString()};`,
    `const measureGflops = ${measureGflops.toString()};`,
    `const a = require(${JSON.stringify(addonPath)});`,
    'a.setThreadPolicy(1, 1e30);',
    `const st = blasSelfTest(a, ${corrupt});`,
    'const i = a.info();',
    'process.stdout.write(JSON.stringify({ corename: i.corename, config: i.config, selfTest: st, gflops: st.ok ? measureGflops(a) : undefined }));',
  ].join('\n');
}

/** Loads the addon in a child process with OPENBLAS_CORETYPE=core ('' for the default) and tests it. */
export function probeCore(addonPath: string, core: string, corrupt: boolean): ProbeResult {
  const env = { ...process.env };
  if (core) env.OPENBLAS_CORETYPE = core;
  else delete env.OPENBLAS_CORETYPE;
  env.OPENBLAS_NUM_THREADS = '1';
  const res = spawnSync(process.execPath, ['-e', probeScript(addonPath, corrupt)], { env, encoding: 'utf8', timeout: 60_000 });
  if (res.error || res.status !== 0) {
    const why = res.error ? res.error.message : (res.stderr || `exit ${res.status}`).trim().split('\n').slice(-2).join(' | ');
    return { requested: core, ok: false, error: `probe process failed: ${why}` };
  }
  try {
    const r = JSON.parse(res.stdout) as Omit<ProbeResult, 'requested' | 'ok'>;
    return { requested: core, ok: r.selfTest?.ok === true, ...r };
  } catch {
    return { requested: core, ok: false, error: `probe printed no JSON: ${res.stdout.slice(0, 200)}` };
  }
}
