/**
 * LLMRank (src/methods/llmrank): the output parser on hand-written outputs,
 * Borda counts computed by hand, the position-bias measurement, BM25 and the
 * prompts, and the whole loop on the synthetic shop through a scripted
 * backend (known answers, so metrics and bias are checked exactly) and
 * through the in-process backend with a tiny model (generate and score modes).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import { itemSentence } from '../src/data/item_text.js';
import { DEFAULT_PROTOCOL } from '../src/data/types.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { trainBpe } from '../src/lm/tokenizer/index.js';
import { emptyUsage, LocalBackend, type LlmBackend, type GenerationOptions } from '../src/backends/index.js';
import {
  bm25Retriever, bordaPoints, bordaRanking, buildRankPrompt, diceSimilarity, MOVIE_WORDS, normalizeTitle, parseRanking, pessimisticRank,
  popRetriever, PositionBias, renderLlmRankReport, runLlmRank, topItems,
} from '../src/methods/llmrank/index.js';
import { ready, Rng } from './helpers.js';

await ready();

const C = ['Toy Story (1995)', 'GoldenEye (1995)', 'Four Rooms (1995)', 'Get Shorty (1995)', 'Copycat (1995)'];

describe('parseRanking', () => {
  test('numbered titles, exact', { timeout: 5000 }, () => {
    const p = parseRanking('1. Get Shorty (1995)\n2. Toy Story (1995)\n3. Copycat (1995)\n4. GoldenEye (1995)\n5. Four Rooms (1995)', C);
    assert.deepEqual(p.ranking, [3, 0, 4, 1, 2]);
    assert.equal(p.exact, 5);
    assert.equal(p.missing + p.duplicates + p.unmatchedLines + p.fuzzy + p.byLabel, 0);
  });

  test('candidate numbers, brackets, JSON arrays', { timeout: 5000 }, () => {
    assert.deepEqual(parseRanking('[3]\n[1]\ncandidate 5\n2', C).ranking, [2, 0, 4, 1, 3]);
    const j = parseRanking('[4, 2, 1]', C);
    assert.deepEqual(j.ranking, [3, 1, 0, 2, 4]);
    assert.equal(j.byLabel, 3);
    assert.equal(j.missing, 2);
    assert.deepEqual(parseRanking('["copycat (1995)", "Toy Story"]', C).ranking.slice(0, 2), [4, 0]);
  });

  test('fuzzy: misspelt, cut, decorated titles', { timeout: 5000 }, () => {
    const p = parseRanking('- **GoldenEye** (1995) is a spy movie\n2) Toy Storey 1995\n3. Four Roo', C);
    assert.deepEqual(p.ranking.slice(0, 3), [1, 0, 2]);
    assert.equal(p.fuzzy, 3);
    assert.equal(p.missing, 2);
  });

  test('duplicates and free text are counted, never thrown; the result is a permutation', { timeout: 5000 }, () => {
    const p = parseRanking('Sure! Here is my ranking based on your taste:\n1. Copycat (1995)\n2. Copycat (1995)\n3. Titanic (1997)\nHope this helps.', C);
    assert.deepEqual(p.ranking, [4, 0, 1, 2, 3]);
    assert.equal(p.exact, 1);
    assert.equal(p.duplicates, 1);
    assert.equal(p.unmatchedLines, 3);
    assert.equal(p.missing, 4);
    for (const junk of ['', '\n\n', '}{', '99', '0', 'a'.repeat(5000), '[1, 1, 1]', '[{"x": 1}]']) {
      const q = parseRanking(junk, C);
      assert.deepEqual([...q.ranking].sort(), [0, 1, 2, 3, 4], junk.slice(0, 20));
    }
  });

  test('one line holding the whole list is split before each order number', { timeout: 5000 }, () => {
    assert.deepEqual(parseRanking('1. Four Rooms (1995) 2. Copycat (1995) 3. Toy Story (1995)', C).ranking.slice(0, 3), [2, 4, 0]);
  });

  test('normalisation and similarity', { timeout: 5000 }, () => {
    assert.equal(normalizeTitle('  Amélie  (2001)!'), 'amelie 2001');
    assert.equal(diceSimilarity('night', 'nacht'), 0.25); // bigrams ni ig gh ht / na ac ch ht: 1 shared of 4 + 4
    assert.equal(diceSimilarity('abc', 'abc'), 1);
  });
});

describe('Borda count and position bias', () => {
  test('points by hand', { timeout: 5000 }, () => {
    // m = 3: rank 0 -> 3 points, rank 1 -> 2, rank 2 -> 1.
    // [0,1,2]: 0:3 1:2 2:1; [1,0,2]: 1:3 0:2 2:1; [2,1,0]: 2:3 1:2 0:1  => 0:6 1:7 2:5
    const rs = [[0, 1, 2], [1, 0, 2], [2, 1, 0]];
    assert.deepEqual(Array.from(bordaPoints(rs, 3)), [6, 7, 5]);
    assert.deepEqual(bordaRanking(rs, 3), [1, 0, 2]);
    // Ties: [0,1] and [1,0] give 3 points each; the tie order decides.
    assert.deepEqual(bordaRanking([[0, 1], [1, 0]], 2), [0, 1]);
    assert.deepEqual(bordaRanking([[0, 1], [1, 0]], 2, [1, 0]), [1, 0]);
    // Partial ranking: unranked items get nothing from it.
    assert.deepEqual(Array.from(bordaPoints([[2]], 3)), [0, 0, 3]);
    assert.throws(() => bordaPoints([[0, 0]], 2), /holds item 0 twice/);
    assert.throws(() => bordaPoints([[5]], 2), /item 5 outside 0\.\.1/);
  });

  test('position bias: shares and chi-square', { timeout: 5000 }, () => {
    const b = new PositionBias(4);
    for (const p of [0, 0, 0, 1]) b.add(p);
    assert.deepEqual(b.shares(), [0.75, 0.25, 0, 0]);
    // expected 1 each: (3-1)^2 + 0 + 1 + 1 = 6
    assert.equal(b.chiSquare(), 6);
    assert.throws(() => b.add(4), /outside 0\.\.3/);
  });

  test('pessimistic rank of the target', { timeout: 5000 }, () => {
    assert.equal(pessimisticRank([3, 5, 3, 1], 0), 2);
    assert.equal(pessimisticRank([3, 5, 3, 1], 1), 0);
    assert.equal(pessimisticRank([1, 1, 1], 2), 2);
  });
});

const shop = applyProtocol(generateShop({ users: 60, items: 120, seed: 5 }), { ...DEFAULT_PROTOCOL, ratingThreshold: null });

describe('retrievers and prompts', () => {
  test('BM25 ranks items sharing rare history words first; Pop counts training sequences', { timeout: 10_000 }, () => {
    const bm = bm25Retriever(shop);
    const item = 7;
    const s = bm.scores(0, [item]);
    const top = topItems(s, 3, new Set());
    assert.equal(top[0], item, 'an item is closest to its own title');
    assert.equal(s[0], -Infinity);
    const pop = popRetriever(shop).scores(0, []);
    let total = 0;
    for (const seq of shop.trainSeqs) total += seq.length;
    assert.equal(pop.slice(1).reduce((a, b) => a + b, 0), total);
    assert.deepEqual(topItems(Float64Array.from([-Infinity, 1, 3, 3, 2]), 2, new Set([2])), [3, 4]);
  });

  test('prompt styles', { timeout: 5000 }, () => {
    const seq = buildRankPrompt('sequential', ['A', 'B'], ['X', 'Y'], { words: MOVIE_WORDS });
    assert.match(seq, /^I've watched the following movies in the past in order:\n1\. A\n2\. B\n\nNow there are 2 candidate movies that I can watch next:\n1\. X\n2\. Y\n/);
    assert.match(seq, /Ranking:\n$/);
    assert.match(buildRankPrompt('recency', ['A', 'B'], ['X'], { words: MOVIE_WORDS }), /Note that my most recently watched movie is B\./);
    assert.match(buildRankPrompt('in-context', ['A', 'B'], ['X'], { words: MOVIE_WORDS }), /then you should recommend B to me, and now that I've watched B, then:/);
    assert.match(buildRankPrompt('sequential', ['A'], ['X'], { words: MOVIE_WORDS, mode: 'score' }), /The movie I would like to watch next is:\n$/);
    assert.throws(() => buildRankPrompt('sequential', [], ['X']), /empty history/);
  });
});

/** A backend that answers every ranking prompt with the candidates in reverse presented order (known position bias: always the last). */
function reverseBackend(contextLength: number | null = null, seen: { longest: number } = { longest: 0 }): LlmBackend {
  const usage = emptyUsage();
  return {
    kind: 'local', name: 'scripted:reverse',
    capabilities: { generate: true, continuationLogProbs: false, constrainedChoices: false, constrainedJsonSchema: false, seed: false, exactTokenCount: false, vectorInjection: false },
    tokenizerFacts: () => Promise.resolve({ vocabSize: null, contextLength, specialTokens: {} }),
    countTokens: (t: string) => Promise.resolve(t.length),
    generate: (prompt: string, _o: GenerationOptions) => {
      usage.requests++;
      seen.longest = Math.max(seen.longest, prompt.length);
      const list = prompt.split('candidate items that I can interact with next:\n')[1].split('\nPlease rank')[0].split('\n').map((l) => l.replace(/^\d+\. /, ''));
      return Promise.resolve({ text: 'My ranking:\n' + list.reverse().map((t, i) => `${i + 1}. ${t}`).join('\n'), finishReason: 'stop' as const, promptTokens: 0, completionTokens: 0 });
    },
    scoreContinuations: () => Promise.reject(new Error('not used')),
    usage: () => ({ ...usage }),
    dispose: () => Promise.resolve(),
  };
}

describe('runLlmRank', () => {
  test('scripted backend: exact parse counts, position bias, rows on the same users', { timeout: 60_000 }, async () => {
    const r = await runLlmRank({ backend: reverseBackend(), data: shop, retriever: bm25Retriever(shop), users: 12, candidates: 8, bootstrap: 3, seed: 1 });
    assert.equal(r.options.users, 12);
    assert.deepEqual(Object.keys(r.metrics).sort(), ['bm25', 'llmrank', 'llmrank-1', 'pop', 'random']);
    for (const m of Object.values(r.metrics)) assert.equal(m.users, 12);
    assert.deepEqual(r.parse, { outputs: 36, outputsWithRanking: 36, ranked: 36 * 8, exact: 36 * 8, byLabel: 0, fuzzy: 0, duplicates: 0, missing: 0, unmatchedLines: 36 });
    // Always the last presented candidate first.
    assert.equal(r.positionBias.firstCounts[7], 36);
    assert.equal(r.positionBias.presentations, 36);
    assert.equal(r.metrics.random['hr@5'], 5 / 8);
    assert.equal(r.metrics.random['hr@10'], 1);
    assert.equal(r.usage.requests, 36);
    const md = renderLlmRankReport(r);
    assert.match(md, /\| LLMRank \(Borda of 3 orders\) \|/);
    assert.match(md, /\| bm25 \(retriever\) \|/);
    // Reproducible.
    const again = await runLlmRank({ backend: reverseBackend(), data: shop, retriever: bm25Retriever(shop), users: 12, candidates: 8, bootstrap: 3, seed: 1 });
    assert.deepEqual(again.metrics, r.metrics);
  });

  test('in-process tiny LM: generate and score modes run end to end', { timeout: 120_000 }, async () => {
    const tok = trainBpe([...shop.itemMeta.values()].map((m) => itemSentence(m)), { vocabSize: 300 });
    const model = new LlamaForCausalLM(parseLlamaConfig({
      model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1,
      num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 1024,
    }), { seed: 3 });
    const rng = new Rng(4);
    for (const v of model.store.vars.values()) tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normalArray(v.size, 0.2), v.shape))));
    const backend = new LocalBackend({ model, tokenizer: tok, name: 'local:tiny' });
    try {
      const g = await runLlmRank({ backend, data: shop, retriever: popRetriever(shop), users: 2, candidates: 4, historyLength: 3, bootstrap: 2, maxTokens: 24, titleChars: 30 });
      assert.equal(g.parse!.outputs, 4);
      assert.equal(g.parse!.ranked + g.parse!.missing, 4 * 4);
      assert.equal(g.samples.length, 2);
      assert.ok(!('bm25' in g.metrics) && 'pop' in g.metrics);
      const s = await runLlmRank({ backend, data: shop, retriever: bm25Retriever(shop), users: 2, candidates: 4, historyLength: 3, bootstrap: 2, mode: 'score', titleChars: 30 });
      assert.equal(s.parse, null);
      assert.equal(s.positionBias.presentations, 4);
      assert.ok(s.metrics.llmrank.mrr > 0 && s.metrics.llmrank.mrr <= 1);
    } finally {
      await backend.dispose();
      model.dispose();
    }
  });

  test('histories are cut, oldest first, to fit the context', { timeout: 30_000 }, async () => {
    // The scripted backend counts characters as tokens.
    const seen = { longest: 0 };
    const r = await runLlmRank({ backend: reverseBackend(900, seen), data: shop, retriever: popRetriever(shop), users: 6, candidates: 6, historyLength: 10, bootstrap: 1, maxTokens: 20 });
    assert.ok(r.history.truncatedUsers > 0 && r.history.droppedItems >= r.history.truncatedUsers);
    assert.ok(seen.longest + 20 + 2 <= 900, `longest prompt ${seen.longest}`);
    const full = await runLlmRank({ backend: reverseBackend(), data: shop, retriever: popRetriever(shop), users: 6, candidates: 6, historyLength: 10, bootstrap: 1, maxTokens: 20 });
    assert.deepEqual(full.history, { truncatedUsers: 0, droppedItems: 0 });
    // A prompt that cannot fit even with one history item fails before any LLM call.
    const tiny = reverseBackend(150);
    await assert.rejects(runLlmRank({ backend: tiny, data: shop, retriever: popRetriever(shop), users: 6, candidates: 6, bootstrap: 1, maxTokens: 20 }),
      /needs about \d+ tokens, more than the context of scripted:reverse \(150\); use fewer candidates, shorter titles/);
    assert.equal(tiny.usage().requests, 0);
  });

  test('bad options are clear errors', { timeout: 10_000 }, async () => {
    await assert.rejects(runLlmRank({ backend: reverseBackend(), data: shop, retriever: popRetriever(shop), candidates: 1 }), /candidates must be >= 2/);
    await assert.rejects(runLlmRank({ backend: reverseBackend(), data: shop, retriever: popRetriever(shop), mode: 'score' }), /score mode needs continuation log-probs, which backend scripted:reverse does not give/);
  });
});
