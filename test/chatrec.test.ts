/**
 * Chat-Rec (src/methods/chatrec): tool-call validation (no JSON, malformed
 * JSON, invalid arguments, k out of range, unknown user, unknown items), the
 * recommender tool (history excluded, the query's items first), counted
 * fallbacks when the model's call is unusable or the backend fails (never a
 * hang), and an end-to-end chat through the openai backend against a
 * loopback OpenAI-compatible server (scripted answers; the request path,
 * the JSON-schema constraint and the parsing are the real ones).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { BackendError, emptyUsage, type GenerationOptions, type LlmBackend, OpenAiBackend } from '../src/backends/index.js';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import { DEFAULT_PROTOCOL } from '../src/data/types.js';
import { ChatRec, firstJsonObject, parseToolCall, type RecommenderHandle, runTool, ToolCallError, toolCallJsonSchema } from '../src/methods/chatrec/index.js';
import { itemTitle } from '../src/methods/text_lm/corpus.js';
import { createRecommender, modelEntry } from '../src/models/registry.js';
import { ready } from './helpers.js';

await ready();

const shop = applyProtocol(generateShop({ users: 60, items: 120, seed: 5 }), { ...DEFAULT_PROTOCOL, ratingThreshold: null });
const pop = createRecommender('pop');
await pop.fit(shop, { ...modelEntry('pop').fit, seed: 1 });
const tool: RecommenderHandle = { data: shop, label: 'pop', L: shop.config.maxHistory, scoreAll: (b) => pop.scoreAll(b) };
const user = shop.userIds[3];

const problemOf = (f: () => unknown): string => {
  try { f(); } catch (e) { assert.ok(e instanceof ToolCallError, String(e)); return e.problem; }
  return 'none';
};

describe('tool calls', () => {
  test('parsing and validation name the problem and the field', () => {
    assert.deepEqual(parseToolCall('Sure! {"tool": "recommend", "arguments": {"user": "u1", "k": 5}} hope this helps'), { user: 'u1', k: 5 });
    assert.deepEqual(parseToolCall('{"k": 3, "query": "a {brace} in \\"text\\""}'), { k: 3, query: 'a {brace} in "text"' });
    assert.equal(firstJsonObject('x {"a": "}"} y'), '{"a": "}"}');
    assert.equal(problemOf(() => parseToolCall('I recommend Toy Story.')), 'no-json');
    assert.equal(problemOf(() => parseToolCall('{"tool": "recommend", "arguments": {"k": 5,}}')), 'bad-json');
    assert.equal(problemOf(() => parseToolCall('{"k": 0}')), 'invalid-arguments');
    assert.equal(problemOf(() => parseToolCall('{"k": 51}')), 'invalid-arguments');
    assert.equal(problemOf(() => parseToolCall('{"k": 2.5}')), 'invalid-arguments');
    assert.equal(problemOf(() => parseToolCall('{"user": "u1"}')), 'invalid-arguments');
    assert.equal(problemOf(() => parseToolCall('{"k": 5, "sql": "drop"}')), 'invalid-arguments');
    assert.throws(() => parseToolCall('{"k": 99}'), /field 'k': Too big/);
    const schema = toolCallJsonSchema() as { properties: { arguments: { required: string[] } } };
    assert.deepEqual(schema.properties.arguments.required, ['k']);
  });

  test('the tool: unknown user / items, history excluded, query first', () => {
    assert.equal(problemOf(() => runTool(tool, { user: 'nobody-here', k: 5 })), 'unknown-user');
    assert.equal(problemOf(() => runTool(tool, { history: ['zzzz qqqq xxxx'], k: 5 })), 'unknown-items');
    const r = runTool(tool, { user, k: 7 });
    assert.equal(r.items.length, 7);
    const seen = new Set(r.history);
    assert.ok(r.history.length > 0 && r.items.every((x) => !seen.has(x.item)));
    for (let i = 1; i < r.items.length; i++) assert.ok(r.items[i - 1].score >= r.items[i].score);
    // A title in the history is resolved (exactly or fuzzily) and excluded.
    const t = itemTitle(shop, r.items[0].item);
    const r2 = runTool(tool, { history: [t.toUpperCase()], k: 3 });
    assert.deepEqual(r2.history, [r.items[0].item]);
    assert.ok(!r2.items.some((x) => x.item === r.items[0].item));
    // The query's items come first.
    const word = (itemTitle(shop, 50).toLowerCase().match(/[a-z]{4,}/g) ?? ['zzzz'])[0];
    const r3 = runTool(tool, { k: 3, query: word });
    assert.ok(r3.items[0].title.toLowerCase().includes(word));
  });
});

/** A scripted backend: answers by the prompt kind; `tool` is what it writes for the tool call. */
function scripted(toolAnswer: string | Error, opts: { failAll?: boolean } = {}): LlmBackend {
  return {
    kind: 'local', name: 'scripted:chat',
    capabilities: { generate: true, continuationLogProbs: false, constrainedChoices: false, constrainedJsonSchema: false, seed: false, exactTokenCount: false, vectorInjection: false },
    tokenizerFacts: () => Promise.resolve({ vocabSize: null, contextLength: null, specialTokens: {} }),
    countTokens: (t: string) => Promise.resolve(t.length),
    generate: (prompt: string, _o: GenerationOptions) => {
      if (opts.failAll) return Promise.reject(new BackendError('scripted:chat', 'request timed out after 300 ms'));
      if (prompt.includes('call the tool')) return toolAnswer instanceof Error ? Promise.reject(toolAnswer) : Promise.resolve({ text: toolAnswer, finishReason: 'stop' as const, promptTokens: 0, completionTokens: 0 });
      if (prompt.includes('Please rank')) {
        const list = prompt.split('interact with next:\n')[1].split('\nPlease rank')[0].split('\n').map((l) => l.replace(/^\d+\. /, ''));
        return Promise.resolve({ text: list.reverse().map((t, i) => `${i + 1}. ${t}`).join('\n'), finishReason: 'stop' as const, promptTokens: 0, completionTokens: 0 });
      }
      return Promise.resolve({ text: 'They match what you liked.', finishReason: 'stop' as const, promptTokens: 0, completionTokens: 0 });
    },
    scoreContinuations: () => Promise.reject(new Error('not used')),
    usage: () => emptyUsage(),
    dispose: () => Promise.resolve(),
  };
}

describe('ChatRec turns', () => {
  test('a good call is used; the LLM re-ranks and explains', { timeout: 30_000 }, async () => {
    const chat = new ChatRec({ backend: scripted('{"tool": "recommend", "arguments": {"k": 4}}'), tool });
    const t = await chat.turn('something new please', { user });
    assert.deepEqual(t.toolCall.args, { k: 4, user });
    assert.equal(t.toolCall.problem, undefined);
    assert.equal(t.candidates.length, 4);
    assert.equal(t.rerank.mode, 'generate');
    assert.deepEqual(t.ranking.map((x) => x.item), [...t.candidates].reverse().map((x) => x.item));
    assert.equal(t.explanation, 'They match what you liked.');
    assert.equal(chat.counts.toolCallFallbacks, 0);
  });

  test('unusable calls and failures fall back to the session defaults, counted by problem', { timeout: 30_000 }, async () => {
    const cases: Array<[string | Error, string]> = [
      ['{"tool": "recommend", "arguments": {"k": 4,,}}', 'bad-json'],
      ['I think you would like Toy Story', 'no-json'],
      ['{"tool": "recommend", "arguments": {"k": 500}}', 'invalid-arguments'],
      ['{"tool": "recommend", "arguments": {"user": "ghost", "k": 3}}', 'unknown-user'],
      [new BackendError('scripted:chat', 'connection refused'), 'backend-error'],
    ];
    for (const [answer, problem] of cases) {
      const c = new ChatRec({ backend: scripted(answer), tool, k: 6 });
      const t = await c.turn('recommend me something', { user });
      assert.equal(t.toolCall.problem, problem);
      assert.deepEqual(t.toolCall.args, { user, k: 6 });
      assert.equal(t.candidates.length, 6);
      assert.equal(c.counts.toolCallFallbacks, 1);
      assert.equal(c.counts.byProblem[problem], 1);
    }
    // A backend that fails every request: the recommender's order, no explanation, all counted; no hang.
    const down = new ChatRec({ backend: scripted('x', { failAll: true }), tool, k: 5 });
    const t = await down.turn('anything', { user });
    assert.equal(t.rerank.mode, 'fallback');
    assert.deepEqual(t.ranking, t.candidates);
    assert.equal(t.explanation, '');
    assert.deepEqual(down.counts, { turns: 1, toolCallFallbacks: 1, byProblem: { 'backend-error': 1 }, rerankFallbacks: 1, explainFailures: 1 });
    // A non-backend bug is not swallowed.
    const buggy = scripted('{"k": 3}');
    buggy.generate = () => Promise.reject(new TypeError('bug'));
    await assert.rejects(new ChatRec({ backend: buggy, tool }).turn('x', { user }), /bug/);
  });
});

describe('Chat-Rec through the loopback OpenAI-compatible server', () => {
  let server: Server;
  let url = '';
  const seen: Array<{ path: string; body: Record<string, unknown> }> = [];
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        const b = JSON.parse(body) as { messages: Array<{ content: string }>; response_format?: unknown };
        seen.push({ path: req.url ?? '', body: b });
        const prompt = b.messages[0].content;
        let content: string;
        if (b.response_format) content = JSON.stringify({ tool: 'recommend', arguments: { k: 3, query: 'x' } });
        else if (prompt.includes('Please rank')) content = '[3, 1, 2]';
        else content = 'Because you liked similar things.';
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/v1`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('tool call constrained by the JSON schema, re-rank parsed, explanation', { timeout: 30_000 }, async () => {
    const backend = new OpenAiBackend({ model: 'm', baseURL: url, echoLogprobs: false, timeoutMs: 5000, maxRetries: 0 });
    const chat = new ChatRec({ backend, tool });
    const t = await chat.turn('three things please', { user });
    assert.equal(t.toolCall.constrained, true);
    assert.deepEqual(t.toolCall.args, { k: 3, query: 'x', user });
    const rf = seen[0].body.response_format as { type: string; json_schema: { schema: unknown } };
    assert.equal(rf.type, 'json_schema');
    assert.deepEqual(rf.json_schema.schema, toolCallJsonSchema());
    assert.deepEqual(t.ranking.map((x) => x.item), [t.candidates[2].item, t.candidates[0].item, t.candidates[1].item]);
    assert.equal(t.rerank.parse?.byLabel, 3);
    assert.equal(t.explanation, 'Because you liked similar things.');
    assert.equal(seen.length, 3);
    assert.equal(backend.usage().requests, 3);
  });
});
