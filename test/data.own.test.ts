/**
 * Your own data (issue 14, docs/DATA.md): header recognition of every alias
 * without options, explicit columns by name and index, delimiters, time
 * units, an item file with titles, Parquet files (written here with
 * hyparquet-writer), and errors that name the file, the line (or row group
 * and row) and the field. Every file is written by the test into a temp
 * folder; nothing real is committed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { DataError, detectFormat, loadDataset, loadDataSection, HEADER_ALIASES, TITLE_ALIASES, type RawDataset } from '../src/data/index.js';

const dir = mkdtempSync(join(tmpdir(), 'llmrec-own-'));
let n = 0;
/** Writes a file into the temp folder and returns its path. */
function file(name: string, text: string | Buffer): string {
  const p = join(dir, `${n++}-${name}`);
  writeFileSync(p, text);
  return p;
}

/** Rows as "user item rating time" strings, in dataset order. */
function rows(d: RawDataset): string[] {
  return Array.from(d.user, (u, r) => `${d.userIds[u]} ${d.itemIds[d.item[r]]} ${d.rating ? d.rating[r] : '-'} ${d.time ? d.time[r] : '-'}`);
}

async function rejects(p: Promise<unknown>, expect: { file?: string; line?: number; field?: string; message: RegExp }): Promise<DataError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DataError, `expected a DataError, got ${String(e)}`);
    if (expect.file !== undefined) assert.ok(e.file.endsWith(expect.file), `file ${e.file}`);
    if (expect.line !== undefined) assert.equal(e.line, expect.line, e.message);
    if (expect.field !== undefined) assert.equal(e.field, expect.field, e.message);
    assert.match(e.message, expect.message);
    return e;
  }
  assert.fail('expected a DataError');
}

const CSV = 'user,item,rating,timestamp\nu1,i1,5,100\nu1,i2,3,200\nu2,i1,4,150\n';

describe('header recognition without options', () => {
  it('user/item/rating/timestamp in .csv, .tsv, .txt and .csv.gz', async () => {
    const tsv = CSV.replace(/,/g, '\t');
    for (const p of [file('a.csv', CSV), file('a.tsv', tsv), file('a.txt', tsv), file('a.csv.gz', gzipSync(CSV))]) {
      assert.equal(await detectFormat(p), 'generic', p);
      const d = await loadDataset(p);
      assert.deepEqual(rows(d), ['u1 i1 5 100', 'u1 i2 3 200', 'u2 i1 4 150'], p);
    }
  });

  it('every alias of every role, in any case and with RecBole :type suffixes', async () => {
    for (const [role, names] of Object.entries(HEADER_ALIASES)) {
      for (const alias of names) {
        const cols = { user: 'user', item: 'item', rating: 'rating', time: 'timestamp', [role]: alias };
        const head = [cols.user, cols.item, cols.rating, cols.time];
        const p = file('alias.csv', `${head.join(',')}\nu1,i1,4,10\nu2,i2,2,20\n`);
        const d = await loadDataset(p);
        assert.deepEqual(rows(d), ['u1 i1 4 10', 'u2 i2 2 20'], `${role} = ${alias}`);
        const upper = file('alias-upper.csv', `${head.map((h) => h.toUpperCase() + ':token').join(',')}\nu1,i1,4,10\n`);
        assert.deepEqual(rows(await loadDataset(upper)), ['u1 i1 4 10'], `${role} = ${alias.toUpperCase()}:token`);
      }
    }
  });

  it('the delimiter of the header line: ; and | in a .csv or .txt', async () => {
    assert.deepEqual(rows(await loadDataset(file('semi.csv', 'userId;movieId;rating\n1;10;4.5\n2;10;3\n'))), ['1 10 4.5 -', '2 10 3 -']);
    assert.deepEqual(rows(await loadDataset(file('pipe.txt', 'user_id|item_id\n1|10\n'))), ['1 10 - -']);
  });

  it('a file with user and item only has no rating and no time', async () => {
    const d = await loadDataset(file('ui.csv', 'user_id,product_id\nA,P1\nA,P2\n'));
    assert.equal(d.rating, null);
    assert.equal(d.time, null);
    assert.equal(d.user.length, 2);
  });

  it('ambiguous or missing columns: an error naming the file, the header line and what is missing', async () => {
    const amb = file('amb.csv', 'user,item,asin,rating\nu,i,a,1\n');
    const e = await rejects(loadDataset(amb), { file: 'amb.csv', line: 1, message: /item is ambiguous \(columns 'item' and 'asin'/ });
    assert.match(e.message, /user,item,asin,rating/);
    const missing = file('missing.csv', 'who,what,when\na,b,1\n');
    await rejects(loadDataset(missing), { file: 'missing.csv', line: 1, message: /no user column \(a header named one of: user, user_id.*no item column/ });
    const half = file('half.tsv', 'user_id\tthing\n1\t2\n');
    await rejects(loadDataset(half), { file: 'half.tsv', message: /no item column.*--item-col/ });
  });

  it('a .txt with no header still loads as an S3-Rec sequence file', async () => {
    const p = file('Seq.txt', '1 10 11 12\n2 11 12 13\n');
    assert.equal(await detectFormat(p), 's3rec');
  });
});

describe('explicit columns, delimiter, header', () => {
  const ODD = 'a;b;c;d\nx;u1;i1;7\nx;u2;i2;8\n';
  it('by name and by 0-based index; the columns not given still come from the header', async () => {
    const p = file('odd.txt', ODD);
    const byName = await loadDataSection({ name: p, delimiter: ';', columns: { user: 'b', item: 'c', rating: 'd' } });
    assert.deepEqual(rows(byName), ['u1 i1 7 -', 'u2 i2 8 -']);
    const byIndex = await loadDataSection({ name: p, delimiter: ';', columns: { user: 1, item: 2, time: 3 }, timeUnit: 's' });
    assert.deepEqual(rows(byIndex), ['u1 i1 - 7', 'u2 i2 - 8']);
    const partial = await loadDataset(file('partial.csv', 'user_id,sku,rating\n1,S,3\n'), { columns: { item: 'sku' } });
    assert.deepEqual(rows(partial), ['1 S 3 -']);
    const noRating = await loadDataset(file('nor.csv', CSV), { columns: { rating: null } });
    assert.equal(noRating.rating, null);
  });

  it('a headerless file needs indices; a name is an error naming the field', async () => {
    const p = file('nohead.tsv', 'u1\ti1\t3\nu2\ti1\t4\n');
    assert.deepEqual(rows(await loadDataSection({ name: p, header: false, columns: { user: 0, item: 1, rating: 2 } })), ['u1 i1 3 -', 'u2 i1 4 -']);
    await rejects(loadDataSection({ name: p, header: false, columns: { user: 'user', item: 1 } }), { field: 'user', message: /no header/ });
    await rejects(loadDataSection({ name: p, header: false }), { message: /no header, so the user and item column must be given/ });
  });

  it('an unknown column name is an error naming the file, the header line and the column', async () => {
    await rejects(loadDataSection({ name: file('c.csv', CSV), columns: { user: 'customer' } }), { file: 'c.csv', line: 1, field: 'customer', message: /missing column in header \(found: user, item, rating, timestamp\)/ });
  });
});

describe('time units', () => {
  const at = '2021-03-04T05:06:07Z';
  const sec = Date.parse(at) / 1000;
  it('s, ms, us and iso explicitly; auto from the first value', async () => {
    const cases: Array<[string, string]> = [['s', String(sec)], ['ms', String(sec * 1e3)], ['us', String(sec * 1e6)], ['iso', at]];
    for (const [unit, v] of cases) {
      const p = file(`t-${unit}.csv`, `user,item,time\nu,i,${v}\n`);
      assert.equal((await loadDataSection({ name: p, timeUnit: unit as 's' })).time?.[0], sec, unit);
      // A time column found from the header reads its unit from the values.
      assert.equal((await loadDataset(p)).time?.[0], sec, `auto: ${unit}`);
    }
    const date = file('date.csv', 'user,item,date\nu,i,2021-03-04\n');
    assert.equal((await loadDataset(date)).time?.[0], Date.parse('2021-03-04') / 1000);
  });

  it('a column mixing seconds and milliseconds is an error naming file, line and field', async () => {
    const p = file('mixed.csv', `user,item,ts\nu,i,${1.6e9}\nu,j,${1.6e12}\n`);
    await rejects(loadDataset(p), { file: 'mixed.csv', line: 3, field: 'ts', message: /looks like unix milliseconds, but earlier rows .* seconds/ });
    const iso = file('isonum.csv', 'user,item,time\nu,i,2020-01-01\nu,j,1600000000\n');
    await rejects(loadDataset(iso), { line: 3, field: 'time', message: /ISO-8601/ });
    await rejects(loadDataSection({ name: file('s-iso.csv', 'user,item,time\nu,i,2020-01-01\n'), timeUnit: 's' }), { line: 2, field: 'time', message: /set the time unit to 'iso'/ });
  });
});

describe('item file with titles', () => {
  it('titles and attributes from a CSV found by header names; a relative path next to the interactions', async () => {
    const inter = file('inter.csv', CSV);
    const items = file('items.csv', 'item_id,title,genre\ni1,"Toy Story (1995)",Animation\ni2,"Heat, the movie",Crime\ni9,Unused,X\n');
    const d = await loadDataSection({ name: inter, items: { path: items, attributes: ['genre'] } });
    const byId = new Map(d.itemIds.map((id, i) => [id, d.itemMeta.get(i)]));
    assert.deepEqual(byId.get('i1'), { title: 'Toy Story (1995)', attributes: { genre: 'Animation' } });
    assert.equal(byId.get('i2')?.title, 'Heat, the movie');
    assert.equal(d.itemMeta.size, 2);
    const explicit = await loadDataSection({ name: inter, items: { path: file('items.tsv', 'id\tname_x\ni1\tA\n'), item: 'id', title: 1 } });
    assert.equal(explicit.itemMeta.get(0)?.title, 'A');
  });

  it('an item file whose header names no title is an error listing the title names', async () => {
    const e = await rejects(loadDataSection({ name: file('i.csv', CSV), items: { path: file('bad-items.csv', 'item_id,label\ni1,x\n') } }), { file: 'bad-items.csv', line: 1, message: /no title column/ });
    for (const t of TITLE_ALIASES.slice(0, 3)) assert.match(e.message, new RegExp(t));
  });

  it('required: an interaction with an item missing from the file names file, line and field', async () => {
    const items = file('req.csv', 'item,title\ni1,One\n');
    await rejects(loadDataSection({ name: file('r.csv', CSV), items: { path: items, required: true } }), { file: 'r.csv', line: 3, field: 'item', message: /item 'i2' is not in/ });
  });
});

describe('Parquet', () => {
  const pq = (name: string, columnData: Parameters<typeof parquetWriteFile>[0]['columnData'], rowGroupSize?: number): string => {
    const p = join(dir, `${n++}-${name}`);
    parquetWriteFile({ filename: p, columnData, ...(rowGroupSize ? { rowGroupSize } : {}) });
    return p;
  };

  it('string ids with rating and timestamp, found from the column names', async () => {
    const p = pq('s.parquet', [
      { name: 'user_id', data: ['u1', 'u1', 'u2'], type: 'STRING' },
      { name: 'item_id', data: ['i1', 'i2', 'i1'], type: 'STRING' },
      { name: 'rating', data: [5, 3, 4], type: 'DOUBLE' },
      { name: 'timestamp', data: [100, 200, 150], type: 'INT32' },
    ]);
    assert.equal(await detectFormat(p), 'parquet');
    assert.deepEqual(rows(await loadDataset(p)), ['u1 i1 5 100', 'u1 i2 3 200', 'u2 i1 4 150']);
  });

  it('numeric ids (INT64 beyond 2^53 kept exact), no rating, TIMESTAMP column, several row groups', async () => {
    const big = [2n ** 60n + 1n, 2n ** 60n + 2n, 7n, 7n];
    const p = pq('n.parquet', [
      { name: 'userId', data: big, type: 'INT64' },
      { name: 'movieId', data: [10, 11, 10, 12], type: 'INT32' },
      { name: 'ts', data: [new Date(1000), new Date(2000), new Date(3000), new Date(4000)], type: 'TIMESTAMP' },
    ], 2);
    const d = await loadDataset(p);
    assert.equal(d.rating, null);
    assert.deepEqual(rows(d), [`${2n ** 60n + 1n} 10 - 1`, `${2n ** 60n + 2n} 11 - 2`, '7 10 - 3', '7 12 - 4']);
    assert.equal(d.userIds.length, 3);
  });

  it('without rating and timestamp; explicit columns by index; a Parquet item file with titles', async () => {
    const p = pq('ui.parquet', [{ name: 'a', data: ['x', 'y'], type: 'STRING' }, { name: 'b', data: ['p', 'q'], type: 'STRING' }]);
    const items = pq('items.parquet', [{ name: 'item_id', data: ['p', 'q'], type: 'STRING' }, { name: 'title', data: ['Pen', 'Quill'], type: 'STRING' }, { name: 'brand', data: ['B1', 'B2'], type: 'STRING' }]);
    const d = await loadDataSection({ name: p, columns: { user: 0, item: 'b' }, items: { path: items, attributes: ['brand'] } });
    assert.deepEqual(rows(d), ['x p - -', 'y q - -']);
    assert.deepEqual(d.itemMeta.get(1), { title: 'Quill', attributes: { brand: 'B2' } });
  });

  it('bad types and values: errors naming the file, row group, row and column; skipBadRows counts them', async () => {
    const p = pq('bad.parquet', [
      { name: 'user', data: ['u1', 'u2', 'u3', 'u4'], type: 'STRING' },
      { name: 'item', data: ['i1', 'i2', 'i3', 'i4'], type: 'STRING' },
      { name: 'rating', data: [1, 2, Infinity, 4], type: 'DOUBLE' },
    ], 2);
    const e = await rejects(loadDataset(p), { file: 'bad.parquet', field: 'rating', message: /row group 1, row 2 .*finite/ });
    assert.equal(e.line, undefined);
    const d = await loadDataset(p, { skipBadRows: true });
    assert.equal(d.skippedRows, 1);
    const bools = pq('bool.parquet', [{ name: 'user', data: [true, false], type: 'BOOLEAN' }, { name: 'item', data: ['a', 'b'], type: 'STRING' }]);
    await rejects(loadDataset(bools), { field: 'user', message: /row group 0, row 0 .*expected a string or integer id, got a boolean/ });
    const nulls = pq('null.parquet', [{ name: 'user', data: ['a', null], type: 'STRING' }, { name: 'item', data: ['a', 'b'], type: 'STRING' }]);
    await rejects(loadDataset(nulls), { field: 'user', message: /row 1 .*missing \(null\)/ });
    await rejects(loadDataset(file('fake.parquet', 'not parquet at all')), { file: 'fake.parquet', message: /not a readable Parquet file/ });
    await rejects(loadDataset(p, { columns: { user: 9 } }), { field: 'user', message: /index 9 is out of range \(the file has 3 columns/ });
  });
});
