#!/usr/bin/env node
// A copy of an llmrec LM folder as a pretrained checkpoint comes: without the
// tokens llmrec adds after training its BPE (the recommender slots <UserID>,
// <ItemID>, <Guide> and [MASK]), in the tokenizer and in the embedding rows,
// so config.json's vocab_size is the BPE vocabulary. For trying, on real data,
// the path of an LM brought with lm.dir (docs/METHODS.md §5, "Bringing a
// pretrained LM"), since no pretrained weights are available offline.
//
//   node scripts/as-pretrained.mjs SRC_LM_DIR OUT_DIR      (after npm run build)
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { readSafetensors, writeSafetensors } = await import(join(root, 'dist', 'io', 'safetensors.js'));
const [src, out] = process.argv.slice(2);
if (!src || !out) { console.error('usage: node scripts/as-pretrained.mjs SRC_LM_DIR OUT_DIR'); process.exit(2); }
if (existsSync(out)) { console.error(`${out} exists; give a new folder`); process.exit(2); }
const read = (f) => JSON.parse(readFileSync(join(src, f), 'utf8'));
const tok = read('tokenizer.json');
const bpe = Object.keys(tok.model.vocab).length;
const dropped = tok.added_tokens.filter((t) => t.id >= bpe);
if (dropped.length === 0) { console.error(`${src}: no tokens past the BPE vocabulary (${bpe}); nothing to drop`); process.exit(2); }
tok.added_tokens = tok.added_tokens.filter((t) => t.id < bpe);
const tcfg = read('tokenizer_config.json');
for (const id of Object.keys(tcfg.added_tokens_decoder ?? {})) if (Number(id) >= bpe) delete tcfg.added_tokens_decoder[id];
for (const [k, v] of Object.entries(tcfg)) if (k.endsWith('_token') && dropped.some((t) => t.content === v)) delete tcfg[k];
const config = read('config.json');
const rows = config.vocab_size;
const { tensors, metadata } = readSafetensors(join(src, 'model.safetensors'));
const cut = new Map();
for (const [name, t] of tensors) {
  if (t.shape[0] !== rows || !/embed_tokens|lm_head|wte/.test(name)) { cut.set(name, t); continue; }
  const cols = t.data.length / rows;
  cut.set(name, { dtype: t.dtype, shape: [bpe, ...t.shape.slice(1)], data: t.data.slice(0, bpe * cols) });
}
// Written into a temporary folder beside OUT, renamed once complete: a failure leaves no partial OUT.
const tmp = `${out}.tmp-${process.pid}`;
try {
  mkdirSync(tmp, { recursive: true });
  writeSafetensors(join(tmp, 'model.safetensors'), cut, metadata);
  writeFileSync(join(tmp, 'config.json'), JSON.stringify({ ...config, vocab_size: bpe }, null, 2) + '\n');
  writeFileSync(join(tmp, 'tokenizer.json'), JSON.stringify(tok));
  writeFileSync(join(tmp, 'tokenizer_config.json'), JSON.stringify(tcfg, null, 2) + '\n');
  renameSync(tmp, out);
} catch (e) {
  rmSync(tmp, { recursive: true, force: true });
  throw e;
}
console.log(`${out}: vocab_size ${rows} -> ${bpe}; dropped ${dropped.map((t) => `${t.content} (${t.id})`).join(', ')}`);
