/**
 * Runs the PyTorch reference (bench/torch_ref.py) with Debian's python3 and
 * python3-torch. Never the python3 on PATH: that may be a pyenv interpreter
 * that cannot see Debian's dist-packages.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../engine/native.js';

export const TORCH_PYTHON = process.env.LLMREC_TORCH_PYTHON ?? '/usr/bin/python3';
const script = join(packageRoot, 'bench', 'torch_ref.py');

export interface TorchResult {
  case: string;
  ms_median: number;
  ms_min: number;
  threads: string;
  torch: string;
  gflops?: number;
}

/** Returns null and a reason when PyTorch cannot run here. */
export function torchAvailable(): { ok: boolean; reason?: string; version?: string } {
  if (!existsSync(TORCH_PYTHON)) return { ok: false, reason: `${TORCH_PYTHON} not found` };
  if (!existsSync(script)) return { ok: false, reason: `${script} not found` };
  const r = spawnSync(TORCH_PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, reason: `torch not importable by ${TORCH_PYTHON} (apt-get install python3-torch)` };
  return { ok: true, version: r.stdout.trim() };
}

export function runTorch(args: string[]): TorchResult {
  const r = spawnSync(TORCH_PYTHON, [script, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    throw new Error(`torch reference failed (${args.join(' ')}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
  }
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as TorchResult;
}
