/**
 * The API's request schemas (zod): the one source both for validating every
 * request (errors name the field) and for `GET /openapi.json` (converted with
 * zod's JSON Schema output). See docs/SERVING.md, "API".
 */
import { z } from 'zod';

/** Limits of hostile or oversized input (docs/SERVING.md, "Limits"). */
export const LIMITS = {
  maxK: 100,
  maxHistory: 200,
  maxExclude: 1000,
  maxCandidates: 5000,
  maxRerankCandidates: 50,
  maxStringLength: 500,
  maxPromptChars: 8000,
  maxMessages: 64,
  maxTokens: 512,
  maxJsonDepth: 16,
};

/** An item reference: its external id, or its exact title. */
const ItemRef = z.union([z.string().min(1).max(LIMITS.maxStringLength), z.number().int().nonnegative()])
  .describe('an item id (string or integer), or an exact item title');

export const RecommendBody = z.strictObject({
  model: z.string().min(1).max(100).optional().describe('model label (GET /v1/models); default: the first model'),
  user: z.union([z.string().min(1).max(LIMITS.maxStringLength), z.number().int().nonnegative()]).optional()
    .describe('a known user id: their history before the held-out test item is used'),
  history: z.array(ItemRef).max(LIMITS.maxHistory).optional().describe('an ad-hoc history, oldest first'),
  k: z.number().int().min(1).max(LIMITS.maxK).default(10),
  exclude: z.array(ItemRef).max(LIMITS.maxExclude).default([]).describe('items never to recommend'),
  excludeSeen: z.boolean().default(true).describe('leave the history\'s items out'),
  candidates: z.array(ItemRef).min(1).max(LIMITS.maxCandidates).optional().describe('rank only these items'),
  includeHistory: z.boolean().default(false).describe('also answer the history that was scored (items with titles; a known user\'s is their history before the held-out test item)'),
});
export type RecommendBody = z.output<typeof RecommendBody>;

export const ItemsQuery = z.strictObject({
  q: z.string().max(200).default('').describe('case-insensitive title search (empty: the first items)'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export const SimilarQuery = z.strictObject({
  model: z.string().min(1).max(100).optional(),
  k: z.coerce.number().int().min(1).max(LIMITS.maxK).default(10),
});

export const UsersQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

export const ItemParams = z.strictObject({ id: z.string().min(1).max(LIMITS.maxStringLength) });

export const RerankBody = z.strictObject({
  model: z.string().min(1).max(200).optional().describe('a recipe id (e.g. ganprompt, collm, tallrec) or the LM id (GET /v1/models); default: the --lm LM, else the first recipe'),
  user: z.union([z.string().min(1).max(LIMITS.maxStringLength), z.number().int().nonnegative()]).optional()
    .describe('a known user id: their test history when no history is given, and their collaborative user vector'),
  history: z.array(ItemRef).max(LIMITS.maxHistory).default([]),
  candidates: z.array(ItemRef).min(1).max(LIMITS.maxRerankCandidates),
  template: z.string().min(1).max(100).optional().describe('a template id of templates/yes-no.json (default: the first)'),
  prompt: z.boolean().default(false).describe('return each candidate\'s rendered prompt'),
});

const Stop = z.union([z.string().min(1).max(100), z.array(z.string().min(1).max(100)).max(4)]).nullable().optional();

const Sampling = {
  model: z.string().max(200).optional(),
  max_tokens: z.number().int().min(1).max(LIMITS.maxTokens).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  stop: Stop,
  seed: z.number().int().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  n: z.literal(1).nullable().optional().describe('only 1 is supported'),
};

/** OpenAI's completions request (fields we do not use are accepted and ignored, as OpenAI clients send them). */
export const CompletionBody = z.looseObject({
  ...Sampling,
  prompt: z.union([z.string().max(LIMITS.maxPromptChars), z.array(z.string().max(LIMITS.maxPromptChars)).length(1)]),
  logprobs: z.number().int().min(0).max(5).nullable().optional(),
  echo: z.literal(false).nullable().optional(),
});

const ChatContent = z.union([
  z.string().max(LIMITS.maxPromptChars),
  z.array(z.looseObject({ type: z.literal('text'), text: z.string().max(LIMITS.maxPromptChars) })).max(16),
]);

export const ChatBody = z.looseObject({
  ...Sampling,
  messages: z.array(z.looseObject({ role: z.enum(['system', 'developer', 'user', 'assistant']), content: ChatContent })).min(1).max(LIMITS.maxMessages),
  max_completion_tokens: z.number().int().min(1).max(LIMITS.maxTokens).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(5).nullable().optional(),
});

const json = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: ['string', 'null'] } }, required: ['message', 'type'] } },
};

function op(summary: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    summary,
    responses: {
      200: { description: 'OK' },
      '4XX': { description: 'Bad request: the error names the field (`param`)', content: { 'application/json': { schema: errorSchema } } },
      503: { description: 'Busy (queue full; see Retry-After), timed out, or shutting down' },
    },
    ...extra,
  };
}

const body = (s: z.ZodType) => ({ requestBody: { required: true, content: { 'application/json': { schema: json(s) } } } });

function queryParams(s: z.ZodObject): unknown[] {
  const js = json(s) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, schema]) => ({ name, in: 'query', required: js.required?.includes(name) ?? false, schema }));
}

/** The OpenAPI 3.1 document of the server. */
export function openApiDocument(version: string): Record<string, unknown> {
  const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
  return {
    openapi: '3.1.0',
    info: { title: 'llmrec serve', version, description: 'Recommendations from a benchmark run directory, an LLM yes/no re-rank and OpenAI-compatible completions. See docs/SERVING.md.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }, {}],
    paths: {
      '/v1/recommend': { post: op('Top-k items for a known user or an ad-hoc history', body(RecommendBody)) },
      '/v1/items': { get: op('Search items by title', { parameters: queryParams(ItemsQuery) }) },
      '/v1/items/{id}': { get: op('One item', { parameters: [idParam] }) },
      '/v1/items/{id}/similar': { get: op('Nearest items by the model\'s item vectors (cosine)', { parameters: [idParam, ...queryParams(SimilarQuery)] }) },
      '/v1/users': { get: op('Known (test) users with their held-out next item', { parameters: queryParams(UsersQuery) }) },
      '/v1/models': { get: op('Served models and the LM') },
      '/v1/rerank': { post: op('LLM yes/no re-rank of candidates after a history', body(RerankBody)) },
      '/v1/completions': { post: op('OpenAI-compatible text completion (SSE with stream: true)', body(CompletionBody)) },
      '/v1/chat/completions': { post: op('OpenAI-compatible chat completion (SSE with stream: true)', body(ChatBody)) },
      '/admin/reload': { post: op('Reload the run directory (and LM); requests keep being served meanwhile') },
      '/healthz': { get: op('Liveness') },
      '/readyz': { get: op('Readiness (503 while loading or shutting down)') },
      '/metrics': { get: op('Prometheus metrics (text format 0.0.4)') },
      '/openapi.json': { get: op('This document') },
    },
  };
}
