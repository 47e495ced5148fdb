/**
 * Malicious model folders (test/fuzz.checkpoints.harness.ts): every case is
 * refused with an error naming the file (and field), quoting no foreign
 * bytes, within the time bound and without allocating beyond the memory
 * bound. Results in docs/HOSTILE.md.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CASES, MEMORY_BOUND_BYTES, TIME_BOUND_MS, formatCheckpointResults, runCheckpointCases } from './fuzz.checkpoints.harness.js';
import { ready } from './helpers.js';

describe('malicious checkpoint folders', () => {
  before(async () => {
    await ready();
  });

  it(`refuses all ${CASES.length} cases clearly, fast and before allocating`, () => {
    assert.ok(CASES.length >= 40, 'at least 40 cases');
    const results = runCheckpointCases();
    const table = formatCheckpointResults(results);
    for (const r of results) {
      assert.ok(r.refused, `${r.name}: not refused\n${table}`);
      assert.ok(r.clear, `${r.name}: unclear refusal: ${r.message}`);
      assert.ok(r.ms < TIME_BOUND_MS, `${r.name}: took ${r.ms} ms`);
      assert.ok(r.rssGrowth < MEMORY_BOUND_BYTES, `${r.name}: RSS grew ${r.rssGrowth} bytes`);
      assert.ok(r.arrayBufferGrowth < MEMORY_BOUND_BYTES, `${r.name}: ArrayBuffers grew ${r.arrayBufferGrowth} bytes`);
    }
  });
});
