/**
 * Tests of tabular user features in the data layer: the protocol carrying
 * RawDataset.userFeatures to the split for kept users only (re-indexed), the
 * MovieLens loaders reading u.user (ML-100K) and users.dat (ML-1M), their
 * errors naming file, line and field, the dataset cache keeping the
 * features, and the real shared ml-100k / ml-1m copies (skipped with a
 * message when absent).
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { readCachedDataset, writeCachedDataset } from '../src/data/cache.js';
import { DataError } from '../src/data/errors.js';
import { loadDataset } from '../src/data/loaders/index.js';
import { loadMl100k, readMl100kUsers } from '../src/data/loaders/ml100k.js';
import { loadMovielensDat, readMovielensDatUsers } from '../src/data/loaders/mldat.js';
import { applyProtocol, carryUserFeatures, validateRaw } from '../src/data/protocol.js';
import { dataAvailable, repoRoot, resolveDataset } from '../src/data/resolve.js';
import type { ProtocolConfig, RawDataset } from '../src/data/types.js';

const FIX = resolve(repoRoot, 'test', 'fixtures', 'loaders');
const tmp = mkdtempSync(join(tmpdir(), 'llmrec-userfeat-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let tmpCount = 0;
/** A fresh temp folder holding the given files. */
function tmpDir(files: Record<string, string | Buffer>): string {
  const dir = join(tmp, `d${tmpCount++}`);
  mkdirSync(dir);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return dir;
}

/** Asserts a DataError at file (basename), line and field whose message names them. */
async function rejectsData(p: Promise<unknown>, file: string, line: number, field: string, message?: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (x) {
    err = x;
  }
  assert.ok(err instanceof DataError, `expected a DataError, got ${String(err)}`);
  assert.equal(basename(err.file), file, err.message);
  assert.equal(err.line, line, err.message);
  assert.equal(err.field, field, err.message);
  assert.ok(err.message.includes(`${file}:${line}: field '${field}': `), err.message);
  if (message) assert.match(err.message, message);
}

/** Features by external user id (for readable assertions). */
function byId(ids: readonly string[], f: Map<number, Record<string, string>> | undefined): Record<string, Record<string, string>> {
  assert.ok(f, 'userFeatures present');
  const out: Record<string, Record<string, string>> = {};
  for (const [u, v] of f) out[ids[u]] = v;
  return out;
}

const NO_FILTER: ProtocolConfig = { ratingThreshold: 3, kCore: 0, maxHistory: 5, numNegatives: 0, seed: 1 };

/** A raw dataset from rows [user, item, time, rating]; userIds fixed up front (raw order differs from split order). */
function rawOf(rows: Array<[string, string, number, number]>, userIds: string[], features?: Record<string, Record<string, string>>): RawDataset {
  const itemIds: string[] = [];
  const idx = (ids: string[], id: string): number => (ids.includes(id) ? ids.indexOf(id) : ids.push(id) - 1);
  const raw: RawDataset = {
    name: 'hand',
    source: 'test',
    userIds: [...userIds],
    itemIds,
    user: Int32Array.from(rows, (r) => userIds.indexOf(r[0])),
    item: Int32Array.from(rows, (r) => idx(itemIds, r[1])),
    time: Float64Array.from(rows, (r) => r[2]),
    rating: Float32Array.from(rows, (r) => r[3]),
    itemMeta: new Map(),
    skippedRows: 0,
  };
  if (features) raw.userFeatures = new Map(Object.entries(features).map(([id, f]) => [userIds.indexOf(id), f]));
  return raw;
}

describe('protocol carries user features', () => {
  // Raw user order B, A, C, D, E; split order (first appearance of kept rows): C, A, E.
  const rows: Array<[string, string, number, number]> = [
    ['C', 'i1', 1, 5], ['C', 'i2', 2, 5], ['C', 'i3', 3, 5],
    ['B', 'i1', 1, 5], ['B', 'i2', 2, 5], // only 2 rows: dropped (cannot be split)
    ['A', 'i3', 1, 4], ['A', 'i1', 2, 4], ['A', 'i2', 3, 4], ['A', 'i4', 4, 4],
    ['D', 'i1', 1, 2], ['D', 'i2', 2, 1], ['D', 'i3', 3, 2], // ratings <= 3: filtered out
    ['E', 'i2', 1, 5], ['E', 'i3', 2, 5], ['E', 'i4', 3, 5], ['E', 'i5', 4, 5], // kept, no features
  ];
  const users = ['B', 'A', 'C', 'D', 'E'];
  const features = {
    A: { age: '30', gender: 'female', occupation: 'writer' },
    B: { age: '40', gender: 'male', occupation: 'artist' },
    C: { age: '20', gender: 'male', occupation: 'student' },
    D: { age: '50', gender: 'female', occupation: 'doctor' },
  };

  it('kept users keep their features under split indices; filtered users are dropped', () => {
    const split = applyProtocol(rawOf(rows, users, features), NO_FILTER);
    assert.deepEqual(split.userIds, ['C', 'A', 'E']);
    assert.ok(split.userFeatures);
    assert.deepEqual([...split.userFeatures.keys()], [0, 1], 'split indices in order; E has none');
    assert.deepEqual(split.userFeatures.get(0), features.C);
    assert.deepEqual(split.userFeatures.get(1), features.A);
    assert.deepEqual(byId(split.userIds, split.userFeatures), { C: features.C, A: features.A });
    for (const u of split.userFeatures.keys()) assert.ok(u >= 0 && u < split.numUsers);
  });

  it('absent without raw features; everything else is identical either way', () => {
    const plain = applyProtocol(rawOf(rows, users), NO_FILTER);
    assert.equal('userFeatures' in plain, false);
    const withF = applyProtocol(rawOf(rows, users, features), { ...NO_FILTER, numNegatives: 1 });
    const withoutF = applyProtocol(rawOf(rows, users), { ...NO_FILTER, numNegatives: 1 });
    const { userFeatures, ...rest } = withF;
    assert.ok(userFeatures);
    assert.deepEqual(rest, withoutF);
  });

  it('an empty feature map stays an empty map; carryUserFeatures alone', () => {
    const raw = rawOf(rows, users, {});
    assert.deepEqual(applyProtocol(raw, NO_FILTER).userFeatures, new Map());
    assert.equal(carryUserFeatures(rawOf(rows, users), { userMap: Int32Array.of(0) }), undefined);
    const out = carryUserFeatures(rawOf(rows, users, features), { userMap: Int32Array.of(-1, 1, 0, -1, 2) });
    assert.deepEqual([...(out ?? new Map<number, unknown>()).entries()], [[0, features.C], [1, features.A]]);
  });

  it('validateRaw rejects a feature key outside the users', () => {
    const raw = rawOf(rows, users, features);
    raw.userFeatures?.set(9, { age: '1' });
    assert.throws(() => validateRaw(raw), /userFeatures has user index 9 outside \[0, 5\)/);
  });
});

describe('ML-100K u.user', () => {
  const fixture = join(FIX, 'ml-100k');
  const data = readFileSync(join(fixture, 'u.data'));

  it('fixture: features of the rated users (u.user user 4 has no ratings)', async () => {
    const d = await loadMl100k(fixture);
    assert.deepEqual(d.userIds, ['1', '2', '3']);
    assert.equal(d.userFeatures?.size, 3);
    assert.deepEqual(byId(d.userIds, d.userFeatures), {
      1: { age: '24', gender: 'male', occupation: 'technician' },
      2: { age: '53', gender: 'female', occupation: 'other' },
      3: { age: '23', gender: 'male', occupation: 'writer' },
    });
    assert.deepEqual(Object.keys(d.userFeatures?.get(0) ?? {}), ['age', 'gender', 'occupation'], 'no zip code by default');
    assert.equal(d.skippedRows, 0);
  });

  it('userZipCode keeps the zip code; loadDataset passes it through', async () => {
    const d = await loadDataset(fixture, { userZipCode: true });
    assert.deepEqual(d.userFeatures?.get(0), { age: '24', gender: 'male', occupation: 'technician', 'zip code': '85711' });
  });

  it('no u.user: no userFeatures, no error; a rated user u.user lacks gets no entry', async () => {
    const none = await loadMl100k(tmpDir({ 'u.data': data }));
    assert.equal(none.userFeatures, undefined);
    assert.equal('userFeatures' in none, false);
    const part = await loadMl100k(tmpDir({ 'u.data': data, 'u.user': '2|53|F|other|94043\n' }));
    assert.deepEqual(byId(part.userIds, part.userFeatures), { 2: { age: '53', gender: 'female', occupation: 'other' } });
  });

  it('malformed lines: DataError naming u.user, line and field; skipBadRows counts them', async () => {
    const good = '1|24|M|technician|85711\n';
    const cases: Array<[string, string, RegExp]> = [
      ['2|x|F|other|94043', 'age', /expected a number, got 'x'/],
      ['2|5.5|F|other|94043', 'age', /whole number of years/],
      ['2|53|X|other|94043', 'gender', /expected 'M' or 'F', got 'X'/],
      ['2|53|F||94043', 'occupation', /empty/],
      ['2|53|F', 'occupation', /missing \(line has 3 of 5 '\|'-separated fields/],
      ['1|53|F|other|94043', 'user id', /duplicate user id '1'/],
      ['|53|F|other|94043', 'user id', /empty id/],
    ];
    for (const [line, field, message] of cases) {
      await rejectsData(loadMl100k(tmpDir({ 'u.data': data, 'u.user': good + line + '\n' })), 'u.user', 2, field, message);
    }
    let err: unknown;
    try {
      await loadMl100k(tmpDir({ 'u.data': data, 'u.user': good + '2|x|F|other|94043\n' }));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof Error && err.message.endsWith(`u.user:2: field 'age': expected a number, got 'x'`), String(err));
    await assert.rejects(loadMl100k(tmpDir({ 'u.data': data, 'u.user': good + '2|53|F|other|94043|extra\n' })), /u\.user:2: line has 6 '\|'-separated fields, expected 5/);
    const skipped = await loadMl100k(tmpDir({ 'u.data': data, 'u.user': good + '2|x|F|other|94043\n3|23|M|writer|32067\n' }), { skipBadRows: true });
    assert.equal(skipped.skippedRows, 1);
    assert.deepEqual([...(skipped.userFeatures?.keys() ?? [])], [0, 2]);
  });

  it('readMl100kUsers reads latin-1 and keeps users without ratings', async () => {
    const dir = tmpDir({ 'u.user': Buffer.from('7|30|F|m\xe9decin|H3Z 2Y7\n', 'latin1') });
    const { users, skipped } = await readMl100kUsers(join(dir, 'u.user'), { zipCode: true });
    assert.equal(skipped, 0);
    assert.deepEqual(users.get('7'), { age: '30', gender: 'female', occupation: 'médecin', 'zip code': 'H3Z 2Y7' });
  });
});

describe('ML-1M users.dat', () => {
  const users = '1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n';
  const ratings = '2::20::5::978300760\n1::10::3::978302109\n';

  it('codes spelled out from the README; only rated users', async () => {
    const d = await loadMovielensDat(tmpDir({ 'ratings.dat': ratings, 'users.dat': users }));
    assert.deepEqual(byId(d.userIds, d.userFeatures), {
      1: { age: 'under 18', gender: 'female', occupation: 'K-12 student' },
      2: { age: '56+', gender: 'male', occupation: 'self-employed' },
    });
    const zip = await loadMovielensDat(tmpDir({ 'ratings.dat': ratings, 'users.dat': users }), { userZipCode: true });
    assert.equal(zip.userFeatures?.get(0)?.['zip code'], '70072');
    const none = await loadMovielensDat(tmpDir({ 'ratings.dat': ratings }));
    assert.equal(none.userFeatures, undefined);
  });

  it('bad codes: DataError naming users.dat, line and field', async () => {
    const good = '1::F::1::10::48067\n';
    await rejectsData(loadMovielensDat(tmpDir({ 'ratings.dat': ratings, 'users.dat': good + '2::M::30::16::70072\n' })), 'users.dat', 2, 'Age', /age code \(1, 18, 25, 35, 45, 50, 56\), got '30'/);
    await rejectsData(loadMovielensDat(tmpDir({ 'ratings.dat': ratings, 'users.dat': good + '2::M::56::21::70072\n' })), 'users.dat', 2, 'Occupation', /occupation code 0-20, got '21'/);
    await rejectsData(loadMovielensDat(tmpDir({ 'ratings.dat': ratings, 'users.dat': good + '2::m::56::1::70072\n' })), 'users.dat', 2, 'Gender');
    await rejectsData(loadMovielensDat(tmpDir({ 'ratings.dat': ratings, 'users.dat': good + '2::M::56\n' })), 'users.dat', 2, 'Occupation', /missing/);
  });
});

describe('dataset cache keeps user features', () => {
  it('write/read round trip, and loadDataset with cache: true', async () => {
    const raw = await loadMl100k(join(FIX, 'ml-100k'));
    raw.userFeatures?.set(1, { age: '53', gender: 'female', occupation: 'médecin ✓' });
    const file = join(tmpDir({}), 'x.safetensors');
    writeCachedDataset(file, raw);
    const back = readCachedDataset(file);
    assert.ok(back);
    assert.deepEqual(back.userFeatures, raw.userFeatures);
    assert.deepEqual(back.itemMeta, raw.itemMeta);

    const plain = await loadMl100k(tmpDir({ 'u.data': readFileSync(join(FIX, 'ml-100k', 'u.data')) }));
    const file2 = join(tmpDir({}), 'y.safetensors');
    writeCachedDataset(file2, plain);
    assert.equal('userFeatures' in (readCachedDataset(file2) ?? {}), false);

    const cache = tmpDir({});
    const src = join(tmpDir({}), 'ml-100k');
    cpSync(join(FIX, 'ml-100k'), src, { recursive: true });
    const old = process.env.LLMREC_CACHE_DIR;
    process.env.LLMREC_CACHE_DIR = cache;
    try {
      const first = await loadDataset(src, { cache: true });
      const second = await loadDataset(src, { cache: true });
      assert.equal(second.userFeatures?.size, 3);
      assert.deepEqual(second.userFeatures, first.userFeatures);
    } finally {
      if (old === undefined) delete process.env.LLMREC_CACHE_DIR;
      else process.env.LLMREC_CACHE_DIR = old;
    }
  });
});

const skipUnless = (name: string): { skip: string } | Record<string, never> =>
  dataAvailable(name) ? {} : { skip: `real dataset '${name}' not found (resolved through src/data/resolve.ts; set LLMREC_DATA_DIR)` };

describe('real data (shared datasets)', () => {
  it('ml-100k: 943 users with features; every kept user of the default protocol has them', skipUnless('ml-100k'), async () => {
    const d = await loadDataset(resolveDataset('ml-100k'));
    assert.equal(d.userIds.length, 943);
    assert.equal(d.userFeatures?.size, 943);
    const f = byId(d.userIds, d.userFeatures);
    assert.deepEqual(f['1'], { age: '24', gender: 'male', occupation: 'technician' });
    assert.deepEqual(f['2'], { age: '53', gender: 'female', occupation: 'other' });
    const genders = Object.values(f).map((x) => x.gender);
    assert.equal(genders.filter((g) => g === 'male').length, 670);
    assert.equal(genders.filter((g) => g === 'female').length, 273);
    const split = applyProtocol(d, { ratingThreshold: 3, kCore: 5, maxHistory: 10, numNegatives: 0, seed: 2024 });
    assert.equal(split.userFeatures?.size, split.numUsers);
    for (const [u, feat] of split.userFeatures ?? []) assert.deepEqual(feat, f[split.userIds[u]]);
  });

  it('ml-1m: users.dat has 6,040 users, codes spelled out', skipUnless('ml-1m/users.dat'), async () => {
    const { users, skipped } = await readMovielensDatUsers(join(resolveDataset('ml-1m'), 'users.dat'));
    assert.equal(skipped, 0);
    assert.equal(users.size, 6040);
    assert.deepEqual(users.get('1'), { age: 'under 18', gender: 'female', occupation: 'K-12 student' });
    assert.deepEqual(users.get('2'), { age: '56+', gender: 'male', occupation: 'self-employed' });
  });
});
