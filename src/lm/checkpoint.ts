/**
 * Hugging Face checkpoint folders, read and written:
 *
 *   config.json                      model_type + the family's fields
 *   model.safetensors                all weights, or
 *   model.safetensors.index.json     { "weight_map": { name: shard file } } with the shards beside it
 *   tokenizer.json (+ tokenizer_config.json)   read by the tokenizer layer
 *
 * Weights may be F32, F16 or BF16 (converted to f32). Tied weights are
 * written once, as Hugging Face does. Every file is written atomically; a
 * folder being overwritten is never left half old and half new for the
 * weights (shards are written before the index that names them).
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, type SafeTensor, writeSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import { exportStateDict, loadStateDict, type LoadStateDictResult } from './state_dict.js';
import { createModel, type LanguageModel } from './families/index.js';

export interface LoadOptions {
  /** Skip the random init (weights are about to be overwritten). Default true. */
  fastInit?: boolean;
  /** Throw when a parameter is missing from the files (default true). */
  strict?: boolean;
}

export interface LoadedModel<M extends LanguageModel = LanguageModel> {
  model: M;
  report: LoadStateDictResult;
  /** Seconds spent reading and assigning the weights. */
  seconds: number;
}

/** Reads config.json of a checkpoint folder (error names the file). */
export function readConfig(dir: string): Record<string, unknown> {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new Error(`checkpoint ${dir}: no config.json`);
  try {
    const j: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('not a JSON object');
    return j as Record<string, unknown>;
  } catch (e) {
    throw new Error(`checkpoint ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** The weight files of a folder: the single file or the shards of the index. */
export function weightFiles(dir: string): string[] {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    let map: unknown;
    try {
      map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      throw new Error(`checkpoint ${index}: ${(e as Error).message}`, { cause: e });
    }
    if (typeof map !== 'object' || map === null) throw new Error(`checkpoint ${index}: field 'weight_map' is missing or not an object`);
    const files = [...new Set(Object.values(map as Record<string, unknown>))];
    for (const f of files) {
      if (typeof f !== 'string' || f.includes('/') || f.includes('\\')) throw new Error(`checkpoint ${index}: weight_map names an invalid shard ${JSON.stringify(f)}`);
      if (!existsSync(join(dir, f))) throw new Error(`checkpoint ${index}: shard ${f} is missing`);
    }
    return files.map((f) => join(dir, f as string));
  }
  if (existsSync(single)) return [single];
  if (existsSync(join(dir, 'pytorch_model.bin'))) {
    throw new Error(`checkpoint ${dir}: only pytorch_model.bin (pickle) found; convert it to safetensors (e.g. transformers' save_pretrained(safe_serialization=True))`);
  }
  throw new Error(`checkpoint ${dir}: neither model.safetensors nor model.safetensors.index.json found`);
}

/** Loads a checkpoint folder into the family its config names. */
export function loadPretrained(dir: string, opts: LoadOptions = {}): LoadedModel {
  const t0 = performance.now();
  const config = readConfig(dir);
  const model = createModel(config, { init: opts.fastInit === false ? 'random' : 'zeros', source: join(dir, 'config.json') });
  try {
    const tensors = new Map<string, SafeTensor>();
    for (const f of weightFiles(dir)) {
      for (const [name, t] of readSafetensors(f).tensors) tensors.set(name, t);
    }
    const report = loadStateDict(model.store, tensors, {
      strict: opts.strict ?? true,
      ignore: (n) => model.stateDictIgnore(n),
      source: dir,
    });
    if (report.unexpected.length > 0) {
      throw new Error(`checkpoint ${dir}: ${report.unexpected.length} tensor(s) this ${model.family} model does not have: ${report.unexpected.slice(0, 8).join(', ')}`);
    }
    return { model, report, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

export interface SaveOptions {
  /** Split weights into shards of at most this many bytes (default: one file). */
  maxShardBytes?: number;
}

/** Writes config.json and the weights (sharded when asked) in Hugging Face's layout. */
export function savePretrained(model: LanguageModel, dir: string, opts: SaveOptions = {}): void {
  const sd = exportStateDict(model.store);
  const max = opts.maxShardBytes ?? Infinity;
  const shards: Array<Map<string, SafeTensor>> = [new Map()];
  let bytes = 0;
  for (const [name, t] of sd) {
    const b = t.data.byteLength;
    if (bytes > 0 && bytes + b > max) { shards.push(new Map()); bytes = 0; }
    shards[shards.length - 1].set(name, t);
    bytes += b;
  }
  const meta = { format: 'pt' };
  if (shards.length === 1) {
    writeSafetensors(join(dir, 'model.safetensors'), shards[0], meta);
    rmSync(join(dir, 'model.safetensors.index.json'), { force: true }); // a stale index would win on load
  } else {
    const n = shards.length;
    const weightMap: Record<string, string> = {};
    let total = 0;
    shards.forEach((s, i) => {
      const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
      writeSafetensors(join(dir, file), s, meta);
      for (const [name, t] of s) { weightMap[name] = file; total += t.data.byteLength; }
    });
    writeFileAtomic(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
    rmSync(join(dir, 'model.safetensors'), { force: true });
  }
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify({ ...model.configJSON(), torch_dtype: 'float32' }, null, 2) + '\n');
}

/** Size in bytes of a folder's weight files. */
export function weightBytes(dir: string): number {
  return weightFiles(dir).reduce((a, f) => a + statSync(f).size, 0);
}
