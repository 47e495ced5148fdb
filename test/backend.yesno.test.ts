/**
 * The yes/no recommenders through an LlmBackend (YesNoLlm.scoreWithBackend,
 * src/methods/yesno.ts): through the in-process backend the scores equal the
 * in-process yes/no scores (same model, same prompts); a backend without
 * continuation log-probs, or a recipe with collaborative vectors on a backend
 * without vector injection, is refused with the backend and the capability
 * named, before any request.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyUsage, LocalBackend, type LlmBackend, UnsupportedCapabilityError } from '../src/backends/index.js';
import { itemSentence } from '../src/data/item_text.js';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { trainBpe, withRecSpecialTokens } from '../src/lm/tokenizer/index.js';
import { loadTemplates } from '../src/methods/prompts.js';
import { sampleRows, splitCases, YesNoLlm } from '../src/methods/yesno.js';
import { ready } from './helpers.js';

await ready();

const data = applyProtocol(generateShop({ users: 60, items: 80, seed: 7 }), { ratingThreshold: null, kCore: 2, maxHistory: 10, numNegatives: 4, seed: 3 });
const tok = trainBpe([...data.itemMeta.values()].map((m) => itemSentence(m)).concat(Array(20).fill('Answer: Yes. Answer: No.')), { vocabSize: 700 });
withRecSpecialTokens(tok);

function remote(caps: Partial<LlmBackend['capabilities']>): LlmBackend & { calls: number } {
  const b = {
    calls: 0, kind: 'openai' as const, name: 'openai:m@http://127.0.0.1:1/v1',
    capabilities: { generate: true as const, continuationLogProbs: false, constrainedChoices: true, constrainedJsonSchema: true, seed: true, exactTokenCount: false, vectorInjection: false, ...caps },
    tokenizerFacts: () => Promise.resolve({ vocabSize: null, contextLength: null, specialTokens: {} }),
    countTokens: () => Promise.resolve(1),
    generate: () => { b.calls++; return Promise.reject(new Error('not used')); },
    scoreContinuations: () => { b.calls++; return Promise.reject(new Error('not used')); },
    usage: () => emptyUsage(),
    dispose: () => Promise.resolve(),
  };
  return b;
}

describe('yes/no scoring through a backend', () => {
  test('the in-process backend gives the in-process scores', { timeout: 120_000 }, async () => {
    const lm = new LlamaForCausalLM(parseLlamaConfig({
      model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 1024, tie_word_embeddings: true,
    }), { seed: 2 });
    try {
      const m = new YesNoLlm(lm, tok, data);
      const t = loadTemplates().seen[0];
      const cases = splitCases(data, 'test', sampleRows(data.test.count, 3, 1));
      const want = m.score(cases, t, m.originalTitles);
      const backend = new LocalBackend({ model: lm, tokenizer: tok });
      const got = await m.scoreWithBackend(backend, cases, t, m.originalTitles);
      assert.equal(got.length, want.length);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      assert.ok(worst < 1e-3, `max difference ${worst}`);
      assert.equal(backend.usage().requests, got.length);
    } finally {
      lm.dispose();
    }
  });

  test('missing capabilities are refused with the backend and the capability named', { timeout: 30_000 }, async () => {
    const lm = new LlamaForCausalLM(parseLlamaConfig({
      model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1,
      num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 512,
    }), { seed: 1 });
    try {
      const t = loadTemplates().seen[0];
      const cases = splitCases(data, 'test', [0]);
      const plain = new YesNoLlm(lm, tok, data);
      const noLogprobs = remote({});
      await assert.rejects(plain.scoreWithBackend(noLogprobs, cases, t, plain.originalTitles),
        (e: Error) => e instanceof UnsupportedCapabilityError && /backend openai:m@http:\/\/127\.0\.0\.1:1\/v1 does not support continuationLogProbs/.test(e.message));
      const injected = new YesNoLlm(lm, tok, data, { idVectors: true });
      const scorer = remote({ continuationLogProbs: true });
      await assert.rejects(injected.scoreWithBackend(scorer, cases, t, injected.originalTitles),
        (e: Error) => e instanceof UnsupportedCapabilityError && /does not support vectorInjection: .*CoLLM/.test(e.message));
      assert.equal(noLogprobs.calls + scorer.calls, 0);
    } finally {
      lm.dispose();
    }
  });
});
