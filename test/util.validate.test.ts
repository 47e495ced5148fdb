/**
 * The one formatter of validation errors (src/util/validate.ts): heading with
 * what and where, one line per bad field with its path.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { parseWith, zodMessage } from '../src/util/validate.js';

const S = z.strictObject({ a: z.strictObject({ b: z.number().min(1) }), list: z.array(z.enum(['x', 'y'])).default([]) });

describe('validation errors', () => {
  it('names what, where and every bad field path', () => {
    const r = S.safeParse({ a: { b: 0 }, list: ['x', 'z'], extra: 1 });
    assert.ok(!r.success);
    const msg = zodMessage('invalid thing', r.error, 'f.json');
    const lines = msg.split('\n');
    assert.equal(lines[0], 'invalid thing (f.json):');
    assert.ok(lines.some((l) => l.startsWith("  field 'a.b': ")), msg);
    assert.ok(lines.some((l) => l.startsWith("  field 'list.1': ")), msg);
    assert.ok(lines.some((l) => l.startsWith("  field '(root)': ") && l.includes('extra')), msg);
    assert.equal(zodMessage('invalid thing', r.error).split('\n')[0], 'invalid thing:');
  });

  it('parseWith returns the parsed value or throws the caller\'s error class', () => {
    assert.deepEqual(parseWith(S, { a: { b: 2 } }, 'x'), { a: { b: 2 }, list: [] });
    class MyError extends Error {}
    assert.throws(() => parseWith(S, { a: {} }, 'invalid thing', 'cfg.json', MyError), (e: Error) => e instanceof MyError && /cfg\.json[\s\S]*field 'a\.b'/.test(e.message));
  });
});
