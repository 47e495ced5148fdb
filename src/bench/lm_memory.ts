/**
 * Memory check for real-size checkpoints: writes a random-weight checkpoint
 * with the shapes of a published model (Qwen2-0.5B by default) in bf16, the
 * way such checkpoints ship, then - in a fresh process, so the peak RSS is
 * that of loading and scoring only - loads it and scores a prompt.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tf } from '../engine/index.js';
import { Rng } from '../nn/index.js';
import { type SafeTensor, writeSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import { createModel } from '../lm/families/index.js';
import { loadPretrained } from '../lm/checkpoint.js';
import type { CausalLM } from '../lm/families/decoder.js';
import { nextTokenLogProbs } from '../lm/score.js';

/** Qwen2-0.5B's config.json (shapes and rotary settings). */
export const QWEN2_0_5B: Record<string, unknown> = {
  architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: 151936, hidden_size: 896, intermediate_size: 4864,
  num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, max_position_embeddings: 32768,
  rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true, hidden_act: 'silu', torch_dtype: 'bfloat16',
  bos_token_id: 151643, eos_token_id: 151643,
};

/** Writes config.json + bf16 shards of N(0, 0.02) weights (norm weights 1) for `config`. Returns the parameter count. */
export function writeRandomCheckpoint(config: Record<string, unknown>, dir: string, seed = 0, maxShardBytes = 512 * 2 ** 20): number {
  // Names and shapes from the family itself (zero init is cheap), then freed.
  const probe = createModel(config, { init: 'zeros' });
  const shapes = [...probe.store.vars].map(([name, v]) => {
    const s = probe.store.transposed.has(name) ? [v.shape[1], v.shape[0]] : [...v.shape];
    return { name, shape: s as number[] };
  });
  probe.dispose();
  const rng = new Rng(seed);
  const scratch = new Float32Array(1);
  const bits = new Uint32Array(scratch.buffer);
  let params = 0;
  const weightMap: Record<string, string> = {};
  const shards: Array<Map<string, SafeTensor>> = [new Map()];
  let bytes = 0;
  for (const { name, shape } of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    params += n;
    const data = new Uint16Array(n);
    const isNorm = name.endsWith('norm.weight');
    for (let i = 0; i < n; i++) {
      scratch[0] = isNorm ? 1 : 0.02 * rng.normal();
      data[i] = bits[0] >>> 16;
    }
    if (bytes > 0 && bytes + 2 * n > maxShardBytes) { shards.push(new Map()); bytes = 0; }
    shards[shards.length - 1].set(name, { dtype: 'BF16', shape, data });
    bytes += 2 * n;
  }
  const total = shards.length;
  let totalBytes = 0;
  shards.forEach((s, i) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(total).padStart(5, '0')}.safetensors`;
    writeSafetensors(join(dir, file), s, { format: 'pt' });
    for (const [n, t] of s) { weightMap[n] = file; totalBytes += t.data.byteLength; }
  });
  writeFileAtomic(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2));
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return params;
}

export interface MemoryMeasurement {
  parameters: number;
  loadSeconds: number;
  /** First scoring of the prompt (includes one-time table setup). */
  firstScoreSeconds: number;
  /** Median of later scorings. */
  scoreSeconds: number;
  promptTokens: number;
  peakRssBytes: number;
  wasmHeapBytes: number;
}

/** Loads `dir` and scores a prompt of `promptTokens` random tokens (run this in a fresh process). */
export function measureLoadAndScore(dir: string, promptTokens = 200, repeats = 3): MemoryMeasurement {
  const { model, seconds } = loadPretrained(dir);
  const lm = model as CausalLM;
  const rng = new Rng(1);
  const ids = rng.intArray(promptTokens, 0, lm.vocabSize);
  const t0 = performance.now();
  nextTokenLogProbs(lm, { ids });
  const first = (performance.now() - t0) / 1000;
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    nextTokenLogProbs(lm, { ids });
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  const out: MemoryMeasurement = {
    parameters: lm.store.count(), loadSeconds: seconds, firstScoreSeconds: first, scoreSeconds: times[Math.floor(times.length / 2)],
    promptTokens, peakRssBytes: process.resourceUsage().maxRSS * 1024, wasmHeapBytes: tf.memory().numBytes,
  };
  model.dispose();
  return out;
}

/** Runs `measureLoadAndScore` in a child process of the CLI (`llmrec lm memcheck --measure DIR`). */
export function measureInChild(cliPath: string, dir: string, promptTokens: number): MemoryMeasurement {
  const r = spawnSync(process.execPath, [...process.execArgv, cliPath, 'lm', 'memcheck', '--measure', dir, '--prompt', String(promptTokens)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`memcheck child failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as MemoryMeasurement;
}
