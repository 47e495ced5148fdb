/**
 * Malicious model folders (issue 15; results in docs/HOSTILE.md): a tiny
 * valid LLaMA checkpoint is written, then each case breaks one thing (config
 * sizes of every family, config.json / weights / index / shard / tokenizer
 * files that are symlinks to /dev/zero, /dev/null or a system file, FIFOs,
 * folders, dangling links, sparse huge files, truncated or oversized
 * safetensors, bad index JSON). Every case must be refused with an Error
 * whose message names the file (and the field, where there is one), does not
 * quote a foreign file's bytes, within TIME_BOUND_MS and allocating less than
 * MEMORY_BOUND_BYTES (RSS and ArrayBuffer growth measured around the call).
 *
 * Used by test/fuzz.checkpoints.test.ts and `npm run fuzz` (scripts/fuzz.ts).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { loadPretrained, savePretrained } from '../src/lm/checkpoint.js';
import { createModel } from '../src/lm/families/index.js';
import { Tokenizer } from '../src/lm/tokenizer/index.js';

/** The largest growth of RSS / ArrayBuffer memory a refusal may cost. */
export const MEMORY_BOUND_BYTES = 64 * 2 ** 20;
/** The longest a refusal may take (tiny folders; a shared machine). */
export const TIME_BOUND_MS = 5000;

/** A system file every Linux has, whose bytes must never appear in an error. */
const SYSTEM_FILE = '/etc/passwd';
const SYSTEM_MARK = 'root:';

const BASE_CONFIG = { model_type: 'llama', vocab_size: 32, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1 };

/** Writes the tiny valid checkpoint (single file, plus a sharded copy) and a minimal tokenizer.json. */
export function writeBaseFolders(root: string): { single: string; sharded: string } {
  const single = join(root, 'base-single');
  const sharded = join(root, 'base-sharded');
  const m = createModel(BASE_CONFIG, { seed: 1 });
  try {
    savePretrained(m, single);
    savePretrained(m, sharded, { maxShardBytes: 2048 });
  } finally {
    m.dispose();
  }
  const vocab = ['[UNK]', 'a', 'b', '##a'];
  const tok = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 0, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null, pre_tokenizer: { type: 'BertPreTokenizer' }, post_processor: null, decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
  };
  writeFileSync(join(single, 'tokenizer.json'), JSON.stringify(tok));
  return { single, sharded };
}

/** What one case does to a copy of a base folder, and what its refusal must say. */
export interface CheckpointCase {
  name: string;
  base: 'single' | 'sharded';
  /** Breaks the folder `dir`. */
  apply(dir: string): void;
  /** Load the tokenizer instead of the model. */
  tokenizer?: boolean;
  /** The message must match (the field or the kind of entry). */
  expect: RegExp;
  /** The message must name this file (a basename). */
  file: string;
}

const json = (dir: string, name: string, v: unknown): void => writeFileSync(join(dir, name), typeof v === 'string' ? v : JSON.stringify(v));
const config = (patch: Record<string, unknown>) => (dir: string): void => json(dir, 'config.json', { ...BASE_CONFIG, ...patch });
const replaceWith = (name: string, make: (path: string) => void) => (dir: string): void => {
  rmSync(join(dir, name), { force: true, recursive: true });
  make(join(dir, name));
};
const link = (target: string) => (path: string): void => symlinkSync(target, path);
const fifo = (path: string): void => {
  execFileSync('mkfifo', [path]);
};
const folder = (path: string): void => mkdirSync(path);
const sparse = (bytes: number, head = '') => (path: string): void => {
  writeFileSync(path, head);
  truncateSync(path, bytes);
};
const firstShard = (dir: string): string => {
  const idx = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  return Object.values(idx.weight_map)[0];
};
/** A safetensors file whose header declares `tensors` over a (sparse) data block of `dataBytes`. */
const fakeSafetensors = (entries: Record<string, unknown>, dataBytes: number) => (path: string): void => {
  let h = JSON.stringify(entries);
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const b = Buffer.alloc(8 + h.length);
  b.writeBigUInt64LE(BigInt(h.length), 0);
  b.write(h, 8);
  writeFileSync(path, b);
  truncateSync(path, b.length + dataBytes);
};

export const CASES: CheckpointCase[] = [
  // config.json: sizes of every family, out of range or inconsistent with the weights
  { name: 'llama hidden_size 1e9', base: 'single', apply: config({ hidden_size: 1e9 }), expect: /hidden_size 1000000000 is out of range/, file: 'config.json' },
  { name: 'llama num_hidden_layers 1e6', base: 'single', apply: config({ num_hidden_layers: 1e6 }), expect: /num_hidden_layers 1000000 is out of range/, file: 'config.json' },
  { name: 'llama vocab_size 1e9', base: 'single', apply: config({ vocab_size: 1e9 }), expect: /vocab_size .* out of range/, file: 'config.json' },
  { name: 'llama intermediate_size 2^31', base: 'single', apply: config({ intermediate_size: 2 ** 31 }), expect: /intermediate_size .* out of range/, file: 'config.json' },
  { name: 'llama num_attention_heads 1e6', base: 'single', apply: config({ num_attention_heads: 1e6 }), expect: /num_attention_heads .* out of range/, file: 'config.json' },
  { name: 'llama max_position_embeddings 1e12', base: 'single', apply: config({ max_position_embeddings: 1e12 }), expect: /max_position_embeddings .* out of range/, file: 'config.json' },
  { name: 'llama head_dim 1e6', base: 'single', apply: config({ head_dim: 1e6 }), expect: /head_dim .* out of range/, file: 'config.json' },
  { name: 'llama sizes in range, 2^31+ parameters', base: 'single', apply: config({ hidden_size: 65536, num_hidden_layers: 1024, num_attention_heads: 64, num_key_value_heads: 64, intermediate_size: 65536 }), expect: /imply at least \d+ parameters, more than the limit/, file: 'config.json' },
  { name: 'llama config larger than its weights', base: 'single', apply: config({ hidden_size: 512, intermediate_size: 2048, num_attention_heads: 8, num_key_value_heads: 8 }), expect: /imply at least \d+ bytes of weights/, file: 'config.json' },
  { name: 'llama hidden_size 1.5', base: 'single', apply: config({ hidden_size: 1.5 }), expect: /hidden_size/, file: 'config.json' },
  { name: 'llama hidden_size -8', base: 'single', apply: config({ hidden_size: -8 }), expect: /hidden_size/, file: 'config.json' },
  { name: "llama hidden_size '8' (string)", base: 'single', apply: config({ hidden_size: '8' }), expect: /hidden_size/, file: 'config.json' },
  { name: 'llama num_hidden_layers 1e400 (Infinity)', base: 'single', apply: (d) => json(d, 'config.json', JSON.stringify(BASE_CONFIG).replace('"num_hidden_layers":2', '"num_hidden_layers":1e400')), expect: /num_hidden_layers/, file: 'config.json' },
  { name: 'model_type missing', base: 'single', apply: (d) => json(d, 'config.json', { ...BASE_CONFIG, model_type: undefined }), expect: /model_type/, file: 'config.json' },
  { name: 'model_type unknown', base: 'single', apply: config({ model_type: 'evil' }), expect: /model_type 'evil' is not supported/, file: 'config.json' },
  { name: 'gpt2 n_embd 1e9', base: 'single', apply: (d) => json(d, 'config.json', { model_type: 'gpt2', n_embd: 1e9 }), expect: /n_embd 1000000000 is out of range/, file: 'config.json' },
  { name: 'gpt2 n_layer 1e6', base: 'single', apply: (d) => json(d, 'config.json', { model_type: 'gpt2', n_layer: 1e6 }), expect: /n_layer .* out of range/, file: 'config.json' },
  { name: 'gpt2 n_positions 1e9', base: 'single', apply: (d) => json(d, 'config.json', { model_type: 'gpt2', n_positions: 1e9 }), expect: /n_positions .* out of range/, file: 'config.json' },
  { name: 't5 d_model 1e9', base: 'single', apply: (d) => json(d, 'config.json', { model_type: 't5', d_model: 1e9 }), expect: /d_model .* out of range/, file: 'config.json' },
  { name: 't5 num_layers 1e6', base: 'single', apply: (d) => json(d, 'config.json', { model_type: 't5', num_layers: 1e6 }), expect: /num_layers .* out of range/, file: 'config.json' },
  { name: 't5 d_ff 1e9', base: 'single', apply: (d) => json(d, 'config.json', { model_type: 't5', d_ff: 1e9 }), expect: /d_ff .* out of range/, file: 'config.json' },
  { name: 'bert hidden_size 1e9', base: 'single', apply: (d) => json(d, 'config.json', { model_type: 'bert', hidden_size: 1e9 }), expect: /hidden_size .* out of range/, file: 'config.json' },
  { name: 'bert num_hidden_layers 1e6', base: 'single', apply: (d) => json(d, 'config.json', { model_type: 'bert', num_hidden_layers: 1e6 }), expect: /num_hidden_layers .* out of range/, file: 'config.json' },
  { name: 'bert default sizes, tiny weights', base: 'single', apply: (d) => json(d, 'config.json', { model_type: 'bert' }), expect: /imply at least \d+ bytes of weights/, file: 'config.json' },
  // config.json: not a regular JSON file
  { name: 'config.json -> /dev/zero', base: 'single', apply: replaceWith('config.json', link('/dev/zero')), expect: /symbolic link to a character device/, file: 'config.json' },
  { name: 'config.json is a FIFO', base: 'single', apply: replaceWith('config.json', fifo), expect: /FIFO/, file: 'config.json' },
  { name: 'config.json is a folder', base: 'single', apply: replaceWith('config.json', folder), expect: /a folder/, file: 'config.json' },
  { name: 'config.json -> system file', base: 'single', apply: replaceWith('config.json', link(SYSTEM_FILE)), expect: /not valid JSON/, file: 'config.json' },
  { name: 'config.json dangling symlink', base: 'single', apply: replaceWith('config.json', link('/nonexistent/config.json')), expect: /dangling symbolic link/, file: 'config.json' },
  { name: 'config.json 100 MB (sparse)', base: 'single', apply: replaceWith('config.json', sparse(100 * 2 ** 20, '{')), expect: /more than the limit/, file: 'config.json' },
  { name: 'config.json is a JSON list', base: 'single', apply: (d) => json(d, 'config.json', [BASE_CONFIG]), expect: /not a JSON object/, file: 'config.json' },
  { name: 'config.json missing', base: 'single', apply: (d) => rmSync(join(d, 'config.json')), expect: /no config\.json/, file: 'base' },
  // model.safetensors
  { name: 'weights -> /dev/zero', base: 'single', apply: replaceWith('model.safetensors', link('/dev/zero')), expect: /symbolic link to a character device/, file: 'model.safetensors' },
  { name: 'weights -> /dev/null', base: 'single', apply: replaceWith('model.safetensors', link('/dev/null')), expect: /character device/, file: 'model.safetensors' },
  { name: 'weights is a FIFO', base: 'single', apply: replaceWith('model.safetensors', fifo), expect: /FIFO/, file: 'model.safetensors' },
  { name: 'weights is a folder', base: 'single', apply: replaceWith('model.safetensors', folder), expect: /a folder/, file: 'model.safetensors' },
  { name: 'weights dangling symlink', base: 'single', apply: replaceWith('model.safetensors', link('/nonexistent/w')), expect: /dangling symbolic link/, file: 'model.safetensors' },
  { name: 'weights -> system file', base: 'single', apply: replaceWith('model.safetensors', link(SYSTEM_FILE)), expect: /not a safetensors file|bytes of weights/, file: 'model.safetensors' },
  { name: 'weights empty', base: 'single', apply: replaceWith('model.safetensors', (p) => writeFileSync(p, '')), expect: /bytes of weights|shorter than the 8-byte/, file: 'model.safetensors' },
  { name: 'weights truncated to half', base: 'single', apply: (d) => { const p = join(d, 'model.safetensors'); truncateSync(p, Math.floor(readFileSync(p).length / 2)); }, expect: /outside the data block|bytes of weights/, file: 'model.safetensors' },
  { name: 'weights with 1 MB of trailing bytes', base: 'single', apply: (d) => { const p = join(d, 'model.safetensors'); truncateSync(p, readFileSync(p).length + 2 ** 20); }, expect: /bytes after the last tensor/, file: 'model.safetensors' },
  { name: 'weights declare a 2 GB embedding (sparse)', base: 'single', apply: replaceWith('model.safetensors', fakeSafetensors({ 'model.embed_tokens.weight': { dtype: 'F32', shape: [2 ** 26, 8], data_offsets: [0, 2 ** 31] } }, 2 ** 31)), expect: /embed_tokens\.weight' has shape \[67108864, 8\]/, file: 'model.safetensors' },
  { name: 'weights declare an unknown 1 GB tensor (sparse)', base: 'single', apply: replaceWith('model.safetensors', fakeSafetensors({ 'evil.weight': { dtype: 'U8', shape: [2 ** 30], data_offsets: [0, 2 ** 30] } }, 2 ** 30)), expect: /'evil\.weight' is not a parameter/, file: 'model.safetensors' },
  { name: 'weights header length 2^40', base: 'single', apply: replaceWith('model.safetensors', (p) => { const b = Buffer.alloc(4096); b.writeBigUInt64LE(2n ** 40n, 0); writeFileSync(p, b); }), expect: /header length is larger than the file/, file: 'model.safetensors' },
  { name: 'weights header not JSON', base: 'single', apply: replaceWith('model.safetensors', (p) => writeFileSync(p, Buffer.concat([Buffer.from([16, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{root:x:0:0:ro}\n'), Buffer.alloc(4096)]))), expect: /not valid UTF-8 JSON/, file: 'model.safetensors' },
  { name: 'weights dtype toString', base: 'single', apply: replaceWith('model.safetensors', fakeSafetensors({ w: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, 4096)), expect: /unsupported dtype/, file: 'model.safetensors' },
  { name: 'no weights file', base: 'single', apply: (d) => rmSync(join(d, 'model.safetensors')), expect: /neither model\.safetensors nor/, file: 'base' },
  // sharded: index and shards
  { name: 'index not JSON', base: 'sharded', apply: (d) => json(d, 'model.safetensors.index.json', '{"weight_map": '), expect: /not valid JSON/, file: 'model.safetensors.index.json' },
  { name: 'index without weight_map', base: 'sharded', apply: (d) => json(d, 'model.safetensors.index.json', { metadata: {} }), expect: /weight_map/, file: 'model.safetensors.index.json' },
  { name: 'index weight_map is a list', base: 'sharded', apply: (d) => json(d, 'model.safetensors.index.json', { weight_map: ['a'] }), expect: /weight_map/, file: 'model.safetensors.index.json' },
  { name: 'index weight_map empty', base: 'sharded', apply: (d) => json(d, 'model.safetensors.index.json', { weight_map: {} }), expect: /weight_map' is empty/, file: 'model.safetensors.index.json' },
  { name: 'index names ../ shard', base: 'sharded', apply: (d) => json(d, 'model.safetensors.index.json', { weight_map: { 'model.norm.weight': '../x.safetensors' } }), expect: /invalid shard/, file: 'model.safetensors.index.json' },
  { name: 'index names an absolute system file', base: 'sharded', apply: (d) => json(d, 'model.safetensors.index.json', { weight_map: { 'model.norm.weight': SYSTEM_FILE } }), expect: /invalid shard/, file: 'model.safetensors.index.json' },
  { name: 'index names a missing shard', base: 'sharded', apply: (d) => json(d, 'model.safetensors.index.json', { weight_map: { 'model.norm.weight': 'nope.safetensors' } }), expect: /shard nope\.safetensors is missing/, file: 'model.safetensors.index.json' },
  { name: 'index -> /dev/zero', base: 'sharded', apply: replaceWith('model.safetensors.index.json', link('/dev/zero')), expect: /character device/, file: 'model.safetensors.index.json' },
  { name: 'index is a FIFO', base: 'sharded', apply: replaceWith('model.safetensors.index.json', fifo), expect: /FIFO/, file: 'model.safetensors.index.json' },
  { name: 'shard -> /dev/zero', base: 'sharded', apply: (d) => replaceWith(firstShard(d), link('/dev/zero'))(d), expect: /symbolic link to a character device/, file: 'model-00001-of-' },
  { name: 'shard is a FIFO', base: 'sharded', apply: (d) => replaceWith(firstShard(d), fifo)(d), expect: /FIFO/, file: 'model-00001-of-' },
  { name: 'shard -> system file', base: 'sharded', apply: (d) => replaceWith(firstShard(d), link(SYSTEM_FILE))(d), expect: /not a safetensors file|bytes of weights/, file: 'model-00001-of-' },
  { name: 'shard truncated', base: 'sharded', apply: (d) => { const p = join(d, firstShard(d)); truncateSync(p, 12); }, expect: /safetensors|bytes of weights/, file: 'model-00001-of-' },
  { name: 'shard declares another shape', base: 'sharded', apply: (d) => writeFileSync(join(d, firstShard(d)), encodeSafetensors({ 'model.embed_tokens.weight': { dtype: 'F32', shape: [4, 4], data: new Float32Array(16) } })), expect: /has shape \[4, 4\]/, file: 'model-00001-of-' },
  // tokenizer.json
  { name: 'tokenizer.json -> /dev/zero', base: 'single', tokenizer: true, apply: replaceWith('tokenizer.json', link('/dev/zero')), expect: /character device/, file: 'tokenizer.json' },
  { name: 'tokenizer.json is a FIFO', base: 'single', tokenizer: true, apply: replaceWith('tokenizer.json', fifo), expect: /FIFO/, file: 'tokenizer.json' },
  { name: 'tokenizer.json -> system file', base: 'single', tokenizer: true, apply: replaceWith('tokenizer.json', link(SYSTEM_FILE)), expect: /not valid JSON/, file: 'tokenizer.json' },
  { name: 'tokenizer.json 300 MB (sparse)', base: 'single', tokenizer: true, apply: replaceWith('tokenizer.json', sparse(300 * 2 ** 20, '{')), expect: /more than the limit/, file: 'tokenizer.json' },
];

export interface CheckpointResult {
  name: string;
  refused: boolean;
  /** The refusal names the file and matches the expectation, and quotes no foreign bytes. */
  clear: boolean;
  message: string;
  ms: number;
  /** Growth of RSS and of ArrayBuffer memory across the call, bytes. */
  rssGrowth: number;
  arrayBufferGrowth: number;
}

/** Runs every case (each on a fresh copy of its base folder) in a scratch folder. */
export function runCheckpointCases(cases: CheckpointCase[] = CASES): CheckpointResult[] {
  const root = mkdtempSync(join(tmpdir(), 'llmrec-ckfuzz-'));
  try {
    const bases = writeBaseFolders(root);
    // Sanity: the untouched folders load.
    loadPretrained(bases.single).model.dispose();
    loadPretrained(bases.sharded).model.dispose();
    Tokenizer.fromFile(join(bases.single, 'tokenizer.json'));
    return cases.map((c, k) => {
      const dir = join(root, `case-${k}`);
      cpSync(c.base === 'single' ? bases.single : bases.sharded, dir, { recursive: true });
      c.apply(dir);
      const m0 = process.memoryUsage();
      const t0 = performance.now();
      let message = '';
      let refused = false;
      try {
        if (c.tokenizer) Tokenizer.fromFile(join(dir, 'tokenizer.json'));
        else loadPretrained(dir).model.dispose();
      } catch (e) {
        refused = true;
        message = e instanceof Error ? e.message : String(e);
      }
      const ms = performance.now() - t0;
      const m1 = process.memoryUsage();
      const clear = refused && c.expect.test(message) && message.includes(c.file === 'base' ? dir : c.file) && !message.includes(SYSTEM_MARK);
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
      return { name: c.name, refused, clear, message, ms, rssGrowth: m1.rss - m0.rss, arrayBufferGrowth: m1.arrayBuffers - m0.arrayBuffers };
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The results as a Markdown table (one row per case) and a summary line. */
export function formatCheckpointResults(rs: CheckpointResult[]): string {
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
  const lines = ['| case | refused with a clear error | time (ms) | RSS growth (MiB) | ArrayBuffer growth (MiB) |', '|---|---|---:|---:|---:|'];
  for (const r of rs) lines.push(`| ${r.name} | ${r.clear ? 'yes' : r.refused ? 'refused, unclear' : 'NO'} | ${r.ms.toFixed(1)} | ${mib(r.rssGrowth)} | ${mib(r.arrayBufferGrowth)} |`);
  const clear = rs.filter((r) => r.clear).length;
  lines.push('', `${rs.length} cases, ${rs.filter((r) => r.refused).length} refused, ${clear} with a clear error; slowest ${Math.max(...rs.map((r) => r.ms)).toFixed(1)} ms; largest RSS growth ${mib(Math.max(...rs.map((r) => r.rssGrowth)))} MiB`);
  return lines.join('\n');
}
