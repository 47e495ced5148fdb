/**
 * The config files in configs/ parse through the configuration layer
 * (src/config/), so they cannot rot; the first run's two files
 * (docs/FIRST-RUN.md) also agree with each other and with `llmrec first-run`'s
 * defaults (src/cli/first_run.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveMethodConfig, resolveRunConfig } from '../src/config/index.js';
import { methodEntry, methodNames } from '../src/methods/registry.js';
import type { GanPromptRunOptions } from '../src/config/ganprompt.js';

const CONFIGS = join(import.meta.dirname, '..', 'configs');
const files = readdirSync(CONFIGS).filter((f) => f.endsWith('.json')).sort();
const noFlags = { run: {}, options: {} };

/** The method whose options key the file holds, or null for a benchmark/train config. */
function methodOf(file: string): string | null {
  const v = JSON.parse(readFileSync(join(CONFIGS, file), 'utf8')) as Record<string, unknown>;
  return methodNames().find((m) => m in v) ?? null;
}

describe('configs/', () => {
  it('holds the first run and the full GANPrompt study', () => {
    for (const f of ['first-run-benchmark.json', 'first-run-ganprompt.json', 'ganprompt-study.json']) assert.ok(files.includes(f), f);
  });

  for (const f of files) {
    it(`${f} validates`, () => {
      const m = methodOf(f);
      if (m) {
        const { run, options } = resolveMethodConfig(methodEntry(m).config, join(CONFIGS, f), noFlags);
        assert.ok(run.data.name, 'data.name');
        assert.equal(typeof options, 'object');
      } else {
        const cfg = resolveRunConfig(join(CONFIGS, f), {});
        assert.ok(cfg.models.length > 0, 'models');
      }
    });
  }

  it('the first run: fixed benchmark directory, SASRec and BPR-MF trained, the same data and protocol as the LLM run', () => {
    const bench = resolveRunConfig(join(CONFIGS, 'first-run-benchmark.json'), {});
    assert.equal(bench.output.name, 'first-run-benchmark');
    const labels = bench.models.map((m) => (typeof m === 'string' ? m : (m.label ?? m.name)));
    for (const l of ['random', 'pop', 'bprmf', 'sasrec']) assert.ok(labels.includes(l), l);
    const { run, options: o } = resolveMethodConfig(methodEntry('ganprompt').config, join(CONFIGS, 'first-run-ganprompt.json'), noFlags);
    const options = o as GanPromptRunOptions;
    assert.deepEqual(run.data, bench.data);
    assert.deepEqual(run.protocol, bench.protocol);
    assert.deepEqual(options.recipes, ['tallrec', 'collm', 'ganprompt']);
    assert.equal(options.lm.dir, undefined, 'the first run trains its small LM (served with --lm <out>/lm)');
  });
});
