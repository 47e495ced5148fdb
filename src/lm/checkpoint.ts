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
 *
 * A folder is input like any other (docs/HOSTILE.md): only regular files are
 * read (a symlink must end at one; FIFOs, devices and folders are refused),
 * config.json and the index are bounded in size, the config's sizes are
 * bounded (families/config_util.ts), and the weight files must be large
 * enough for the parameters the config implies, all before the model is
 * allocated or a weight is read.
 */
import { existsSync, lstatSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FileKindError, readRegularText, regularFileSize } from '../io/files.js';
import { readSafetensors, readSafetensorsHeader, type SafeTensor, toFloat32, writeSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import { exportStateDict, loadStateDict, type LoadStateDictResult } from './state_dict.js';
import { createModel, familyOf, type LanguageModel } from './families/index.js';
import { minParamCount } from './families/config_util.js';

/** Largest config.json / model.safetensors.index.json read (real ones are a few KB / a few hundred KB). */
export const MAX_JSON_BYTES = 16 * 2 ** 20;

/** Most values a non-parameter tensor (a buffer such as GPT-2's attn.bias mask, n_positions^2) may have, unless the model has a larger parameter. */
export const MAX_BUFFER_VALUES = 2 ** 24;

/** Whether a path exists as a directory entry (a dangling symlink counts: it is reported, not ignored). */
function present(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

/** Reads a small JSON file of a checkpoint as a regular file; errors name the file, never quote its bytes. */
function readCheckpointJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readRegularText(path, what, MAX_JSON_BYTES);
  } catch (e) {
    if (e instanceof FileKindError) throw new Error(`checkpoint ${e.message}`, { cause: e });
    throw e;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    // V8's JSON messages quote the text: keep only the position.
    const pos = /position (\d+)/.exec((e as Error).message);
    throw new Error(`checkpoint ${path}: not valid JSON${pos ? ` (at byte ${pos[1]})` : ''}`, { cause: e });
  }
}

export interface LoadOptions {
  /** Skip the random init (weights are about to be overwritten). Default true. */
  fastInit?: boolean;
  /** Throw when a parameter is missing from the files (default true). */
  strict?: boolean;
  /**
   * Grow the token embeddings (and an untied output head) to at least this
   * many rows, as transformers' `resize_token_embeddings` after tokens were
   * added to the tokenizer: the rows past the checkpoint's `vocab_size` start
   * at the mean of its rows. The model's config then states the new size.
   * Default: the checkpoint's `vocab_size`, never smaller.
   */
  minVocabSize?: number;
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
  if (!present(path)) throw new Error(`checkpoint ${dir}: no config.json`);
  const j = readCheckpointJson(path, 'config.json');
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error(`checkpoint ${path}: not a JSON object`);
  return j as Record<string, unknown>;
}

/** Size of a weight file, refusing anything but a regular file (symlinks followed); errors name the file. */
function weightFileSize(file: string): number {
  try {
    return regularFileSize(file, 'weights file');
  } catch (e) {
    if (e instanceof FileKindError) throw new Error(`checkpoint ${e.message}`, { cause: e });
    throw e;
  }
}

/** The weight files of a folder: the single file or the shards of the index. */
export function weightFiles(dir: string): string[] {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (present(index)) {
    const j = readCheckpointJson(index, 'model.safetensors.index.json');
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error(`checkpoint ${index}: not a JSON object`);
    const map = (j as { weight_map?: unknown }).weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`checkpoint ${index}: field 'weight_map' is missing or not an object`);
    const files = [...new Set(Object.values(map as Record<string, unknown>))];
    if (files.length === 0) throw new Error(`checkpoint ${index}: field 'weight_map' is empty`);
    for (const f of files) {
      if (typeof f !== 'string' || f === '' || f === '.' || f === '..' || f.includes('/') || f.includes('\\') || f.includes('\0')) {
        throw new Error(`checkpoint ${index}: field 'weight_map' names an invalid shard ${JSON.stringify(f).slice(0, 80)}`);
      }
      if (!present(join(dir, f))) throw new Error(`checkpoint ${index}: field 'weight_map': shard ${f} is missing`);
      weightFileSize(join(dir, f));
    }
    return files.map((f) => join(dir, f as string));
  }
  if (present(single)) {
    weightFileSize(single);
    return [single];
  }
  if (existsSync(join(dir, 'pytorch_model.bin'))) {
    throw new Error(`checkpoint ${dir}: only pytorch_model.bin (pickle) found; convert it to safetensors (e.g. transformers' save_pretrained(safe_serialization=True))`);
  }
  throw new Error(`checkpoint ${dir}: neither model.safetensors nor model.safetensors.index.json found`);
}

/**
 * Values stored in a checkpoint folder's weight files, from their headers
 * only (no tensor data read): the parameter count a report states for an LM
 * given as a folder or trained earlier. A tied head stored as its own tensor
 * counts twice, as it does on disk.
 */
export function checkpointValueCount(dir: string): number {
  let n = 0;
  for (const f of weightFiles(dir)) for (const e of readSafetensorsHeader(f).entries) n += e.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Loads a checkpoint folder into the family its config names. */
export function loadPretrained(dir: string, opts: LoadOptions = {}): LoadedModel {
  const t0 = performance.now();
  const stored = readConfig(dir);
  const source = join(dir, 'config.json');
  const grow = vocabGrowth(stored, opts.minVocabSize, source);
  const config = grow ? { ...stored, vocab_size: grow.to } : stored;
  // Validate (sizes bounded) and check the files against the stored config before allocating anything.
  const family = familyOf(stored, source);
  if (grow) family.parse(config, source); // the grown sizes are bounded too
  const parsed = family.parse(stored, source);
  const files = weightFiles(dir);
  const bytes = files.reduce((a, f) => a + weightFileSize(f), 0);
  const need = 2 * minParamCount(parsed); // at least 2 bytes (F16/BF16) per parameter
  if ((opts.strict ?? true) && bytes < need) {
    throw new Error(
      `checkpoint ${source}: the sizes in the config imply at least ${need} bytes of weights (2 per parameter), but the weight files hold ${bytes} bytes (${files.map((f) => f.slice(dir.length + 1)).join(', ')})`,
    );
  }
  const model = createModel(config, { init: opts.fastInit === false ? 'random' : 'zeros', source });
  try {
    // Headers first: every declared tensor must be a parameter of this shape (or a known buffer)
    // before any tensor data is read, so an oversized or foreign shard costs no allocation.
    let largest = 0;
    for (const v of model.store.vars.values()) largest = Math.max(largest, v.size);
    const bufferMax = Math.max(MAX_BUFFER_VALUES, largest); // a tied lm_head copy is as large as the embeddings
    for (const f of files) {
      for (const e of readSafetensorsHeader(f).entries) {
        const v = model.store.vars.get(e.name);
        const count = e.shape.reduce((a, b) => a * b, 1);
        if (v !== undefined) {
          if (count !== v.size && !(grow && grownRows(model.store, e.name, e.shape, grow))) throw new Error(`checkpoint ${f}: tensor '${e.name}' has shape [${e.shape.join(', ')}] (${count} values), the config's ${model.family} model needs [${v.shape.join(', ')}]`);
        } else if (!model.stateDictIgnore(e.name)) {
          throw new Error(`checkpoint ${f}: tensor '${e.name}' is not a parameter of this ${model.family} model`);
        } else if (count > bufferMax) {
          throw new Error(`checkpoint ${f}: buffer '${e.name}' has ${count} values, more than the ${bufferMax} a buffer of this model may have`);
        }
      }
    }
    const tensors = new Map<string, SafeTensor>();
    for (const f of files) {
      for (const [name, t] of readSafetensors(f).tensors) tensors.set(name, grow && grownRows(model.store, name, t.shape, grow) ? padRows(t, grow.to) : t);
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

/** The vocabulary growth `minVocabSize` asks of a checkpoint's config, or null (none needed). */
function vocabGrowth(config: Record<string, unknown>, min: number | undefined, source: string): { from: number; to: number } | null {
  if (min === undefined) return null;
  if (!Number.isSafeInteger(min) || min < 1) throw new RangeError(`loadPretrained: minVocabSize must be a positive integer, got ${min}`);
  const from = config.vocab_size;
  if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 1) throw new Error(`model config ${source}: field 'vocab_size' must be a positive integer to resize the token embeddings`);
  return min > from ? { from, to: min } : null;
}

/** Whether a stored tensor of `shape` is one of the model's vocabulary-sized parameters, stored with the checkpoint's row count. */
function grownRows(store: LanguageModel['store'], name: string, shape: readonly number[], grow: { from: number; to: number }): boolean {
  const v = store.vars.get(name);
  if (v === undefined) return false;
  const want = store.transposed.has(name) ? [v.shape[1]!, v.shape[0]!] : v.shape; // the Hugging Face layout, as stored
  return shape[0] === grow.from && want[0] === grow.to && shape.length === want.length && shape.every((s, i) => i === 0 || s === want[i]);
}

/** `t` with rows appended up to `rows`, each the mean of t's rows (float32). */
function padRows(t: SafeTensor, rows: number): SafeTensor {
  const src = toFloat32(t);
  const old = t.shape[0]!;
  const cols = src.length / old;
  const mean = new Float64Array(cols);
  for (let r = 0; r < old; r++) for (let c = 0; c < cols; c++) mean[c] += src[r * cols + c];
  const out = new Float32Array(rows * cols);
  out.set(src);
  for (let r = old; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = mean[c] / old;
  return { dtype: 'F32', shape: [rows, ...t.shape.slice(1)], data: out };
}

/** Size in bytes of a folder's weight files. */
export function weightBytes(dir: string): number {
  return weightFiles(dir).reduce((a, f) => a + weightFileSize(f), 0);
}
