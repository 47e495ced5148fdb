/**
 * Tests of the parser layer: every loader on tiny hand-written fixtures
 * (test/fixtures/loaders), every bad-input case (DataError naming file, line
 * and field; skipBadRows counting), .gz reading, format detection, the
 * resolver, the Python-literal parser, item sentences, and real-data checks
 * on the shared datasets (skipped with a message when they are absent).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DataError } from '../src/data/errors.js';
import { decodeHtmlEntities, itemSentence, truncate } from '../src/data/item_text.js';
import {
  detectFormat,
  loadAmazon2023,
  loadAmazonReviews,
  loadDataset,
  loadGeneric,
  loadMl100k,
  loadMovielensCsv,
  loadMovielensDat,
  loadRecbole,
  loadS3Rec,
  parsePythonLiteral,
  readMovielensDatItems,
} from '../src/data/loaders/index.js';
import { DatasetNotFoundError, dataAvailable, dataRoot, repoRoot, resolveDataset } from '../src/data/resolve.js';
import type { ItemMeta, RawDataset } from '../src/data/types.js';

const FIX = resolve(repoRoot, 'test', 'fixtures', 'loaders');
const fx = (...p: string[]): string => join(FIX, ...p);

const tmp = mkdtempSync(join(tmpdir(), 'llmrec-loaders-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let tmpCount = 0;
/** A fresh temp folder holding the given files (string = UTF-8 text, Buffer = bytes). */
function tmpDir(files: Record<string, string | Buffer>): string {
  const dir = join(tmp, `d${tmpCount++}`);
  mkdirSync(dir);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return dir;
}

/** Rows as [user, item, time, rating] with external ids. */
function rows(d: RawDataset): Array<[string, string, number | null, number | null]> {
  return Array.from(d.user, (u, k) => [d.userIds[u], d.itemIds[d.item[k]], d.time ? d.time[k] : null, d.rating ? d.rating[k] : null]);
}
function metaOf(d: RawDataset, id: string): ItemMeta | undefined {
  return d.itemMeta.get(d.itemIds.indexOf(id));
}

interface Expect {
  file: string;
  line?: number;
  field?: string;
  message?: RegExp;
}
/** Asserts that `p` rejects with a DataError at file (basename), line and field, and a message that names them. */
async function rejectsData(p: Promise<unknown>, e: Expect): Promise<DataError> {
  let err: unknown;
  try {
    await p;
  } catch (x) {
    err = x;
  }
  assert.ok(err instanceof DataError, `expected a DataError, got ${String(err)}`);
  assert.equal(basename(err.file), e.file, err.message);
  assert.equal(err.line, e.line, err.message);
  assert.equal(err.field, e.field, err.message);
  const where = e.line !== undefined ? `${e.file}:${e.line}: ` : `${e.file}: `;
  assert.ok(err.message.includes(where), `message should name '${where}': ${err.message}`);
  if (e.field !== undefined) assert.ok(err.message.includes(`field '${e.field}'`), err.message);
  if (e.message) assert.match(err.message, e.message);
  return err;
}

describe('resolve', () => {
  test('dataRoot follows LLMREC_DATA_DIR, else <repo>/../shared/data', () => {
    const old = process.env.LLMREC_DATA_DIR;
    try {
      delete process.env.LLMREC_DATA_DIR;
      assert.equal(dataRoot(), resolve(repoRoot, '..', 'shared', 'data'));
      process.env.LLMREC_DATA_DIR = FIX;
      assert.equal(dataRoot(), FIX);
      assert.equal(resolveDataset('ml-100k'), fx('ml-100k'));
      assert.ok(dataAvailable('s3rec'));
    } finally {
      if (old === undefined) delete process.env.LLMREC_DATA_DIR;
      else process.env.LLMREC_DATA_DIR = old;
    }
  });
  test('an existing path is used as is; a missing one lists what was tried', () => {
    assert.equal(resolveDataset(fx('ml-1m')), fx('ml-1m'));
    assert.equal(dataAvailable('no-such-dataset-xyz'), false);
    assert.throws(
      () => resolveDataset('no-such-dataset-xyz'),
      (e: unknown) => e instanceof DatasetNotFoundError && e.tried.length === 2 && e.message.includes(join(dataRoot(), 'no-such-dataset-xyz')),
    );
  });
});

describe('MovieLens-100K loader', () => {
  test('fixture: rows, ids, latin-1 titles, genres from u.genre', async () => {
    const d = await loadMl100k(fx('ml-100k'));
    assert.equal(d.name, 'ml-100k');
    assert.deepEqual(rows(d), [
      ['1', '1', 881250949, 5],
      ['1', '2', 881250950, 3],
      ['2', '1', 881250951, 4],
      ['2', '3', 881250952, 1],
      ['3', '2', 881250953, 2],
    ]);
    assert.deepEqual(d.userIds, ['1', '2', '3']);
    assert.deepEqual(d.itemIds, ['1', '2', '3']);
    assert.ok(d.time instanceof Float64Array && d.rating instanceof Float32Array && d.user instanceof Int32Array);
    assert.equal(d.skippedRows, 0);
    assert.deepEqual(metaOf(d, '2'), { title: 'Misérables, Les (1995)', attributes: { genre: 'Drama', 'release date': '01-Jan-1995' } });
    assert.deepEqual(metaOf(d, '3'), { title: 'Heat (1995)', attributes: { genre: 'Action, Drama' } });
    assert.equal(d.itemMeta.size, 3, 'unrated item 4 is not part of the dataset');
  });
  test('a u1.base-style file path works; name is the folder', async () => {
    const d = await loadDataset(fx('ml-100k', 'u.data'));
    assert.equal(d.name, 'ml-100k');
    assert.equal(d.user.length, 5);
  });
  test('bad rating -> DataError naming file, line, field; skipBadRows counts it', async () => {
    const dir = tmpDir({ 'u.data': '1\t1\t5\t10\n1\t2\t4\t11\n2\t1\tx\t12\n2\t2\t3\t13\n' });
    const e = await rejectsData(loadMl100k(dir), { file: 'u.data', line: 3, field: 'rating', message: /expected a number, got 'x'/ });
    assert.ok(e.message.endsWith(`u.data:3: field 'rating': expected a number, got 'x'`), e.message);
    const d = await loadMl100k(dir, { skipBadRows: true });
    assert.equal(d.user.length, 3);
    assert.equal(d.skippedRows, 1);
    assert.deepEqual(rows(d).map((r) => r[3]), [5, 4, 3]);
  });
  test('missing column, empty file, blank-only file, unknown item, bad flags, wrong encoding', async () => {
    await rejectsData(loadMl100k(tmpDir({ 'u.data': '1\t1\t5\t10\n1\t2\t4\n' })), { file: 'u.data', line: 2, field: 'timestamp', message: /missing/ });
    await rejectsData(loadMl100k(tmpDir({ 'u.data': '' })), { file: 'u.data', message: /file is empty/ });
    await rejectsData(loadMl100k(tmpDir({ 'u.data': '\n\n' })), { file: 'u.data', message: /no data rows/ });
    const item = readFileSync(fx('ml-100k', 'u.item'));
    const genre = readFileSync(fx('ml-100k', 'u.genre'));
    // rating of an item u.item lacks
    await rejectsData(loadMl100k(tmpDir({ 'u.data': '1\t1\t5\t10\n1\t9\t4\t11\n', 'u.item': item, 'u.genre': genre })), {
      file: 'u.data',
      line: 2,
      field: 'item',
      message: /item '9' is not in u\.item/,
    });
    // a bad genre flag names the genre
    await rejectsData(loadMl100k(tmpDir({ 'u.data': '1\t1\t5\t10\n', 'u.item': '1|T|||u|0|2|0\n', 'u.genre': genre })), {
      file: 'u.item',
      line: 1,
      field: "genre 'Comedy'",
    });
    // too few fields in u.item
    await rejectsData(loadMl100k(tmpDir({ 'u.data': '1\t1\t5\t10\n', 'u.item': '1|T\n', 'u.genre': genre })), { file: 'u.item', line: 1, field: 'release date' });
    // latin-1 u.item read as strict UTF-8 -> the title field is named
    await rejectsData(loadMl100k(fx('ml-100k'), { itemEncoding: 'utf8' }), { file: 'u.item', line: 2, field: 'title', message: /invalid UTF-8/ });
    // an empty id
    await rejectsData(loadMl100k(tmpDir({ 'u.data': ' \t1\t5\t10\n' })), { file: 'u.data', line: 1, field: 'user', message: /empty id/ });
    // numbers are strict: hex, Infinity and '' are errors, not silent values
    for (const bad of ['0x10', 'Infinity', '']) {
      await rejectsData(loadMl100k(tmpDir({ 'u.data': `1\t1\t5\t${bad}\n` })), { file: 'u.data', line: 1, field: 'timestamp' });
    }
  });
  test('all rows bad with skipBadRows is still an error (never an empty dataset)', async () => {
    await rejectsData(loadMl100k(tmpDir({ 'u.data': 'a\tb\n' }), { skipBadRows: true }), { file: 'u.data', message: /no valid rows \(1 bad rows skipped\)/ });
  });
});

describe('MovieLens-1M/10M (.dat) loader', () => {
  test('fixture: :: separators, latin-1 titles, fractional ratings', async () => {
    const d = await loadMovielensDat(fx('ml-1m'));
    assert.deepEqual(rows(d), [
      ['1', '20', 978300760, 5],
      ['1', '10', 978302109, 3.5],
      ['2', '20', 978301968, 4],
    ]);
    assert.deepEqual(metaOf(d, '10'), { title: 'Cité des enfants perdus, La (1995)', attributes: { genre: 'Adventure, Sci-Fi' } });
    assert.deepEqual(metaOf(d, '20')?.attributes, { genre: 'Action, Crime, Thriller' });
  });
  test('movies.dat alone gives item text; (no genres listed) gives no genre', async () => {
    const { items } = await readMovielensDatItems(fx('ml-1m', 'movies.dat'));
    assert.equal(items.size, 3);
    assert.deepEqual(items.get('30'), { title: 'Nothing (2000)', attributes: {} });
  });
  test('bad rows and joins', async () => {
    const movies = readFileSync(fx('ml-1m', 'movies.dat'));
    await rejectsData(loadMovielensDat(tmpDir({ 'ratings.dat': '1::20::5::1\n1::99::4::2\n', 'movies.dat': movies })), {
      file: 'ratings.dat',
      line: 2,
      field: 'MovieID',
      message: /not in movies\.dat/,
    });
    await rejectsData(loadMovielensDat(tmpDir({ 'ratings.dat': '1::20::5\n' })), { file: 'ratings.dat', line: 1, field: 'Timestamp' });
    await rejectsData(loadMovielensDat(tmpDir({ 'movies.dat': movies })), { file: 'ratings.dat', message: /no ratings\.dat/ });
  });
});

describe('MovieLens latest (.csv) loader', () => {
  test('fixture: header, quoted titles with commas, "" and a line break', async () => {
    const d = await loadMovielensCsv(fx('ml-latest'));
    assert.deepEqual(rows(d), [
      ['1', '11', 964982703, 4],
      ['1', '12', 964981247, 0.5],
      ['2', '1', 964982224, 5],
      ['2', '13', 964983815, 3],
    ]);
    assert.equal(metaOf(d, '11')?.title, 'American President, The (1995)');
    assert.equal(metaOf(d, '12')?.title, 'Title with "quotes" (2000)');
    assert.deepEqual(metaOf(d, '12')?.attributes, {});
    assert.deepEqual(metaOf(d, '13'), { title: 'Two\nLines (2001)', attributes: { genre: 'Drama' } });
  });
  test('missing header column, unterminated quote', async () => {
    await rejectsData(loadMovielensCsv(tmpDir({ 'ratings.csv': 'userId,movieId,rating\n1,2,3\n' })), { file: 'ratings.csv', line: 1, field: 'timestamp', message: /missing column/ });
    await rejectsData(loadMovielensCsv(tmpDir({ 'ratings.csv': 'userId,movieId,rating,timestamp\n1,2,3,4\n"1,2,3,4\n' })), {
      file: 'ratings.csv',
      line: 3,
      message: /unterminated quoted field/,
    });
  });
});

describe('S3-Rec / P5 sequence loader', () => {
  test('fixture with datamaps, attribute names and dh-r titles', async () => {
    const d = await loadS3Rec(fx('s3rec'));
    assert.equal(d.name, 's3rec');
    assert.equal(d.time, null);
    assert.equal(d.rating, null);
    assert.deepEqual(
      rows(d).map((r) => `${r[0]}:${r[1]}`),
      ['1:1', '1:2', '1:3', '2:2', '2:4', '2:1', '2:3', '3:4', '3:5'],
    );
    assert.deepEqual(d.itemIds, ['1', '2', '3', '4', '5']);
    assert.deepEqual(metaOf(d, '1'), {
      title: 'Palette, 15 Colors &amp; Brush',
      attributes: { _originalId: 'B01', _attributeIds: '1 2', attributes: 'Makeup, WAWO' },
    });
    assert.equal(metaOf(d, '3')?.title, 'Nail Polish Red');
    assert.equal(metaOf(d, '4')?.title, '', 'an empty name gives an empty title');
    assert.deepEqual(metaOf(d, '5'), { title: 'Top Coat', attributes: { _originalId: 'B05' } });
    const off = await loadS3Rec(fx('s3rec'), { attributeNames: false });
    assert.equal(metaOf(off, '1')?.attributes.attributes, undefined);
  });
  test('no datamaps: attribute ids only, CRLF lines, *_sample.txt ignored', async () => {
    const d = await loadDataset(fx('s3rec-plain'));
    assert.equal(d.name, 's3rec-plain');
    assert.deepEqual(rows(d).map((r) => `${r[0]}:${r[1]}`), ['7:30', '7:10', '7:20', '8:10', '8:40']);
    assert.deepEqual(metaOf(d, '40'), { title: '', attributes: { _attributeIds: '7 7' } });
  });
  test('unknown ids and empty sequences', async () => {
    const maps = readFileSync(fx('s3rec', 'datamaps.json'));
    await rejectsData(loadS3Rec(tmpDir({ 'X.txt': '1 1 2\n2 3 77 4\n', 'X_item2attributes.json': '{}', 'datamaps.json': maps })), {
      file: 'X.txt',
      line: 2,
      field: 'item',
      message: /item '77' \(position 2\) is not in datamaps\.json/,
    });
    await rejectsData(loadS3Rec(tmpDir({ 'X.txt': '1 1 2\n9 3\n', 'X_item2attributes.json': '{}', 'datamaps.json': maps })), { file: 'X.txt', line: 2, field: 'user' });
    const dir = tmpDir({ 'X.txt': '1 1 2\n2\n3 3\n', 'X_item2attributes.json': '{}' });
    await rejectsData(loadS3Rec(dir), { file: 'X.txt', line: 2, field: 'items', message: /has no items/ });
    const d = await loadS3Rec(dir, { skipBadRows: true });
    assert.equal(d.skippedRows, 1);
    assert.equal(d.user.length, 3);
    await rejectsData(loadS3Rec(tmpDir({ 'X.txt': '1 1\n', 'X_item2attributes.json': '{"1": [1,' })), { file: 'X_item2attributes.json', message: /invalid JSON/ });
  });
});

describe('Amazon 2014/2018 reviews loader', () => {
  test('2014: strict-JSON reviews, Python-dict metadata', async () => {
    const d = await loadAmazonReviews(fx('amazon-2014'));
    assert.equal(d.name, 'amazon-2014');
    assert.deepEqual(rows(d), [
      ['A2SUAM1J3GNN3B', '0000013714', 1252800000, 5],
      ['A1ZCPG3D3HGRSS', '0000013714', 1373673600, 4],
      ['A2SUAM1J3GNN3B', 'B00004Y2UT', 1390000000, 2],
    ]);
    assert.deepEqual(metaOf(d, '0000013714'), {
      title: "Hymns of Faith: Children's Edition",
      attributes: { brand: 'Café Press', category: 'Books > Music | Beauty > Makeup > Eyes', price: '13.02' },
    });
    assert.deepEqual(metaOf(d, 'B00004Y2UT'), { title: "Tab\there 'quoted' é", attributes: { category: 'Beauty', price: '5' } });
    assert.equal(d.itemMeta.size, 2, 'metadata of an unknown item is ignored');
  });
  test('2018: category list, string price, main_cat; duplicate meta entries: first wins', async () => {
    const d = await loadDataset(fx('amazon-2018'));
    assert.equal(d.user.length, 2);
    assert.deepEqual(metaOf(d, 'B0000530HU'), {
      title: 'Cold Cream &amp; Cleanser',
      attributes: { brand: "Pond's", category: 'All Beauty > Skin Care > Face', 'main category': 'All Beauty', price: '$6.99' },
    });
  });
  test('loose: false rejects Python-dict lines; requireMeta names the first review of an item without metadata', async () => {
    await rejectsData(loadAmazonReviews(fx('amazon-2014'), { loose: false }), { file: 'meta_Mini.json', line: 1, message: /invalid JSON/ });
    const dir = tmpDir({
      'reviews_X.json': readFileSync(fx('amazon-2014', 'reviews_Mini_5.json')),
      'meta_X.json': "{'asin': '0000013714', 'title': 'only one'}\n",
    });
    await rejectsData(loadAmazonReviews(dir, { requireMeta: true }), { file: 'reviews_X.json', line: 3, field: 'asin', message: /B00004Y2UT' has no metadata in meta_X\.json/ });
    const d = await loadAmazonReviews(dir, { meta: null });
    assert.equal(d.itemMeta.size, 0);
  });
  test('bad rows: invalid JSON, missing key, non-numeric rating; skipBadRows', async () => {
    const good = '{"reviewerID": "A", "asin": "X", "overall": 5.0, "unixReviewTime": 1}';
    const dir = tmpDir({
      'r.json': [good, '{"reviewerID": "B", "asin": "X", "overall": 5.0', '{"reviewerID": "B", "asin": "X", "unixReviewTime": 2}', '{"reviewerID": "B", "asin": "X", "overall": "x", "unixReviewTime": 2}', good].join('\n'),
    });
    await rejectsData(loadAmazonReviews(join(dir, 'r.json')), { file: 'r.json', line: 2, message: /neither JSON/ });
    await rejectsData(loadAmazonReviews(join(dir, 'r.json'), { loose: false }), { file: 'r.json', line: 2, message: /invalid JSON/ });
    const d = await loadAmazonReviews(join(dir, 'r.json'), { skipBadRows: true });
    assert.equal(d.user.length, 2);
    assert.equal(d.skippedRows, 3);
    const one = tmpDir({ 'r.json': [good, '{"reviewerID": "B", "asin": "X", "unixReviewTime": 2}'].join('\n') });
    await rejectsData(loadAmazonReviews(join(one, 'r.json')), { file: 'r.json', line: 2, field: 'overall', message: /missing/ });
    const two = tmpDir({ 'r.json': [good, '{"reviewerID": "B", "asin": "X", "overall": "x", "unixReviewTime": 2}'].join('\n') });
    await rejectsData(loadAmazonReviews(join(two, 'r.json')), { file: 'r.json', line: 2, field: 'overall', message: /expected a number, got 'x'/ });
  });
  test('.gz files (reviews and meta) give the same dataset; corrupt gzip is a DataError', async () => {
    const dir = tmpDir({
      'reviews_Mini_5.json.gz': gzipSync(readFileSync(fx('amazon-2014', 'reviews_Mini_5.json'))),
      'meta_Mini.json.gz': gzipSync(readFileSync(fx('amazon-2014', 'meta_Mini.json'))),
    });
    const plain = await loadAmazonReviews(fx('amazon-2014'));
    const gz = await loadDataset(dir);
    assert.deepEqual(rows(gz), rows(plain));
    assert.deepEqual([...gz.itemMeta.entries()], [...plain.itemMeta.entries()]);
    const full = gzipSync(Buffer.from('{"reviewerID": "A", "asin": "X", "overall": 5.0, "unixReviewTime": 1}\n'.repeat(50)));
    const bad = tmpDir({ 'r.json.gz': full.subarray(0, full.length - 12) });
    await rejectsData(loadAmazonReviews(join(bad, 'r.json.gz')), { file: 'r.json.gz', message: /gzip/ });
  });
});

describe('Amazon 2023 loader', () => {
  test('fixture: parent_asin items, ms timestamps -> seconds, meta with store/categories/price/details', async () => {
    const d = await loadAmazon2023(fx('amazon-2023'));
    assert.deepEqual(rows(d), [
      ['AGKHLEW2SOWHNMFQIJGBECAF7INQ', 'B00YQ6X8EO', 1588687728.923, 5],
      ['AGKHLEW2SOWHNMFQIJGBECAF7INQ', 'B081TJ8YS3', 1588615855.07, 4],
      ['AE74DYR3QUGVPZJ3P7RFWBGIX7XQ', 'B081TJ8YS3', 1589665266.052, 1],
    ]);
    assert.deepEqual(metaOf(d, 'B081TJ8YS3'), {
      title: 'Yes to Tomatoes Detoxifying Charcoal Cleanser',
      attributes: { store: 'Yes To', category: 'Beauty & Personal Care > Skin Care > Face', 'main category': 'All Beauty', price: '12.5' },
    });
    assert.equal(metaOf(d, 'B00YQ6X8EO'), undefined, 'no metadata for that item');
    const byAsin = await loadAmazon2023(fx('amazon-2023'), { itemKey: 'asin', meta: null });
    assert.deepEqual(byAsin.itemIds, ['B00YQ6X8EO', 'B081TJ8YS3', 'B07XYZ0001']);
  });
  test('details kept as hidden JSON; .gz; invalid UTF-8 names the field', async () => {
    const dir = tmpDir({
      'Mini.jsonl.gz': gzipSync(readFileSync(fx('amazon-2023', 'Mini.jsonl'))),
      'meta_Mini.jsonl.gz': gzipSync(readFileSync(fx('amazon-2023', 'meta_Mini.jsonl'))),
    });
    assert.equal(await detectFormat(dir), 'amazon-2023');
    const d = await loadDataset(dir);
    assert.equal(d.user.length, 3);
    const meta = Buffer.concat([
      Buffer.from('{"title": "Leather Conditioner", "details": {"UPC": "617390882781"}, "parent_asin": "B00YQ6X8EO"}\n'),
      Buffer.from('{"title": "Caf'),
      Buffer.from([0xe9]),
      Buffer.from('", "parent_asin": "B081TJ8YS3"}\n'),
    ]);
    const bad = tmpDir({ 'Mini.jsonl': readFileSync(fx('amazon-2023', 'Mini.jsonl')), 'meta_Mini.jsonl': meta });
    await rejectsData(loadAmazon2023(bad), { file: 'meta_Mini.jsonl', line: 2, field: 'title', message: /invalid UTF-8/ });
    const skipped = await loadAmazon2023(bad, { skipBadRows: true });
    assert.equal(skipped.skippedRows, 1);
    assert.deepEqual(metaOf(skipped, 'B00YQ6X8EO')?.attributes, { _details: '{"UPC":"617390882781"}' });
  });
});

describe('generic and RecBole loaders', () => {
  test('CSV with header + TSV item file (ISO times, quoted ids, attribute columns)', async () => {
    const d = await loadGeneric(fx('generic', 'events.csv'), {
      columns: { user: 'uid', item: 'iid', rating: 'stars', time: 'when', timeUnit: 'iso' },
      items: { path: 'items.tsv', item: 'item', title: 'name', attributes: ['brand', 'color'] },
    });
    assert.equal(d.name, 'events');
    assert.deepEqual(rows(d), [
      ['u1', 'i1', Date.UTC(2020, 0, 2, 3, 4, 5) / 1000, 4.5],
      ['u2', 'i,2', Date.UTC(2020, 0, 3) / 1000, 3],
      ['u1', 'i3', Date.UTC(2020, 0, 4) / 1000, 5],
    ]);
    assert.deepEqual(metaOf(d, 'i,2'), { title: 'Second thing', attributes: { color: 'blue' } });
    assert.deepEqual(metaOf(d, 'i3'), { title: 'Third thing', attributes: { brand: 'Acme' } });
    assert.equal(d.itemMeta.size, 3);
  });
  test('JSONL with ms times, implicit; headerless TSV by index; required item file', async () => {
    const j = await loadDataset(fx('generic', 'events.jsonl'), { columns: { user: 'user', item: 'item', time: 'ts', timeUnit: 'ms' } });
    assert.equal(j.rating, null);
    assert.deepEqual(rows(j), [
      ['a', '10', 1600000000, null],
      ['b', '11', 1600000001, null],
      ['a', '11', 1600000002, null],
    ]);
    const h = await loadGeneric(fx('generic', 'headerless.tsv'), { header: false, columns: { user: 0, item: 1, rating: 2 } });
    assert.equal(h.time, null);
    assert.deepEqual(rows(h), [
      ['5', '50', null, 1],
      ['6', '60', null, 0],
    ]);
    await rejectsData(loadGeneric(fx('generic', 'headerless.tsv'), { header: false, columns: { user: 'user', item: 1 } }), { file: 'headerless.tsv', field: 'user', message: /no header/ });
    const req = { path: fx('generic', 'items.tsv'), item: 'item', title: 'name', required: true };
    const ok = await loadGeneric(fx('generic', 'events.csv'), { columns: { user: 'uid', item: 'iid' }, items: req });
    assert.equal(ok.itemMeta.size, 3);
    await rejectsData(
      loadGeneric(join(tmpDir({ 'e.csv': 'uid,iid\nu1,i1\nu1,zz\n' }), 'e.csv'), { columns: { user: 'uid', item: 'iid' }, items: req }),
      { file: 'e.csv', line: 3, field: 'iid', message: /item 'zz' is not in items\.tsv/ },
    );
  });
  test('missing column, bad time, invalid UTF-8 in an id column', async () => {
    await rejectsData(loadGeneric(fx('generic', 'events.csv'), { columns: { user: 'uid', item: 'nope' } }), { file: 'events.csv', line: 1, field: 'nope', message: /missing column/ });
    const dir = tmpDir({ 'e.csv': 'u,i,t\na,b,2020-01-01\na,c,yesterday\n' });
    await rejectsData(loadGeneric(join(dir, 'e.csv'), { columns: { user: 'u', item: 'i', time: 't', timeUnit: 'iso' } }), { file: 'e.csv', line: 3, field: 't', message: /ISO-8601/ });
    const enc = tmpDir({ 'e.tsv': Buffer.concat([Buffer.from('u\ti\nok\t1\nJos'), Buffer.from([0xe9, 0x09]), Buffer.from('2\n')]) });
    await rejectsData(loadGeneric(join(enc, 'e.tsv'), { columns: { user: 'u', item: 'i' } }), { file: 'e.tsv', line: 3, field: 'u', message: /invalid UTF-8/ });
    const latin = await loadGeneric(join(enc, 'e.tsv'), { columns: { user: 'u', item: 'i' }, encoding: 'latin1' });
    assert.deepEqual(latin.userIds, ['ok', 'José']);
  });
  test('multi-chunk files: UTF-8 across 1 MiB chunk boundaries, exact line numbers, literal quotes in TSV', async () => {
    const n = 60_000;
    const lines = ['user\titem\tname'];
    for (let k = 0; k < n; k++) lines.push(`u${k % 97}\t${k}\t"Crème" brûlée №${k}`);
    const big = join(tmpDir({ 'big.tsv': lines.join('\n') + '\n' }), 'big.tsv');
    const d = await loadGeneric(big, { columns: { user: 'user', item: 'item' }, items: { path: big, item: 'item', title: 'name' } });
    assert.equal(d.user.length, n);
    assert.equal(d.itemMeta.size, n);
    for (const k of [0, 17_000, 33_333, n - 1]) assert.equal(metaOf(d, String(k))?.title, `"Crème" brûlée №${k}`);
    const bad = join(tmpDir({ 'bad.tsv': lines.join('\n') + '\nu1\t\tx\n' }), 'bad.tsv');
    await rejectsData(loadGeneric(bad, { columns: { user: 'user', item: 'item' } }), { file: 'bad.tsv', line: n + 2, field: 'item', message: /empty id/ });
  });
  test('RecBole atomic folder (name:type headers, .item titles and attributes)', async () => {
    const d = await loadRecbole(fx('recbole'));
    assert.deepEqual(rows(d), [
      ['1', '100', 10, 4],
      ['2', '100', 11, 2],
    ]);
    assert.deepEqual(metaOf(d, '100'), { title: 'Some Movie', attributes: { class: 'Drama Comedy' } });
  });
});

describe('hostile input (issue 15)', () => {
  test('numbers that overflow a double or a float32, or dates out of range, are refused naming the field', async () => {
    for (const [bad, field] of [['1e400', 'rating'], ['1e39', 'rating'], ['-1e39', 'rating'], ['Infinity', 'rating']] as const) {
      await rejectsData(loadMl100k(tmpDir({ 'u.data': `1\t1\t${bad}\t10\n` })), { file: 'u.data', line: 1, field });
      await rejectsData(loadMovielensCsv(tmpDir({ 'ratings.csv': `userId,movieId,rating,timestamp\n1,2,${bad},5\n` })), { file: 'ratings.csv', line: 2, field });
    }
    for (const bad of ['1e400', '1e39', '9e12']) {
      await rejectsData(loadMovielensDat(tmpDir({ 'ratings.dat': `1::2::3::${bad}\n` })), { file: 'ratings.dat', line: 1, field: 'Timestamp', message: /out of range/ });
      await rejectsData(loadAmazon2023(tmpDir({ 'x.jsonl': `{"user_id": "u", "parent_asin": "i", "rating": 1, "timestamp": ${bad}000}\n` })), { file: 'x.jsonl', line: 1, field: 'timestamp' });
    }
    await rejectsData(loadAmazonReviews(tmpDir({ 'r.json': '{"reviewerID": "u", "asin": "i", "overall": 1e39, "unixReviewTime": 5}\n' })), { file: 'r.json', line: 1, field: 'overall', message: /float32/ });
  });
  test('JSON numeric ids beyond 2^53 are refused instead of merged; exact ones are kept', async () => {
    const merged = '{"u": 12345678901234567891, "i": 1}\n{"u": 12345678901234567892, "i": 2}\n';
    await rejectsData(loadGeneric(join(tmpDir({ 'x.jsonl': merged }), 'x.jsonl'), { columns: { user: 'u', item: 'i' } }), { file: 'x.jsonl', line: 1, field: 'u', message: /beyond 2\^53/ });
    const ok = await loadGeneric(join(tmpDir({ 'x.jsonl': '{"u": 9007199254740991, "i": "a"}\n{"u": "12345678901234567891", "i": "a"}\n' }), 'x.jsonl'), { columns: { user: 'u', item: 'i' } });
    assert.deepEqual(ok.userIds, ['9007199254740991', '12345678901234567891']);
  });
  test('CR-only, CRLF and LF line endings read the same; a leading space does not shift the user', async () => {
    const lf = await loadS3Rec(tmpDir({ 'S.txt': '1 2 3\n2 3 4\n', 'S_item2attributes.json': '{}' }));
    for (const text of ['1 2 3\r2 3 4\r', '1 2 3\r\n2 3 4\r\n', ' 1 2 3\n\t2 3 4', '1 2 3\r\r\n2 3 4']) {
      const d = await loadS3Rec(tmpDir({ 'S.txt': text, 'S_item2attributes.json': '{}' }));
      assert.deepEqual(rows(d), rows(lf), JSON.stringify(text));
    }
    const e = await rejectsData(loadMl100k(tmpDir({ 'u.data': '1\t1\t5\t10\r1\t2\tx\t11\r' })), { file: 'u.data', line: 2, field: 'rating' });
    assert.match(e.message, /u\.data:2:/);
  });
  test('a decimal comma (an extra field) in a generic CSV is refused, not shifted', async () => {
    const dir = tmpDir({ 'e.csv': 'u,i,r,t\n1,2,4,5,100\n' });
    await rejectsData(loadGeneric(join(dir, 'e.csv'), { columns: { user: 'u', item: 'i', rating: 'r', time: 't' } }), { file: 'e.csv', line: 2, message: /5 fields, the header has 4 \(a decimal comma/ });
    await rejectsData(loadMovielensCsv(tmpDir({ 'ratings.csv': 'userId,movieId,rating,timestamp\n1,2,4,5,100\n' })), { file: 'ratings.csv', line: 2, message: /decimal comma/ });
  });
  test('MovieLens rating files are checked for invalid UTF-8', async () => {
    await rejectsData(loadMl100k(tmpDir({ 'u.data': Buffer.from('1\t1\xff\t5\t10\n', 'latin1') })), { file: 'u.data', line: 1, field: 'item', message: /invalid UTF-8/ });
    await rejectsData(loadMovielensDat(tmpDir({ 'ratings.dat': Buffer.from('1\xe9::1::5::10\n', 'latin1') })), { file: 'ratings.dat', line: 1, field: 'UserID', message: /invalid UTF-8/ });
  });
  test('a long gzipped line reads in linear time; a line above the bound is a DataError naming it', async () => {
    const long = `{"user_id": "u", "parent_asin": "${'a'.repeat(8 * 2 ** 20)}", "rating": 1, "timestamp": 1000}\n`;
    const dir = tmpDir({ 'x.jsonl.gz': gzipSync(Buffer.from(`{"user_id": "v", "parent_asin": "b", "rating": 2, "timestamp": 2000}\n${long}`)) });
    const t0 = performance.now();
    const d = await loadAmazon2023(join(dir, 'x.jsonl.gz'), { meta: null });
    assert.equal(d.user.length, 2);
    assert.equal(d.itemIds[1].length, 8 * 2 ** 20);
    // Quadratic re-concatenation of 16 KB gunzip chunks took tens of seconds at this size (issue 15).
    assert.ok(performance.now() - t0 < 20_000, `took ${performance.now() - t0} ms`);
    process.env.LLMREC_MAX_LINE_BYTES = String(2 ** 20);
    try {
      await rejectsData(loadAmazon2023(join(dir, 'x.jsonl.gz'), { meta: null }), { file: 'x.jsonl.gz', line: 2, message: /longer than 1048576 bytes/ });
      await rejectsData(loadGeneric(join(tmpDir({ 'q.csv': `u,i\n1,"${'x\n'.repeat(2 ** 19)}` }), 'q.csv'), { columns: { user: 'u', item: 'i' } }), { file: 'q.csv', line: 2, message: /never closed/ });
    } finally {
      delete process.env.LLMREC_MAX_LINE_BYTES;
    }
  });
});

describe('format detection and loadDataset', () => {
  test('each fixture folder is detected', async () => {
    const expected: Record<string, string> = {
      'ml-100k': 'ml-100k',
      'ml-1m': 'ml-dat',
      'ml-latest': 'ml-latest',
      s3rec: 's3rec',
      's3rec-plain': 's3rec',
      'amazon-2014': 'amazon-reviews',
      'amazon-2018': 'amazon-reviews',
      'amazon-2023': 'amazon-2023',
      recbole: 'recbole',
    };
    for (const [dir, format] of Object.entries(expected)) assert.equal(await detectFormat(fx(dir)), format, dir);
    assert.equal(await detectFormat(fx('amazon-2023', 'Mini.jsonl')), 'amazon-2023');
    assert.equal(await detectFormat(fx('ml-1m', 'ratings.dat')), 'ml-dat');
    await rejectsData(detectFormat(fx('generic')), { file: 'generic', message: /cannot tell the dataset format/ });
  });
  test('explicit format and aliases; names resolve under LLMREC_DATA_DIR', async () => {
    const d = await loadDataset(fx('ml-1m'), { format: 'ml-1m' });
    assert.equal(d.user.length, 3);
    await assert.rejects(loadDataset(fx('ml-1m'), { format: 'bogus' as 'ml-dat' }), /unknown dataset format 'bogus'/);
    const old = process.env.LLMREC_DATA_DIR;
    try {
      process.env.LLMREC_DATA_DIR = FIX;
      const s = await loadDataset('s3rec');
      assert.equal(s.user.length, 9);
      await assert.rejects(loadDataset('nope-nope'), DatasetNotFoundError);
    } finally {
      if (old === undefined) delete process.env.LLMREC_DATA_DIR;
      else process.env.LLMREC_DATA_DIR = old;
    }
  });
});

describe('Python literal parser (Amazon 2014 metadata)', () => {
  test('dicts, lists, tuples, quotes, escapes, prefixes, constants', () => {
    assert.deepEqual(parsePythonLiteral(`{'a': [1, 2.5, -3e2], "b": ('x', u'y\\'z'), 'c': {'d': None, 'e': True, 'f': False}, 'g': '\\xe9\\u00e8\\n', 'h': 'it''s', 'i': [],}`), {
      a: [1, 2.5, -300],
      b: ['x', "y'z"],
      c: { d: null, e: true, f: false },
      g: 'éè\n',
      h: 'its',
      i: [],
    });
    assert.deepEqual(parsePythonLiteral(`"He said \\"hi\\""`), 'He said "hi"');
    assert.throws(() => parsePythonLiteral(`{'a': __import__('os')}`), /unexpected '_'/);
    assert.throws(() => parsePythonLiteral(`{'a': 1} extra`), /trailing/);
    assert.throws(() => parsePythonLiteral(`{'a': 'open`), /unterminated/);
  });
});

describe('item sentences', () => {
  const meta: ItemMeta = {
    title: 'Cold Cream &amp; Cleanser',
    attributes: { price: '$6.99', brand: "Pond's", category: 'Beauty > Skin Care', _details: '{"x":1}', empty: ' ' },
  };
  test('title first, then keys sorted; hidden and empty keys skipped; entities decoded', () => {
    assert.equal(itemSentence(meta), "Title: Cold Cream & Cleanser; Brand: Pond's; Category: Beauty > Skin Care; Price: $6.99");
  });
  test('given key order, labels, exclude, no title, raw entities', () => {
    assert.equal(itemSentence(meta, { keys: ['category', 'brand', 'missing'], labels: { category: 'Type' } }), "Title: Cold Cream & Cleanser; Type: Beauty > Skin Care; Brand: Pond's");
    assert.equal(itemSentence(meta, { includeTitle: false, exclude: ['price'], decodeEntities: false, separator: ' | ' }), "Brand: Pond's | Category: Beauty > Skin Care");
    assert.equal(itemSentence({ title: '', attributes: { genre: 'Drama' } }), 'Genre: Drama');
  });
  test('maxLength cuts at a word boundary with an ellipsis; deterministic', () => {
    const s = itemSentence(meta, { maxLength: 40 });
    assert.ok(s.length <= 40, s);
    assert.equal(s, 'Title: Cold Cream & Cleanser; Brand…');
    assert.equal(itemSentence(meta, { maxLength: 40 }), s);
    assert.equal(truncate('abcdefghij', 5), 'abcd…');
    assert.equal(itemSentence(meta, { maxValueLength: 8, keys: [] }), 'Title: Cold…');
    assert.equal(decodeHtmlEntities('a &#233; &#x41; &bogus; &lt;b&gt;'), 'a é A &bogus; <b>');
  });
});

const REAL = dataRoot();
const skipUnless = (name: string): { skip: string } | Record<string, never> =>
  dataAvailable(join(REAL, name)) ? {} : { skip: `real dataset '${name}' not found under ${REAL} (set LLMREC_DATA_DIR)` };

describe('real data (shared datasets)', () => {
  test('ml-100k: 100,000 ratings, 943 users, 1,682 items, latin-1 titles', skipUnless('ml-100k'), async () => {
    const d = await loadDataset(join(REAL, 'ml-100k'));
    assert.equal(d.user.length, 100_000);
    assert.equal(d.userIds.length, 943);
    assert.equal(d.itemIds.length, 1682);
    assert.equal(d.itemMeta.size, 1682);
    assert.equal(d.skippedRows, 0);
    assert.deepEqual(rows(d)[0], ['196', '242', 881250949, 3]);
    assert.equal(metaOf(d, '543')?.title, 'Misérables, Les (1995)');
    assert.equal(metaOf(d, '1633')?.title, 'Á köldum klaka (Cold Fever) (1994)');
    assert.deepEqual(metaOf(d, '1'), { title: 'Toy Story (1995)', attributes: { genre: "Animation, Children's, Comedy", 'release date': '01-Jan-1995' } });
    assert.deepEqual(metaOf(d, '267'), { title: 'unknown', attributes: { genre: 'unknown' } });
    const counts = [0, 0, 0, 0, 0, 0];
    for (const r of d.rating ?? []) counts[r]++;
    assert.deepEqual(counts.slice(1), [6110, 11370, 27145, 34174, 21201]);
    let lo = Infinity;
    let hi = -Infinity;
    for (const t of d.time ?? []) {
      lo = Math.min(lo, t);
      hi = Math.max(hi, t);
    }
    assert.deepEqual([lo, hi], [874724710, 893286638]);
  });
  test('ml-100k RecBole atomic copy equals u.data row for row', skipUnless('ml-100k/recbole-atomic'), async () => {
    const a = await loadDataset(join(REAL, 'ml-100k'));
    const b = await loadDataset(join(REAL, 'ml-100k', 'recbole-atomic'));
    assert.deepEqual(rows(b), rows(a));
    assert.equal(metaOf(b, '1633')?.title, 'Á köldum klaka (Cold Fever)');
  });
  test('amazon-beauty: 198,502 interactions, 22,363 users, 12,101 items, titles for all but 7', skipUnless('amazon-beauty'), async () => {
    const d = await loadDataset(join(REAL, 'amazon-beauty'));
    assert.equal(d.user.length, 198_502);
    assert.equal(d.userIds.length, 22_363);
    assert.equal(d.itemIds.length, 12_101);
    assert.equal(d.time, null);
    assert.equal(d.rating, null);
    const titles = [...d.itemMeta.values()].filter((m) => m.title !== '').length;
    assert.equal(d.itemMeta.size, 12_101);
    assert.equal(titles, 12_101 - 7);
    assert.equal(metaOf(d, '4')?.title, 'WAWO 15 Color Professionl Makeup Eyeshadow Camouflage Facial Concealer Neutral Palette');
    assert.equal(metaOf(d, '4')?.attributes._originalId, '7806397051');
    assert.equal(metaOf(d, '4')?.attributes.attributes, undefined, "datamaps attribute names do not match Beauty's attribute ids");
    assert.deepEqual(rows(d).slice(0, 5).map((r) => `${r[0]}:${r[1]}`), ['1:1', '1:2', '1:3', '1:4', '1:5']);
  });
  test('yelp-s3rec: attribute names attached (same numbering)', skipUnless('yelp-s3rec'), async () => {
    const d = await loadDataset(join(REAL, 'yelp-s3rec'));
    assert.equal(d.user.length, 316_354);
    assert.equal(d.userIds.length, 30_431);
    assert.equal(d.itemIds.length, 20_033);
    assert.equal(metaOf(d, '11394')?.attributes.attributes, 'Restaurants, Vietnamese, Soup');
  });
  test('ml-1m: movies.dat gives latin-1 item text; loading the folder explains the missing ratings.dat', skipUnless('ml-1m'), async () => {
    const { items } = await readMovielensDatItems(join(REAL, 'ml-1m', 'movies.dat'));
    assert.equal(items.size, 3883);
    assert.deepEqual(items.get('1'), { title: 'Toy Story (1995)', attributes: { genre: "Animation, Children's, Comedy" } });
    assert.equal(items.get('73')?.title, 'Misérables, Les (1995)');
    await rejectsData(loadDataset(join(REAL, 'ml-1m')), { file: 'ratings.dat', message: /no ratings\.dat/ });
  });
  test('lastfm-hetrec2011 through the generic loader (CRLF, artist names)', skipUnless('lastfm-hetrec2011'), async () => {
    const dir = join(REAL, 'lastfm-hetrec2011');
    const d = await loadDataset(join(dir, 'user_artists.dat'), {
      columns: { user: 'userID', item: 'artistID' },
      delimiter: '\t',
      quotes: false,
      items: { path: 'artists.dat', item: 'id', title: 'name', delimiter: '\t', quotes: false, required: true },
    });
    assert.equal(d.user.length, 92_834);
    assert.equal(d.userIds.length, 1892);
    assert.equal(d.itemIds.length, 17_632);
    assert.equal(d.itemMeta.size, 17_632);
    assert.equal(metaOf(d, '1')?.title, 'MALICE MIZER');
  });
});
