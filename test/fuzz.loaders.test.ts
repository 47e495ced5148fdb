/**
 * Fuzz suite of the data loaders (CI size): a few hundred seeded mutated
 * files per loader, classified against an independent oracle
 * (test/fuzz.loaders.harness.ts). Goal: no silent wrong result, no refused
 * valid file, no crash or hang; every refusal a DataError. The longer run is
 * `npm run fuzz` (scripts/fuzz.ts); results in docs/HOSTILE.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CASE_TIMEOUT_MS, TARGETS, formatTallies, fuzzLoaders } from './fuzz.loaders.harness.js';

/** Cases per loader here (env LLMREC_FUZZ_CASES overrides). */
const CASES = Number(process.env.LLMREC_FUZZ_CASES ?? 200);

describe('loader fuzz', () => {
  it('has a target for every loader format', () => {
    const names = TARGETS.map((t) => t.name);
    for (const f of ['ml-100k', 'ml-dat', 'ml-latest', 's3rec', 'amazon-2014', 'amazon-2023', 'recbole', 'generic-csv', 'generic-tsv', 'generic-jsonl']) {
      assert.ok(names.includes(f), `fuzz target for ${f}`);
    }
  });

  for (const t of TARGETS) {
    it(`${t.name}: ${CASES} mutated files, none silently wrong, refused when valid, crashing or hanging`, async () => {
      const [tally] = await fuzzLoaders(CASES, 1, [t]);
      const report = `${formatTallies([tally])}\n${tally.failures.map((f) => `  seed ${f.seed} [${f.mutations.join('+')}] ${f.outcome}: ${f.detail}`).join('\n')}`;
      assert.equal(tally.cases, CASES);
      assert.equal(tally['silent wrong'], 0, report);
      assert.equal(tally['refused valid'], 0, report);
      assert.equal(tally['crash/hang'], 0, report);
      assert.ok(tally.maxMs < CASE_TIMEOUT_MS, report);
      // Both kinds of outcome occur: the mutations are neither all benign nor all fatal.
      assert.ok(tally['clean error'] > CASES / 10 && tally['accepted-correct'] > CASES / 10, report);
    });
  }
});
