/**
 * Loader for the optional OpenBLAS GEMM addon (native/blas.c, built by
 * scripts/build-native.mjs on `npm install`). When it is missing or fails to
 * load, or fails its OpenBLAS self-test, the engine runs on pure wasm kernels;
 * the status says why, and `blas` records the OpenBLAS core check.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  betterCores, blasSelfTest, coreLevel, cpuFeatures, measureGflops, probeCore,
  type CpuFeatures, type ProbeResult, type SelfTestResult, type SgemmLike,
} from './blas_check.js';

/** The addon's interface: the GEMM the self-test exercises (blas_check.ts) and the fused kernels. */
export interface BlasAddon extends SgemmLike {
  softmaxXent(logits: Float32Array, labels: Int32Array, N: number, V: number, loss: Float32Array, probs: Float32Array): void;
  softmaxXentGrad(probs: Float32Array, labels: Int32Array, dy: Float32Array, N: number, V: number, out: Float32Array): void;
  swiglu(g: Float32Array, u: Float32Array, n: number, y: Float32Array): void;
  swigluGrad(dy: Float32Array, g: Float32Array, u: Float32Array, n: number, dg: Float32Array, du: Float32Array): void;
  layerNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, N: number, D: number, eps: number,
    y: Float32Array, mean: Float32Array, rstd: Float32Array): void;
  layerNormGrad(dy: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, gamma: Float32Array,
    N: number, D: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array): void;
  reduceMiddle(x: Float32Array, outer: number, R: number, inner: number, out: Float32Array, scale: number): void;
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, bc1: number, bc2: number, gradScale: number,
    pOut: Float32Array, mOut: Float32Array, vOut: Float32Array): void;
  gruCell(gx: Float32Array, gh: Float32Array, h: Float32Array, B: number, d: number, hOut: Float32Array, gates: Float32Array): void;
  gruCellGrad(dhNew: Float32Array, gates: Float32Array, gh: Float32Array, h: Float32Array, B: number, d: number,
    dgx: Float32Array, dgh: Float32Array, dh: Float32Array): void;
  segmentSum(x: Float32Array, ids: Int32Array, n: number, inner: number, numSegments: number, out: Float32Array): void;
  gatherRows(x: Float32Array, ids: Int32Array, n: number, inner: number, out: Float32Array): void;
  attnSoftmax(s: Float32Array, sOff: number, batch: number, Lq: number, Lk: number, scale: number,
    mask: Float32Array, mOff: number, base: Int32Array, rowStride: number, colStride: number, hasMask: number): void;
  attnSoftmaxGrad(heap: Float32Array, pOff: number, dpOff: number, rows: number, Lk: number, scale: number): void;
  setThreadPolicy(maxThreads: number, minFlopsForMaxThreads: number): void;
  info(): { config: string; corename: string; maxThreads: number; minFlopsForMaxThreads: number };
  tuneMalloc(mmapThreshold: number, trimThreshold: number, topPad: number): boolean;
}

const ADDON_FUNCTIONS = [
  'sgemmBatched', 'softmaxXent', 'softmaxXentGrad', 'swiglu', 'swigluGrad', 'layerNorm', 'layerNormGrad', 'reduceMiddle', 'adamw', 'gruCell', 'gruCellGrad', 'attnSoftmax', 'attnSoftmaxGrad', 'segmentSum', 'gatherRows', 'setThreadPolicy', 'info', 'tuneMalloc',
] as const satisfies ReadonlyArray<keyof BlasAddon>;

export interface NativeStatus {
  loaded: boolean;
  path: string;
  reason?: string;
  buildCommand?: string;
  /** OpenBLAS core check at load (src/engine/blas_check.ts); absent when the addon was not found. */
  blas?: BlasCoreCheck;
  /** The allocator settings made at load (mallocPolicy), absent when the addon was not loaded. */
  malloc?: { tuned: boolean; detail: string };
}

/**
 * glibc allocator settings applied through the addon at load (docs/PERF.md,
 * "Fresh memory"): large blocks (masks, read-backs, copies: up to 32 MiB) come
 * from the heap instead of fresh mmaps, and up to 128 MiB of freed heap stays
 * mapped, so that their pages do not fault in again on every training step.
 * Off with LLMREC_MALLOC_TUNE=0, and left alone when the user set glibc's own
 * MALLOC_*_ variables or GLIBC_TUNABLES.
 */
export const MALLOC_POLICY = { mmapThreshold: 64 * 2 ** 20, trimThreshold: 256 * 2 ** 20, topPad: 64 * 2 ** 20 } as const;

/**
 * glibc's environment variables for MALLOC_POLICY, for a process about to be
 * started (src/util/relaunch.ts): empty when the addon will set the policy
 * itself (built and not disabled), when the policy does not apply, or off
 * glibc.
 */
export function mallocEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  if (process.platform !== 'linux' || !mallocPolicy(env).apply) return {};
  if (env.LLMREC_NATIVE !== 'off' && existsSync(addonPath)) return {};
  // (The report is asked last: it takes some milliseconds.)
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  if (!glibc) return {};
  return {
    MALLOC_MMAP_THRESHOLD_: String(MALLOC_POLICY.mmapThreshold),
    MALLOC_TRIM_THRESHOLD_: String(MALLOC_POLICY.trimThreshold),
    MALLOC_TOP_PAD_: String(MALLOC_POLICY.topPad),
  };
}

/** Whether to apply MALLOC_POLICY in this environment, and why not. */
export function mallocPolicy(env: NodeJS.ProcessEnv): { apply: boolean; reason: string } {
  if (env.LLMREC_MALLOC_TUNE === '0') return { apply: false, reason: 'LLMREC_MALLOC_TUNE=0' };
  const own = Object.keys(env).filter((k) => ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_', 'GLIBC_TUNABLES'].includes(k));
  if (own.length > 0) return { apply: false, reason: `left to the user's ${own.sort().join(', ')}` };
  return { apply: true, reason: 'default' };
}

export interface BlasCoreCheck {
  cpu: { model: string; vendor: string; level: number; flags: string[]; source: string };
  /** Core OpenBLAS picks by itself on this CPU (from a probe process; '' if unknown). */
  defaultCore: string;
  /** Core in use (after OPENBLAS_CORETYPE), '' when the addon is not used. */
  core: string;
  /** GFLOPS of one 256^3 sgemm on 1 thread, measured at load (an upper bound on a shared machine). */
  gflops?: number;
  selfTest?: SelfTestResult;
  /** 'library default' | 'switched core' | 'user-set OPENBLAS_CORETYPE' | 'pure wasm'. */
  decision: string;
  reason: string;
  /** Cores tried in probe processes, in order (from the cache when `cached`). */
  probes: ProbeResult[];
  cached: boolean;
}

/** Package root: src/engine and dist/engine are both two levels below it. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = join(packageRoot, 'build', 'llmrec_blas.node');
const coreCacheFile = join(packageRoot, 'build', 'blas-core.json');

let cached: { addon: BlasAddon | null; status: NativeStatus } | undefined;

function buildRecord(): { built?: boolean; reason?: string; command?: string } {
  const f = join(packageRoot, 'build', 'native-status.json');
  if (!existsSync(f)) return {};
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as { built?: boolean; reason?: string; command?: string };
  } catch {
    return {};
  }
}

interface CorePlan {
  key: string;
  /** OPENBLAS_CORETYPE to set ('' = none); null = no core passed: use pure wasm. */
  chosen: string | null;
  defaultCore: string;
  decision: string;
  reason: string;
  probes: ProbeResult[];
}

function planKey(cpu: CpuFeatures): string {
  const st = statSync(addonPath);
  return JSON.stringify({ addon: [st.size, st.mtimeMs], abi: process.versions.modules, cpu: [cpu.model, cpu.level, cpu.flags] });
}

function readPlan(key: string): CorePlan | null {
  try {
    const p = JSON.parse(readFileSync(coreCacheFile, 'utf8')) as CorePlan;
    return p.key === key ? p : null;
  } catch {
    return null;
  }
}

function writePlan(plan: CorePlan): void {
  const tmp = `${coreCacheFile}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, JSON.stringify(plan, null, 2) + '\n');
    renameSync(tmp, coreCacheFile);
  } catch {
    rmSync(tmp, { force: true }); // a read-only install re-probes next time; not an error
  }
}

const probeLine = (p: ProbeResult) => `${p.requested || 'default'}${p.corename ? ` (${p.corename})` : ''}: ` +
  (p.error ?? (p.ok ? `ok, ${p.gflops} GFLOPS` : p.selfTest?.detail ?? 'failed'));

/**
 * Decides the OpenBLAS core by probing child processes (see blas_check.ts):
 * the library's default unless it is generic on a CPU with AVX2/AVX-512, then
 * the better cores first; a core whose self-test fails is skipped for the next.
 */
function planCore(cpu: CpuFeatures, corrupt: boolean): { plan: CorePlan; cached: boolean } {
  const key = planKey(cpu);
  const hit = corrupt ? null : readPlan(key);
  if (hit) return { plan: hit, cached: true };
  const probes: ProbeResult[] = [];
  const def = probeCore(addonPath, '', corrupt);
  probes.push(def);
  const defaultCore = def.corename ?? '';
  const better = defaultCore ? betterCores(defaultCore, cpu) : [];
  let plan: CorePlan;
  if (def.error) {
    // The probe could not run (no child processes?): load with the library's
    // choice; the in-process self-test still guards the results.
    plan = { key, chosen: '', defaultCore, decision: 'library default', reason: `core not probed (${def.error})`, probes };
  } else {
    // Better cores first; otherwise the default, then other cores as fallbacks.
    const fallbacks = [cpu.level >= 3 ? 'SkylakeX' : '', cpu.level >= 2 ? (cpu.vendor === 'AuthenticAMD' ? 'Zen' : 'Haswell') : '', 'Sandybridge', 'Prescott']
      .filter((c) => c && c.toLowerCase() !== defaultCore.toLowerCase() && coreLevel(c) <= cpu.level);
    const order = better.length > 0 ? [...better, ''] : ['', ...fallbacks.slice(0, 2)];
    let chosen: string | null = null;
    for (const c of order) {
      const p = c === '' ? def : probeCore(addonPath, c, corrupt);
      if (c !== '') probes.push(p);
      // OpenBLAS ignores an unknown OPENBLAS_CORETYPE: count that as a failure.
      if (p.ok && (c === '' || p.corename?.toLowerCase() === c.toLowerCase())) { chosen = c; break; }
    }
    const tried = probes.map(probeLine).join('; ');
    if (chosen == null) {
      plan = { key, chosen: null, defaultCore, decision: 'pure wasm', reason: `OpenBLAS self-test failed on every core tried (${tried})`, probes };
    } else if (chosen === '') {
      plan = {
        key, chosen, defaultCore, decision: 'library default', probes,
        reason: better.length > 0 ? `better cores failed (${tried})`
          : def.ok ? `${defaultCore} suits this CPU (vector level ${cpu.level}, ${cpu.flags.join(' ') || 'flags unknown'})` : tried,
      };
    } else {
      plan = {
        key, chosen, defaultCore, decision: 'switched core', probes,
        reason: better.length > 0 && better.includes(chosen)
          ? `OpenBLAS picked generic core ${defaultCore} on a CPU with ${cpu.flags.join(' ')}; ${chosen} passed the self-test (${tried})`
          : `the default core ${defaultCore} failed the self-test (${tried})`,
      };
    }
  }
  if (!corrupt) writePlan(plan);
  return { plan, cached: false };
}

function requireAddon(core: string): BlasAddon {
  const prev = process.env.OPENBLAS_CORETYPE;
  // OpenBLAS reads OPENBLAS_CORETYPE once, when the shared library initialises
  // (it is loaded with the addon); restore the environment afterwards so child
  // processes (PyTorch reference, probes) see the user's own setting.
  if (core) process.env.OPENBLAS_CORETYPE = core;
  try {
    return createRequire(import.meta.url)(addonPath) as BlasAddon;
  } finally {
    if (core && prev === undefined) delete process.env.OPENBLAS_CORETYPE;
    else if (core) process.env.OPENBLAS_CORETYPE = prev;
  }
}

/**
 * Loads the addon once. `LLMREC_NATIVE=off` disables it. Before loading, picks
 * the OpenBLAS core (planCore; a user-set OPENBLAS_CORETYPE is respected), and
 * after loading re-runs the self-test: an addon that fails it is not used.
 * LLMREC_BLAS_SELFTEST_FAIL=1 corrupts the self-test's reference (tests only).
 */
export function loadBlas(): { addon: BlasAddon | null; status: NativeStatus } {
  if (cached) return cached;
  const rec = buildRecord();
  if (process.env.LLMREC_NATIVE === 'off') {
    cached = { addon: null, status: { loaded: false, path: addonPath, reason: 'disabled by LLMREC_NATIVE=off' } };
    return cached;
  }
  if (!existsSync(addonPath)) {
    cached = {
      addon: null,
      status: {
        loaded: false, path: addonPath,
        reason: rec.reason ?? 'addon not built (run `node scripts/build-native.mjs`; needs a C compiler and libopenblas-dev)',
      },
    };
    return cached;
  }
  const corrupt = process.env.LLMREC_BLAS_SELFTEST_FAIL === '1';
  const cpu = cpuFeatures();
  const cpuInfo = { model: cpu.model, vendor: cpu.vendor, level: cpu.level, flags: cpu.flags, source: cpu.source };
  const userCore = process.env.OPENBLAS_CORETYPE;
  let plan: CorePlan;
  let wasCached = false;
  if (userCore) {
    plan = { key: '', chosen: '', defaultCore: '', decision: 'user-set OPENBLAS_CORETYPE', reason: `OPENBLAS_CORETYPE=${userCore} set by the user`, probes: [] };
  } else {
    try {
      ({ plan, cached: wasCached } = planCore(cpu, corrupt));
    } catch (e) {
      plan = { key: '', chosen: '', defaultCore: '', decision: 'library default', reason: `core check failed: ${(e as Error).message}`, probes: [] };
    }
  }
  const check: BlasCoreCheck = {
    cpu: cpuInfo, defaultCore: plan.defaultCore, core: '', decision: plan.decision, reason: plan.reason, probes: plan.probes, cached: wasCached,
  };
  const fail = (reason: string) => {
    check.decision = 'pure wasm';
    check.reason = reason;
    cached = { addon: null, status: { loaded: false, path: addonPath, reason, blas: check } };
    return cached;
  };
  if (plan.chosen == null) return fail(`${plan.reason}; running on pure wasm`);
  let addon: BlasAddon;
  try {
    addon = requireAddon(plan.chosen);
  } catch (e) {
    return fail(`load failed: ${(e as Error).message}`);
  }
  const missing = ADDON_FUNCTIONS.filter((f) => typeof (addon as unknown as Record<string, unknown>)[f] !== 'function');
  if (missing.length > 0) return fail(`stale build lacks ${missing.join(', ')} (run \`node scripts/build-native.mjs\`)`);
  const info = addon.info();
  check.core = info.corename;
  if (plan.chosen && info.corename.toLowerCase() !== plan.chosen.toLowerCase()) {
    // The library changed under a cached plan: probe again next time.
    rmSync(coreCacheFile, { force: true });
    check.reason += `; asked for ${plan.chosen} but OpenBLAS runs ${info.corename} (core cache cleared)`;
  }
  check.selfTest = blasSelfTest(addon, corrupt);
  if (!check.selfTest.ok) {
    return fail(`OpenBLAS self-test failed on core ${info.corename}: ${check.selfTest.detail}; running on pure wasm`);
  }
  addon.setThreadPolicy(1, Number.MAX_VALUE);
  check.gflops = measureGflops(addon);
  addon.setThreadPolicy(info.maxThreads, info.minFlopsForMaxThreads);
  const mp = mallocPolicy(process.env);
  const mb = (n: number) => `${n / 2 ** 20} MiB`;
  const malloc = !mp.apply
    ? { tuned: false, detail: mp.reason }
    : addon.tuneMalloc(MALLOC_POLICY.mmapThreshold, MALLOC_POLICY.trimThreshold, MALLOC_POLICY.topPad)
      ? { tuned: true, detail: `glibc mmap threshold ${mb(MALLOC_POLICY.mmapThreshold)}, trim threshold ${mb(MALLOC_POLICY.trimThreshold)}, top pad ${mb(MALLOC_POLICY.topPad)}` }
      : { tuned: false, detail: 'not glibc: allocator left as it is' };
  cached = { addon, status: { loaded: true, path: addonPath, buildCommand: rec.command, blas: check, malloc } };
  return cached;
}
