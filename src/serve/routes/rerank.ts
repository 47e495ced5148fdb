/** `POST /v1/rerank`: the yes/no LLM's P(yes) for candidates after a history (docs/SERVING.md, "LLM endpoints"). */
import { ApiError, parseWith } from '../http.js';
import { rerank } from '../lm.js';
import { RerankBody } from '../schemas.js';
import { itemJson, itemRef, lmOf, type RoutePlugin } from './context.js';

export const rerankRoutes: RoutePlugin = async (app, ctx) => {
  app.post('/v1/rerank', async (req, reply) => {
    const b = parseWith(RerankBody, req.body, 'body');
    const s = ctx.lease(req);
    const l = lmOf(s, b.model);
    const history = Int32Array.from(b.history, (r, i) => itemRef(s, r, `history.${i}`));
    const cands = b.candidates.map((r, i) => itemRef(s, r, `candidates.${i}`));
    if (new Set(cands).size !== cands.length) throw new ApiError(400, 'candidates: duplicate items', 'candidates', 'duplicate');
    const signal = ctx.deadline(req, reply);
    const res = await ctx.withDeadline(req, reply, ctx.lmQueue.run(async () => {
      if (signal.aborted) throw signal.reason;
      try {
        return rerank(l, history, cands, b.template, b.prompt);
      } catch (e) {
        if ((e as Error).message.startsWith('template:')) throw new ApiError(400, (e as Error).message, 'template', 'unknown_template');
        if ((e as Error).message.startsWith('re-rank unavailable')) throw new ApiError(400, (e as Error).message, 'model', 'rerank_unavailable');
        throw e;
      }
    }));
    return { model: l.id, template: res.template, items: res.scores.map((x, r) => ({ rank: r + 1, ...itemJson(s, x.item), score: x.score, pYes: x.pYes, ...(x.prompt !== undefined ? { prompt: x.prompt } : {}) })) };
  });
};
