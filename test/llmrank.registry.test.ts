/**
 * LLMRank in the config layer and the methods registry (src/config/llmrank.ts,
 * src/methods/llmrank/method.ts): option validation with file and field,
 * the run through the registry entry into a run directory, the resume of a
 * finished run, and the counted fallback to the retriever's order when the
 * backend fails (never a hang, never a silent row).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BackendError, emptyUsage, type LlmBackend } from '../src/backends/index.js';
import { parseLlmRankOptions } from '../src/config/llmrank.js';
import { resolveMethodConfig } from '../src/config/method.js';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import { DEFAULT_PROTOCOL } from '../src/data/types.js';
import { bm25Retriever, runLlmRank } from '../src/methods/llmrank/index.js';
import { methodEntry, methodNames } from '../src/methods/registry.js';
import { ready } from './helpers.js';

await ready();

const shop = applyProtocol(generateShop({ users: 60, items: 120, seed: 5 }), { ...DEFAULT_PROTOCOL, ratingThreshold: null });

/** A backend whose every call fails like a server that is down. */
function downBackend(): LlmBackend & { calls: number } {
  const b = {
    calls: 0,
    kind: 'openai' as const, name: 'openai:m@http://127.0.0.1:9/v1',
    capabilities: { generate: true as const, continuationLogProbs: true, constrainedChoices: false, constrainedJsonSchema: false, seed: false, exactTokenCount: false, vectorInjection: false },
    tokenizerFacts: () => Promise.resolve({ vocabSize: null, contextLength: null, specialTokens: {} }),
    countTokens: (t: string) => Promise.resolve(Math.ceil(t.length / 4)),
    generate: () => { b.calls++; return Promise.reject(new BackendError(b.name, 'connection refused (is the server running?)')); },
    scoreContinuations: () => { b.calls++; return Promise.reject(new BackendError(b.name, 'connection refused (is the server running?)')); },
    usage: () => emptyUsage(),
    dispose: () => Promise.resolve(),
  };
  return b;
}

describe('LLMRank configuration', () => {
  test('defaults, and errors naming the source and the field', () => {
    const o = parseLlmRankOptions({ backend: { spec: 'local:runs/lm' } }, 'x.json');
    assert.equal(o.candidates, 20);
    assert.equal(o.bootstrap, 3);
    assert.equal(o.retriever, 'bm25');
    assert.equal(o.onBackendError, 'fail');
    assert.throws(() => parseLlmRankOptions({}, 'x.json'), /invalid LLMRank options \(x\.json\):\n {2}field 'backend'/);
    assert.throws(() => parseLlmRankOptions({ backend: { spec: 'ollama:qwen' } }, 'x.json'), /field 'backend\.spec': expected local:DIR/);
    assert.throws(() => parseLlmRankOptions({ backend: { spec: 'local:a' }, candidates: 1 }, 'x.json'), /field 'candidates'/);
    assert.throws(() => parseLlmRankOptions({ backend: { spec: 'local:a' }, retriever: 'sasrec' }, 'x.json'), /field 'retriever'/);
    assert.throws(() => parseLlmRankOptions({ backend: { spec: 'local:a' }, style: 'chatty' }, 'x.json'), /field 'style'/);
  });

  test('the registry entry; config file < flags', () => {
    assert.ok(methodNames().includes('llmrank'));
    const e = methodEntry('llmrank');
    const dir = mkdtempSync(join(tmpdir(), 'llmrank-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ data: { name: 'ml-100k' }, llmrank: { backend: { spec: 'gguf:m.gguf' }, users: 50, style: 'recency' } }));
    const { run, options } = resolveMethodConfig(e.config, file, { run: {}, options: { users: 7 } });
    assert.equal(run.data.name, 'ml-100k');
    const o = options as ReturnType<typeof parseLlmRankOptions>;
    assert.equal(o.users, 7);
    assert.equal(o.style, 'recency');
    assert.equal(o.backend.spec, 'gguf:m.gguf');
    writeFileSync(file, JSON.stringify({ llmrank: { backend: { spec: 'gguf:m.gguf' }, bootstrap: 0 } }));
    assert.throws(() => resolveMethodConfig(e.config, file, { run: {}, options: {} }), (err: Error) => err.message.includes(file) && /field 'bootstrap'/.test(err.message));
  });
});

describe('LLMRank backend failures', () => {
  test("'fail' stops at once with the backend's error", { timeout: 30_000 }, async () => {
    const b = downBackend();
    await assert.rejects(runLlmRank({ backend: b, data: shop, retriever: bm25Retriever(shop), users: 3, candidates: 5 }), /backend openai:m@http:\/\/127\.0\.0\.1:9\/v1: connection refused/);
    assert.equal(b.calls, 1);
  });

  test("'fallback' ranks in the retriever's order and counts every failure", { timeout: 30_000 }, async () => {
    const b = downBackend();
    const r = await runLlmRank({ backend: b, data: shop, retriever: bm25Retriever(shop), users: 4, candidates: 5, bootstrap: 2, onBackendError: 'fallback' });
    assert.equal(r.fallbacks.count, 8);
    assert.equal(b.calls, 8);
    assert.match(r.fallbacks.errors[0], /connection refused/);
    // The LLM rows are the retriever's ranking (ties in BM25 scores aside, the target never ranks better than pessimistically).
    assert.equal(r.metrics['llmrank-1'].users, 4);
    assert.ok(r.metrics['llmrank-1'].mrr >= r.metrics.bm25.mrr - 1e-12);
    assert.equal(r.positionBiasMerged.presentations, 4);
  });
});

describe('LLMRank through the registry entry', () => {
  test('runs into a run directory; a resume returns the finished report', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrank-run-'));
    const e = methodEntry('llmrank');
    // An unreachable server with the counted fallback: the run completes without any model on disk.
    const options = parseLlmRankOptions({ backend: { spec: 'openai:m@http://127.0.0.1:9/v1', timeoutMs: 2000, maxRetries: 0 }, users: 3, candidates: 5, bootstrap: 1, onBackendError: 'fallback' });
    const r = await e.run({ raw: generateShop({ users: 60, items: 120, seed: 5 }), data: shop }, options, dir, {}, false);
    assert.ok(existsSync(join(dir, 'report.md')) && existsSync(join(dir, 'options.json')));
    const report = r.report as { fallbacks: { count: number } };
    assert.equal(report.fallbacks.count, 3);
    assert.match(readFileSync(join(dir, 'report.md'), 'utf8'), /3 presentations ranked in the retriever's order/);
    const again = await e.run({ raw: generateShop({ users: 60, items: 120, seed: 5 }), data: shop }, options, dir, {}, true);
    assert.deepEqual(again.report, r.report);
    await assert.rejects(e.run({ raw: generateShop({ users: 60, items: 120, seed: 5 }), data: shop }, { ...options, users: 4 }, dir, {}, true), /holds different options/);
  });
});
