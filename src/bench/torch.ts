/**
 * Runs the PyTorch reference (bench/torch_ref.py) with Debian's python3 and
 * python3-torch (the default), and with every other interpreter listed in
 * LLMREC_TORCH_PYTHON (one path, or several separated by the platform's path
 * delimiter, ':' on Linux) that can import torch. Never the python3 on PATH:
 * that may be a pyenv interpreter that cannot see Debian's dist-packages.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { packageRoot } from '../engine/native.js';

export const DEBIAN_PYTHON = '/usr/bin/python3';
/** The first interpreter: LLMREC_TORCH_PYTHON's first entry, else Debian's (used by the LM bench). */
export const TORCH_PYTHON = (process.env.LLMREC_TORCH_PYTHON ?? '').split(delimiter).filter(Boolean)[0] ?? DEBIAN_PYTHON;

/** Every interpreter to try, LLMREC_TORCH_PYTHON's entries first, then Debian's; no duplicates. */
export function torchPythons(env: string | undefined = process.env.LLMREC_TORCH_PYTHON): string[] {
  return [...new Set([...(env ?? '').split(delimiter).filter(Boolean), DEBIAN_PYTHON])];
}
const script = join(packageRoot, 'bench', 'torch_ref.py');

export interface TorchResult {
  case: string;
  ms_median: number;
  ms_min: number;
  threads: string;
  torch: string;
  gflops?: number;
}

export interface TorchCheck { ok: boolean; python?: string; version?: string; reason?: string }

/** Whether `python` can import torch (ok false with a reason when PyTorch cannot run with it). */
export function torchAvailable(python: string = TORCH_PYTHON): TorchCheck {
  if (!existsSync(python)) return { ok: false, python, reason: `${python} not found` };
  if (!existsSync(script)) return { ok: false, python, reason: `${script} not found` };
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) {
    return { ok: false, python, reason: `torch not importable by ${python}${python === DEBIAN_PYTHON ? ' (apt-get install python3-torch)' : ''}` };
  }
  return { ok: true, python, version: r.stdout.trim() };
}

/** torchAvailable for every interpreter of torchPythons(). */
export function torchInstalls(): TorchCheck[] {
  return torchPythons().map((p) => torchAvailable(p));
}

export interface TorchTiming { python: string; version: string; ms: number; threads: string }

/** The fastest of the timings (null for none): the reference a ratio is taken against. */
export function fastestTorch(ts: TorchTiming[]): TorchTiming | null {
  return ts.reduce<TorchTiming | null>((best, t) => (best == null || t.ms < best.ms ? t : best), null);
}

export function runTorch(args: string[], python: string = TORCH_PYTHON): TorchResult {
  const r = spawnSync(python, [script, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    throw new Error(`torch reference failed (${python} ${args.join(' ')}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
  }
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as TorchResult;
}
