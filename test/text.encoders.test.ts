/**
 * Item text encoders (src/models/text, docs/METHODS.md §3.10): TF-IDF and BM25
 * weights checked by hand on a 3-item corpus, the seeded random projection,
 * mean pooling over non-pad tokens, and the per-item cache (hits give the same
 * rows; a changed text or encoder is re-encoded).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ItemMeta } from '../src/data/types.js';
import { TfidfEncoder, tokenize, meanPool, encodeItems, clearMemoryCache, itemTexts, type ItemTextEncoder } from '../src/models/text/index.js';

const CORPUS = ['Red apple', 'green APPLE', 'red red car'];

function close(a: number, b: number, tol = 1e-6): void {
  assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);
}

describe('TF-IDF encoder', () => {
  it('tokenizes lower-cased letter/digit runs', () => {
    assert.deepEqual(tokenize('Élan 2-in-1, SPF30!'), ['élan', '2', 'in', '1', 'spf30']);
  });

  it('matches the hand-computed TF-IDF weights of a 3-item corpus', () => {
    const enc = TfidfEncoder.fit(CORPUS, { dim: 16 });
    // df: red 2, apple 2, green 1, car 1; N = 3
    close(enc.idf.get('red')!, Math.log(3 / 2));
    close(enc.idf.get('green')!, Math.log(3));
    // doc 1: red and apple both ln 1.5 -> 1/sqrt 2 each after normalisation
    const d1 = enc.sparse(CORPUS[0]);
    close(d1.get('red')!, 1 / Math.sqrt(2));
    close(d1.get('apple')!, 1 / Math.sqrt(2));
    // doc 3: red twice (2 ln 1.5), car once (ln 3)
    const r = 2 * Math.log(1.5);
    const c = Math.log(3);
    const n = Math.hypot(r, c);
    const d3 = enc.sparse(CORPUS[2]);
    close(d3.get('red')!, r / n);
    close(d3.get('car')!, c / n);
    assert.equal(d3.size, 2);
    // an unknown word is ignored; a text of unknown words is empty
    assert.equal(enc.sparse('blue bicycle').size, 0);
  });

  it('gives a term present in every document weight 0 under TF-IDF but not under BM25', () => {
    const corpus = ['apple pie', 'apple tart', 'apple juice'];
    const tfidf = TfidfEncoder.fit(corpus, { dim: 8 });
    assert.equal(tfidf.sparse('apple pie').has('apple'), false);
    const bm25 = TfidfEncoder.fit(corpus, { dim: 8, weighting: 'bm25' });
    const w = bm25.sparse('apple pie');
    // BM25 idf: ln(1 + (N - df + 0.5) / (df + 0.5)); |d| = avgdl so the tf part is 1
    const idfApple = Math.log(1 + 0.5 / 3.5);
    const idfPie = Math.log(1 + 2.5 / 1.5);
    const n = Math.hypot(idfApple, idfPie);
    close(w.get('apple')!, idfApple / n);
    close(w.get('pie')!, idfPie / n);
  });

  it('projects to a fixed dim with seeded +-1/sqrt(dim) rows, L2-normalised and deterministic', () => {
    const a = TfidfEncoder.fit(CORPUS, { dim: 40, seed: 7 });
    const b = TfidfEncoder.fit(CORPUS, { dim: 40, seed: 7 });
    const c = TfidfEncoder.fit(CORPUS, { dim: 40, seed: 8 });
    const va = a.encode(CORPUS);
    assert.equal(va.length, 3 * 40);
    assert.deepEqual(va, b.encode(CORPUS));
    assert.notDeepEqual(va, c.encode(CORPUS));
    for (const v of a.projectionRow('red')) close(Math.abs(v), 1 / Math.sqrt(40));
    // row 0 = normalised sum of w_t r_t
    const expect = new Float64Array(40);
    for (const [t, w] of a.sparse(CORPUS[0])) a.projectionRow(t).forEach((x, j) => { expect[j] += w * x; });
    const norm = Math.hypot(...expect);
    for (let j = 0; j < 40; j++) close(va[j], expect[j] / norm, 1e-6);
    // an empty or unknown text encodes to zeros (the id-only fallback)
    assert.ok(a.encode(['', 'zzz']).every((x) => x === 0));
    // identity names the weighting, dim, seed and corpus
    assert.equal(a.identity, b.identity);
    assert.notEqual(a.identity, c.identity);
    assert.notEqual(a.identity, TfidfEncoder.fit(['other corpus'], { dim: 40, seed: 7 }).identity);
  });

  it('rejects bad options with the option named', () => {
    assert.throws(() => TfidfEncoder.fit(CORPUS, { dim: 0 }), /dim must be a positive integer/);
    assert.throws(() => TfidfEncoder.fit([], {}), /empty corpus/);
    assert.throws(() => TfidfEncoder.fit(CORPUS, { weighting: 'x' as 'bm25' }), /weighting/);
  });
});

describe('mean pooling', () => {
  it('averages only the non-pad positions', () => {
    // B 2, T 3, d 2; row 0 has 2 real tokens, row 1 one; pads hold large values that must not leak in
    const hidden = Float32Array.from([1, 2, 3, 4, 100, 100, 5, 6, -100, -100, 100, 100]);
    const mask = [1, 1, 0, 1, 0, 0];
    assert.deepEqual([...meanPool(hidden, mask, 2, 3, 2)], [2, 3, 5, 6]);
    // a row without any real token is zeros
    assert.deepEqual([...meanPool(hidden, [0, 0, 0, 1, 1, 1], 2, 3, 2)], [0, 0, Math.fround(5 / 3), 2]);
  });
});

/** Counts the texts each call encodes. */
class Counting implements ItemTextEncoder {
  readonly name = 'counting';
  readonly dim = 3;
  calls: string[][] = [];
  constructor(readonly identity: string) {}
  encode(texts: readonly string[]): Float32Array {
    this.calls.push([...texts]);
    const out = new Float32Array(texts.length * 3);
    texts.forEach((t, i) => { out[i * 3] = t.length; out[i * 3 + 1] = t.charCodeAt(0) || 0; out[i * 3 + 2] = this.identity.length; });
    return out;
  }
}

describe('per-item cache', () => {
  it('on disk: a hit returns identical rows; a changed text is re-encoded alone; another identity misses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-textcache-'));
    try {
      const enc = new Counting('v1');
      const texts = ['alpha', 'beta', 'gamma', 'beta'];
      const first = encodeItems(enc, texts, { cacheDir: dir, scope: 'ds' });
      assert.equal(first.misses, 3); // 'beta' twice is encoded once
      assert.deepEqual(enc.calls, [['alpha', 'beta', 'gamma']]);
      assert.equal(readdirSync(dir).filter((f) => f.endsWith('.safetensors')).length, 1);
      // a fresh encoder object with the same identity reads the file: no encoding
      const again = new Counting('v1');
      const second = encodeItems(again, texts, { cacheDir: dir, scope: 'ds' });
      assert.equal(again.calls.length, 0);
      assert.equal(second.hits, 4);
      assert.deepEqual(second.vectors, first.vectors);
      // one text changed: only it is encoded
      const third = encodeItems(again, ['alpha', 'BETA!', 'gamma', 'beta'], { cacheDir: dir, scope: 'ds' });
      assert.deepEqual(again.calls, [['BETA!']]);
      assert.deepEqual(third.vectors.slice(3, 6), Float32Array.from([5, 'B'.charCodeAt(0), 2]));
      // another identity (other settings / weights) or scope: a separate cache
      const other = new Counting('v2');
      encodeItems(other, texts, { cacheDir: dir, scope: 'ds' });
      assert.equal(other.calls.length, 1);
      // a damaged cache file is a miss, and is replaced
      const file = first.file!;
      writeFileSync(file, 'not safetensors');
      const fresh = new Counting('v1');
      const fourth = encodeItems(fresh, texts, { cacheDir: dir, scope: 'ds' });
      assert.equal(fourth.misses, 3);
      assert.deepEqual(fourth.vectors, first.vectors);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in memory without a directory', () => {
    clearMemoryCache();
    const enc = new Counting('mem');
    encodeItems(enc, ['a', 'b'], { scope: 's' });
    const r = encodeItems(enc, ['b', 'a', 'c'], { scope: 's' });
    assert.deepEqual(enc.calls, [['a', 'b'], ['c']]);
    assert.equal(r.hits, 2);
  });
});

describe('item texts', () => {
  it('renders title + attributes and lists the items without text', () => {
    const itemMeta = new Map<number, ItemMeta>([
      [1, { title: 'Lip Balm', attributes: { brand: 'Acme', categories: 'Beauty > Lips' } }],
      [3, { title: '', attributes: {} }],
    ]);
    const r = itemTexts({ numItems: 3, itemMeta });
    assert.equal(r.texts.length, 4);
    assert.equal(r.texts[0], '');
    assert.equal(r.texts[1], 'Title: Lip Balm; Brand: Acme; Categories: Beauty > Lips');
    assert.deepEqual(r.missing, [2, 3]);
  });
});

describe('LM encoder (a BERT folder through src/lm)', () => {
  it('loads a saved BERT + tokenizer, mean-pools over real tokens only (padding in a batch changes nothing)', async () => {
    const { initEngine } = await import('../src/engine/index.js');
    const { BertForMaskedLM, parseBertConfig } = await import('../src/lm/families/bert.js');
    const { savePretrained } = await import('../src/lm/checkpoint.js');
    const { trainWordPiece } = await import('../src/lm/tokenizer/index.js');
    const { LmTextEncoder } = await import('../src/models/text/index.js');
    await initEngine();
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-lmenc-'));
    try {
      const corpus = ['red lip balm', 'green nail polish with glitter and shine', 'blue eye shadow palette'];
      const tok = trainWordPiece(corpus, { vocabSize: 80 });
      const cfg = parseBertConfig({ vocab_size: tok.vocabSize, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 64 }, 'tiny');
      const m = new BertForMaskedLM(cfg, { seed: 3 });
      savePretrained(m, dir);
      tok.save(dir);
      m.dispose();
      const enc = LmTextEncoder.fromFolder(dir, { batchSize: 8 });
      assert.equal(enc.dim, 16);
      assert.equal(enc.name, 'lm:bert');
      const both = enc.encode([corpus[0], corpus[1]]); // row 0 is padded to row 1's length
      const alone = enc.encode([corpus[0]]);
      for (let j = 0; j < 16; j++) close(both[j], alone[j], 1e-5);
      close(Math.hypot(...alone), 1, 1e-5);
      assert.ok(enc.encode(['']).every((x) => x === 0));
      // the same folder loads with the same identity (the cache key)
      const again = LmTextEncoder.fromFolder(dir);
      assert.equal(again.identity, enc.identity);
      enc.dispose();
      again.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('small MLM trained on item texts (lm pretrain-mlm)', () => {
  it('masked-LM training lowers held-out perplexity; the folder resumes and loads as an lm: item text encoder', async () => {
    const { initEngine } = await import('../src/engine/index.js');
    const { trainSmallMlm, DEFAULT_SMALL_MLM } = await import('../src/methods/text_lm/small_mlm.js');
    const { generateShop } = await import('../src/data/synthetic.js');
    const { applyProtocol } = await import('../src/data/protocol.js');
    const { createTextEncoder } = await import('../src/models/text/index.js');
    await initEngine();
    const data = applyProtocol(generateShop({ users: 60, items: 150, seed: 4 }), { ratingThreshold: null, kCore: 3, maxHistory: 10, numNegatives: 9, seed: 1 });
    const { texts } = itemTexts(data);
    const o = { ...DEFAULT_SMALL_MLM, vocabSize: 400, hiddenSize: 16, heads: 2, layers: 1, intermediateSize: 32, blockSize: 32, maxPositions: 64, batchSize: 8, heldOutFraction: 0.1, checkpointEvery: 0 };
    const root = mkdtempSync(join(tmpdir(), 'llmrec-mlm-'));
    try {
      // 1 step (warm-up only) against 60: the same tokenizer, blocks and held-out split (seeded).
      const short = await trainSmallMlm(texts, { ...o, steps: 1 });
      short.model.dispose();
      const dir = join(root, 'mlm');
      const ac = new AbortController();
      const cut = await trainSmallMlm(texts, { ...o, steps: 60 }, { signal: ac.signal, onStep: (s) => { if (s.step === 25) ac.abort(); } }, dir);
      cut.model.dispose();
      assert.equal(cut.training?.interrupted, true);
      const full = await trainSmallMlm(texts, { ...o, steps: 60 }, {}, dir, true);
      full.model.dispose();
      assert.equal(full.training?.steps, 60);
      assert.ok(full.corpus.heldOutBlocks > 0 && full.corpus.heldOutDocuments === Math.round(texts.filter((t) => t).length * 0.1));
      assert.ok(full.training!.heldOutPerplexity < 0.8 * short.training!.heldOutPerplexity, `${full.training!.heldOutPerplexity} vs ${short.training!.heldOutPerplexity}`);
      const enc = createTextEncoder({ encoder: `lm:${dir}`, dim: 16, seed: 1, maxTokens: 32 }, []);
      assert.equal(enc.dim, 16);
      const rows = enc.encode([texts[1], texts[2]]);
      close(Math.hypot(...rows.subarray(0, 16)), 1, 1e-5);
      (enc as { dispose?: () => void }).dispose?.();
      await assert.rejects(trainSmallMlm(texts, { ...o, heads: 3 }), /'hiddenSize' 16 must be a multiple of 'heads' 3/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
