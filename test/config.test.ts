/**
 * The configuration layer (src/config/): one precedence rule for every
 * command (built-in defaults < method defaults < config file < flags) and
 * errors naming the file and the field path.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, mergeLayers, ratingThresholdFlag, resolveMethodConfig } from '../src/config/index.js';
import { methodEntry, methodNames } from '../src/methods/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'llmrec-config-'));
const write = (name: string, v: unknown): string => {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(v));
  return f;
};
const runFlags = (ratingThreshold?: string) => ({ run: { protocol: ratingThresholdFlag(ratingThreshold) === undefined ? {} : { ratingThreshold: ratingThresholdFlag(ratingThreshold) } }, options: {} });

describe('configuration precedence', () => {
  it('layers merge lowest first; undefined means not given', () => {
    assert.deepEqual(mergeLayers({ a: 1, o: { x: 1, y: 1 } }, undefined, { o: { y: 2 }, a: undefined }, { l: [1] }), { a: 1, o: { x: 1, y: 2 }, l: [1] });
  });

  it('run recsysllm: --rating-threshold beats the config file, which beats the method default', () => {
    const spec = methodEntry('recsysllm').config;
    const file = write('rec.json', { protocol: { ratingThreshold: 4, kCore: 2 }, recsysllm: { eval: { users: 7 } } });
    // Flag over file (before issue 13 the file silently won here).
    const a = resolveMethodConfig(spec, file, runFlags('2'));
    assert.equal(a.run.protocol.ratingThreshold, 2);
    assert.equal(a.run.protocol.kCore, 2);
    assert.equal((a.options as { eval: { users: number } }).eval.users, 7);
    // File over method default.
    assert.equal(resolveMethodConfig(spec, file, runFlags()).run.protocol.ratingThreshold, 4);
    // Method default (every review kept: null) over the built-in default (3).
    const c = resolveMethodConfig(spec, undefined, runFlags());
    assert.equal(c.run.protocol.ratingThreshold, null);
    assert.equal(c.run.protocol.maxHistory, 20);
    assert.equal(c.run.protocol.numNegatives, 99);
    // 'none' is a flag value too.
    assert.equal(resolveMethodConfig(spec, file, runFlags('none')).run.protocol.ratingThreshold, null);
  });

  it('run ganprompt follows the same rule', () => {
    const spec = methodEntry('ganprompt').config;
    const file = write('gp.json', { protocol: { ratingThreshold: 4 } });
    assert.equal(resolveMethodConfig(spec, file, runFlags('2')).run.protocol.ratingThreshold, 2);
    assert.equal(resolveMethodConfig(spec, file, runFlags()).run.protocol.ratingThreshold, 4);
    assert.equal(resolveMethodConfig(spec, undefined, runFlags()).run.protocol.ratingThreshold, 3);
  });

  it('method option defaults sit below the file: run tallrec builds TALLRec only unless told otherwise', () => {
    const spec = methodEntry('tallrec').config;
    assert.deepEqual((resolveMethodConfig(spec, undefined, runFlags()).options as { recipes: string[] }).recipes, ['tallrec']);
    const file = write('tr.json', { tallrec: { recipes: ['tallrec', 'tallrec-multi'] } });
    assert.deepEqual((resolveMethodConfig(spec, file, runFlags()).options as { recipes: string[] }).recipes, ['tallrec', 'tallrec-multi']);
    const bad = write('tr-bad.json', { tallrec: { recipes: ['ganprompt'] } });
    assert.throws(() => resolveMethodConfig(spec, bad, runFlags()), /tr-bad\.json[\s\S]*recipes/);
  });

  it('errors name the file and the field path, in both parts', () => {
    const spec = methodEntry('ganprompt').config;
    const f1 = write('bad-run.json', { protocol: { kCore: -1 } });
    assert.throws(() => resolveMethodConfig(spec, f1, runFlags()), (e: Error) => e instanceof ConfigError && e.message.includes(f1) && /field 'protocol\.kCore'/.test(e.message));
    const f2 = write('bad-opts.json', { ganprompt: { recipes: ['tallrec', 'nope'] } });
    assert.throws(() => resolveMethodConfig(spec, f2, runFlags()), (e: Error) => e.message.includes(f2) && /field 'recipes\.1'/.test(e.message));
    assert.throws(() => ratingThresholdFlag('high'), /--rating-threshold: 'high'/);
  });

  it('the registry lists every method', () => {
    assert.deepEqual(methodNames().sort(), ['bigrec', 'collm', 'ganprompt', 'llmrank', 'recsysllm', 'tallrec']);
    assert.throws(() => methodEntry('p5'), /unknown method 'p5'/);
  });
});
