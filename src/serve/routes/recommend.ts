/**
 * `POST /v1/recommend`: top-k for a known user or an ad-hoc history
 * (docs/SERVING.md, "API", "Scoring"). The hot route: a known user's default
 * request is a lookup in the lists precomputed at load, other requests go
 * through the micro-batcher, and the answer is concatenated from each item's
 * JSON serialised once at load (`itemJsonText`); RECOMMEND_RESPONSE documents
 * its shape (OpenAPI) and a test parses answers against it.
 */
import { ApiError, parseWith } from '../http.js';
import { precomputedTopK, seenOf, testHistory } from '../run.js';
import { RecommendBody } from '../schemas.js';
import { mergeSorted, sortedUnique } from '../topk.js';
import { ITEM_SCHEMA, itemRef, modelOf, type RoutePlugin } from './context.js';

const RANKED_ITEM = {
  type: 'object',
  properties: { rank: { type: 'integer' }, ...ITEM_SCHEMA.properties, score: { type: 'number' } },
  required: ['rank', 'id', 'title', 'score'],
} as const;

/** The answer's schema: serialisation only (requests are validated by zod, schemas.ts). */
export const RECOMMEND_RESPONSE = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    user: { type: 'string' },
    nextItem: ITEM_SCHEMA,
    history: { type: 'array', items: ITEM_SCHEMA },
    items: { type: 'array', items: RANKED_ITEM },
  },
  required: ['model', 'items'],
} as const;

const EMPTY = new Int32Array(0);

export const recommendRoutes: RoutePlugin = async (app, ctx) => {
  app.post('/v1/recommend', { schema: { response: { 200: RECOMMEND_RESPONSE } } }, async (req, reply) => {
    const b = parseWith(RecommendBody, req.body, 'body');
    const s = ctx.lease(req);
    if ((b.user === undefined) === (b.history === undefined)) throw new ApiError(400, 'body: give exactly one of \'user\' and \'history\'', b.user === undefined ? 'history' : 'user', 'user_or_history');
    const m = modelOf(s, b.model);
    let user: number | null = null;
    let history: Int32Array;
    if (b.user !== undefined) {
      const u = s.run.userIndex.get(String(b.user));
      if (u === undefined) throw new ApiError(404, `user: unknown user ${JSON.stringify(String(b.user).slice(0, 100))}`, 'user', 'unknown_user');
      user = u;
      history = testHistory(s.run.data, u);
    } else {
      if (!m.history) throw new ApiError(400, `model: '${m.label}' (${m.name}) scores known users only; give 'user' or choose a sequence model`, 'model', 'history_unsupported');
      history = Int32Array.from(b.history!, (r, i) => itemRef(s, r, `history.${i}`));
    }
    const exclude = b.exclude.length === 0 ? EMPTY : sortedUnique(b.exclude.map((r, i) => itemRef(s, r, `exclude.${i}`)));
    const seen = !b.excludeSeen ? EMPTY : user !== null ? seenOf(s.run, user) : sortedUnique(history);
    const candidates = b.candidates?.map((r, i) => itemRef(s, r, `candidates.${i}`));
    // A known user's default request is answered from the lists precomputed at load (same scores, same order).
    const pre = user !== null && b.excludeSeen && candidates === undefined ? precomputedTopK(m, user, b.k, exclude) : null;
    const top = pre ?? await ctx.withDeadline(req, reply, ctx.batcher.rank(m, { user, history, k: b.k, skip: mergeSorted(seen, exclude), candidates }));
    // The answer as text: fixed keys, each item's JSON from load time, numbers by String() (JSON's form of a finite number).
    const text = s.run.itemJsonText;
    let out = `{"model":${JSON.stringify(m.label)}`;
    if (user !== null) out += `,"user":${JSON.stringify(s.run.data.userIds[user])},"nextItem":{${text[s.run.data.test.target[user]]}}`;
    if (b.includeHistory) {
      out += ',"history":[';
      for (let j = 0; j < history.length; j++) out += (j ? ',{' : '{') + text[history[j]] + '}';
      out += ']';
    }
    out += ',"items":[';
    for (let r = 0; r < top.length; r++) {
      const sc = top[r].score;
      out += `${r ? ',' : ''}{"rank":${r + 1},${text[top[r].item]},"score":${Number.isFinite(sc) ? String(sc) : 'null'}}`;
    }
    out += ']}';
    return reply.type('application/json; charset=utf-8').send(out);
  });
};
