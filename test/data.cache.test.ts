/**
 * The on-disk typed cache of ingested datasets (src/data/cache.ts): a cached
 * load equals a fresh parse, the entry is reused, and a changed source or
 * different options never hit a stale entry.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheFile, readCachedDataset } from '../src/data/cache.js';
import { loadDataset } from '../src/data/loaders/index.js';
import type { RawDataset } from '../src/data/types.js';

const fixture = join(import.meta.dirname, 'fixtures', 'loaders', 'ml-100k');

function same(a: RawDataset, b: RawDataset): void {
  assert.equal(a.name, b.name);
  assert.deepEqual(a.userIds, b.userIds);
  assert.deepEqual(a.itemIds, b.itemIds);
  assert.deepEqual(Array.from(a.user), Array.from(b.user));
  assert.deepEqual(Array.from(a.item), Array.from(b.item));
  assert.deepEqual(a.time && Array.from(a.time), b.time && Array.from(b.time));
  assert.deepEqual(a.rating && Array.from(a.rating), b.rating && Array.from(b.rating));
  assert.deepEqual([...a.itemMeta.entries()], [...b.itemMeta.entries()]);
  assert.equal(a.skippedRows, b.skippedRows);
}

describe('dataset cache', () => {
  it('round-trips, is reused, and is keyed by source and options', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'llmrec-cache-'));
    const src = mkdtempSync(join(tmpdir(), 'llmrec-src-'));
    cpSync(fixture, src, { recursive: true });
    process.env.LLMREC_CACHE_DIR = cache;
    try {
      const fresh = await loadDataset(src, { cache: false });
      assert.equal(readdirSync(cache).length, 0, 'cache: false writes nothing');
      const first = await loadDataset(src, { cache: true });
      same(first, fresh);
      const entry = cacheFile(src, { format: 'ml-100k' });
      assert.ok(existsSync(entry), 'entry written under LLMREC_CACHE_DIR');
      const cached = readCachedDataset(entry);
      assert.ok(cached);
      same(cached, fresh);
      same(await loadDataset(src, { cache: true }), fresh);
      assert.equal(readdirSync(cache).length, 1, 'second load reuses the entry');
      await loadDataset(src, { cache: true, skipBadRows: true });
      assert.equal(readdirSync(cache).length, 2, 'other options, other entry');
      const later = new Date(Date.now() + 5000);
      utimesSync(join(src, 'u.data'), later, later);
      await loadDataset(src, { cache: true });
      assert.equal(readdirSync(cache).length, 3, 'a touched source is a new entry');
      // 'auto' leaves small sources alone.
      const before = readdirSync(cache).length;
      await loadDataset(fixture);
      assert.equal(readdirSync(cache).length, before);
    } finally {
      delete process.env.LLMREC_CACHE_DIR;
    }
  });
});

describe('dataset cache with odd folder entries', () => {
  it('a dangling symlink in the dataset folder neither breaks loading nor the cache key', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'llmrec-cache-'));
    const src = mkdtempSync(join(tmpdir(), 'llmrec-src-'));
    cpSync(fixture, src, { recursive: true });
    process.env.LLMREC_CACHE_DIR = cache;
    try {
      const key = cacheFile(src, { format: 'ml-100k' });
      symlinkSync(join(src, 'no-such-file'), join(src, 'broken'));
      symlinkSync(join(src, 'broken'), join(src, 'loop'));
      assert.equal(cacheFile(src, { format: 'ml-100k' }), key, 'entries that are not regular files do not change the key');
      const fresh = await loadDataset(src, { cache: false });
      same(await loadDataset(src, { cache: true }), fresh);
      assert.equal(readdirSync(cache).length, 1);
    } finally {
      delete process.env.LLMREC_CACHE_DIR;
    }
  });
});

describe('dataset cache keeps review text', () => {
  it('a dataset with reviews comes back from the cache with the same reviews (UTF-8 included)', async () => {
    const { writeCachedDataset } = await import('../src/data/cache.js');
    const { generateShop } = await import('../src/data/synthetic.js');
    const raw = generateShop({ users: 30, items: 100, seed: 2 });
    assert.ok(raw.reviews && raw.reviews.length === raw.user.length);
    raw.reviews[0] = { text: 'Crème très douce — 10/10.', summary: 'très bien', feature: 'crème' };
    raw.reviews[1] = null;
    const file = join(mkdtempSync(join(tmpdir(), 'llmrec-cache-rv-')), 'x.safetensors');
    writeCachedDataset(file, raw);
    const back = readCachedDataset(file)!;
    assert.deepEqual(back.reviews, raw.reviews);
    assert.deepEqual(Array.from(back.user), Array.from(raw.user));
  });
});
