/**
 * The llmrec training engine: tfjs-core autodiff and optimizers on the wasm
 * backend, with project-owned kernels and an optional OpenBLAS GEMM addon.
 *
 * All llmrec code imports `tf` from here, never from tfjs directly, so that
 * the kernels below are registered before any op runs:
 *   - UnsortedSegmentSum (missing on wasm; gather's gradient),
 *   - BatchMatMul that never takes the slow transposed/batched path,
 *   - a block-copy GatherV2;
 *   - Slice, SplitV and Unpack that copy only the selected blocks.
 */
import { tf } from "./backend.js";
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { wasmBackend } from './backend.js';
import { batchMatMulConfig, matmulState, type MatmulPath } from './kernels/matmul.js';
import { gatherState, gatherV2Config } from './kernels/gather.js';
import { unsortedSegmentSumConfig } from './kernels/segment_sum.js';
import { concatConfig, concatState, packConfig, sliceConfig, sliceState, splitVConfig, unpackConfig } from './kernels/slice.js';
import { loadBlas, type NativeStatus } from './native.js';
import { xentConfigs } from './kernels/xent.js';
import { engineState } from './state.js';
import { castConfig, castState, identityConfig } from './kernels/identity.js';
import { meanConfig, reduceState, sumConfig } from './kernels/reduce.js';
import { binaryConfigs, binaryState } from './kernels/binary.js';
import { fusedConfigs } from './kernels/registry.js';
import { attentionConfigs } from './kernels/attention.js';
import { gemmThreads, setGemmThreadPolicy } from './kernels/wasm_threads.js';
import { attentionImpl, setAttentionImpl } from './ops.js';
import type { AttentionImpl } from './state.js';

export { tf };
export { fusedAttention, attentionReference, setAttentionImpl, attentionImpl, attentionDropoutKeep, dropoutMask, logSigmoid, causalMask, keyPaddingMask, causalPaddingMask, timestepMask, MASK_NEG, softmaxCrossEntropyWithLabels, fastTanh, layerNorm, rmsNorm, rope, swiglu, adamwStep, gruCell, gruSequence } from './ops.js';
export type { AdamWAttrs } from './kernels/adamw.js';
export type { AttentionOptions } from './ops.js';
export type { AttentionImpl } from './state.js';
export type { MatmulPath } from './kernels/matmul.js';
export { setGemmThreadPolicy, stopGemmWorker } from './kernels/wasm_threads.js';

export interface EngineOptions {
  /** 'auto' uses the OpenBLAS addon when it loads; 'off' never; 'require' fails without it. Env LLMREC_NATIVE. */
  native?: 'auto' | 'off' | 'require';
  /** Max OpenBLAS threads for large GEMMs (default 2). Env LLMREC_BLAS_THREADS. */
  blasThreads?: number;
  /** GEMMs below this many flops run on 1 thread (default 8e6). Env LLMREC_BLAS_MIN_FLOPS. */
  blasMinFlops?: number;
  /**
   * Threads for large GEMMs on the pure-wasm path: 1, or 2 (a worker thread;
   * default 2 when the machine has 2 or more cores, 1 when LLMREC_BLAS_THREADS
   * is 1). Env LLMREC_WASM_THREADS.
   */
  wasmThreads?: number;
  /** wasm-path GEMMs below this many flops stay on one thread (default WASM_MIN_FLOPS_DEFAULT = 2^24). Env LLMREC_WASM_MIN_FLOPS. */
  wasmMinFlops?: number;
  /** 'fused' (default) or 'reference' (the unfused composition): see setAttentionImpl. Env LLMREC_ATTENTION. */
  attention?: AttentionImpl;
}

export interface EngineInfo {
  backend: string;
  tfjsVersion: string;
  simd: boolean;
  /** Threads of the pure-wasm path's large GEMMs (tfjs-wasm itself runs its non-threaded build). */
  wasmThreads: number;
  /** Flops from which a wasm-path GEMM uses wasmThreads; why threads are off when a worker failed. */
  wasmMinFlops: number;
  wasmThreadsFailure?: string;
  /** What fusedAttention runs ('fused' kernels or the 'reference' composition). */
  attention: AttentionImpl;
  matmulPath: MatmulPath;
  native: NativeStatus & { openblas?: string; corename?: string; maxThreads?: number; minFlopsForMaxThreads?: number };
  kernels: string[];
}

const OWN_KERNELS: KernelConfig[] = [
  unsortedSegmentSumConfig, batchMatMulConfig, gatherV2Config, sliceConfig, splitVConfig, unpackConfig, concatConfig, packConfig,
  identityConfig, castConfig, sumConfig, meanConfig, ...binaryConfigs,
];
let initialised: Promise<EngineInfo> | null = null;
let nativeStatus: NativeStatus = { loaded: false, path: '', reason: 'engine not initialised' };

function override(config: KernelConfig): KernelConfig {
  const prev = tf.getKernel(config.kernelName, 'wasm');
  if (prev) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(config);
  return prev ?? { ...config, kernelFunc: () => { throw new Error(`no stock wasm kernel ${config.kernelName}`); } };
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v == null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got '${v}'`);
  return n;
}

async function doInit(opts: EngineOptions): Promise<EngineInfo> {
  const mode = opts.native ?? (process.env.LLMREC_NATIVE as EngineOptions['native']) ?? 'auto';
  if (!['auto', 'off', 'require'].includes(mode)) throw new Error(`LLMREC_NATIVE must be auto, off or require, got '${mode}'`);
  // Stock kernels we delegate to, captured before our overrides replace them.
  matmulState.stockTranspose = tf.getKernel('Transpose', 'wasm')!.kernelFunc;
  matmulState.stockReshape = tf.getKernel('Reshape', 'wasm')!.kernelFunc;
  const stockList = OWN_KERNELS.map(override);
  const stock = new Map(stockList.map((k) => [k.kernelName, k.kernelFunc]));
  for (const k of [...xentConfigs, ...fusedConfigs, ...attentionConfigs]) if (!tf.getKernel(k.kernelName, k.backendName)) tf.registerKernel(k);
  matmulState.stockBatchMatMul = stock.get('BatchMatMul')!;
  gatherState.stock = stock.get('GatherV2')!;
  sliceState.stock = stock.get('Slice')!;
  concatState.stockConcat = stock.get('Concat')!;
  concatState.stockPack = stock.get('Pack')!;
  castState.stock = stock.get('Cast')!;
  reduceState.stockSum = stock.get('Sum')!;
  reduceState.stockMean = stock.get('Mean')!;
  for (const c of binaryConfigs) binaryState.stock.set(c.kernelName, stock.get(c.kernelName)!);

  if (!(await tf.setBackend('wasm'))) throw new Error('llmrec engine: the tfjs wasm backend failed to initialise');
  await tf.ready();
  // The backend ran the setup of the kernels registered at init (ours); the
  // stock kernels we delegate to still need theirs (they bind wasm functions).
  const backend = wasmBackend();
  for (const k of stockList) k.setupFunc?.(backend as unknown as tf.KernelBackend);

  if (mode === 'off') {
    nativeStatus = { loaded: false, path: '', reason: 'disabled (native: off)' };
  } else {
    const { addon, status } = loadBlas();
    nativeStatus = status;
    if (addon) {
      addon.setThreadPolicy(
        opts.blasThreads ?? envNumber('LLMREC_BLAS_THREADS') ?? 2,
        opts.blasMinFlops ?? envNumber('LLMREC_BLAS_MIN_FLOPS') ?? 8e6);
      engineState.addon = addon;
    } else if (mode === 'require') {
      throw new Error(`llmrec engine: the OpenBLAS addon is required but unavailable: ${status.reason}`);
    }
  }
  engineState.path = engineState.addon ? 'blas' : 'wasm';
  // Default: two threads on a machine with two cores, one when LLMREC_BLAS_THREADS asks for one
  // (jobs sharing the machine). Threshold WASM_MIN_FLOPS_DEFAULT, measured (docs/PERF.md).
  const blasThreadsEnv = envNumber('LLMREC_BLAS_THREADS');
  setGemmThreadPolicy(
    opts.wasmThreads ?? envNumber('LLMREC_WASM_THREADS') ?? Math.min(2, availableParallelism(), blasThreadsEnv ?? 2),
    opts.wasmMinFlops ?? envNumber('LLMREC_WASM_MIN_FLOPS') ?? WASM_MIN_FLOPS_DEFAULT);
  const attention = opts.attention ?? (process.env.LLMREC_ATTENTION as AttentionImpl | undefined);
  if (attention) setAttentionImpl(attention);
  return engineInfo();
}

/**
 * Flops from which a pure-wasm GEMM is split over two threads: 2^24 (about
 * 16.8M). Measured alone with bench/threads.mjs (docs/PERF.md, "Two cores on
 * the pure-wasm path") after the worker stopped waiting for postMessage:
 * two threads gain from [512, 128] x [128, 128] (16.8M flops, x1.4-1.8) up;
 * at [256, 128] x [128, 128] (8.4M) they lose (x0.5). Before (a job per
 * postMessage) the threshold was 2^27.
 */
export const WASM_MIN_FLOPS_DEFAULT = 2 ** 24;

/** Initialises the engine once (idempotent); later calls return the first result. */
export function initEngine(opts: EngineOptions = {}): Promise<EngineInfo> {
  if (!initialised) initialised = doInit(opts);
  return initialised;
}

/**
 * Switches the engine between the native addon (OpenBLAS matmul and the C
 * kernels) and pure wasm/JS kernels, for benchmarks and tests.
 */
export function setMatmulPath(path: MatmulPath): void {
  if (path === 'blas' && !engineState.addon) throw new Error(`OpenBLAS addon unavailable: ${nativeStatus.reason}`);
  engineState.path = path;
}

export function nativeAvailable(): boolean {
  return engineState.addon != null;
}

/** The native addon itself (for benchmarks that call OpenBLAS directly). */
export function blasAddon() {
  return engineState.addon;
}

/** What the engine is running on: backend, SIMD, threads, matmul path, native addon. */
export function engineInfo(): EngineInfo {
  const blasInfo = engineState.addon?.info();
  return {
    backend: tf.getBackend(),
    tfjsVersion: tf.version_core,
    simd: Boolean(tf.env().getBool('WASM_HAS_SIMD_SUPPORT')),
    wasmThreads: gemmThreads.failure ? 1 : gemmThreads.threads,
    wasmMinFlops: gemmThreads.minFlops,
    ...(gemmThreads.failure ? { wasmThreadsFailure: gemmThreads.failure } : {}),
    attention: attentionImpl(),
    matmulPath: engineState.path,
    native: {
      ...nativeStatus,
      openblas: blasInfo?.config,
      corename: blasInfo?.corename,
      maxThreads: blasInfo?.maxThreads,
      minFlopsForMaxThreads: blasInfo?.minFlopsForMaxThreads,
    },
    kernels: [...OWN_KERNELS.map((k) => k.kernelName), ...new Set([...xentConfigs, ...fusedConfigs, ...attentionConfigs].map((k) => k.kernelName))],
  };
}
