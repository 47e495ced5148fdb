/**
 * `POST /v1/rerank`: a yes/no LLM recommender's P(yes) for candidates after a
 * history (docs/SERVING.md, "LLM endpoints", "LLM recipes"): a recipe a
 * method run saved (TALLRec, CoLLM, GANPrompt, ...) or the `--lm` LM.
 */
import { ApiError, parseWith } from '../http.js';
import { rerank, type RerankResult, rerankYesNo } from '../lm.js';
import { testHistory } from '../run.js';
import { RerankBody } from '../schemas.js';
import type { State } from '../state.js';
import { itemJson, itemRef, lmOf, type RoutePlugin } from './context.js';

/** The last L items of a history, left-padded with 0 to L (the recipes' collaborative model reads [L] rows). */
function padded(history: Int32Array, L: number): Int32Array {
  const out = new Int32Array(L);
  const n = Math.min(L, history.length);
  out.set(history.subarray(history.length - n), L - n);
  return out;
}

export const rerankRoutes: RoutePlugin = async (app, ctx) => {
  app.post('/v1/rerank', async (req, reply) => {
    const b = parseWith(RerankBody, req.body, 'body');
    const s: State = ctx.lease(req);
    const recipe = b.model !== undefined ? s.recipes.get(b.model) : s.lm ? undefined : s.recipes.values().next().value;
    const l = recipe ? null : (() => {
      if (!s.lm && b.model !== undefined) throw new ApiError(404, `model: unknown model '${b.model.slice(0, 100)}' (recipes: ${[...s.recipes.keys()].join(', ') || 'none'}; no --lm)`, 'model', 'unknown_model');
      return lmOf(s, b.model);
    })();
    let user = 0;
    if (b.user !== undefined) {
      const u = s.run.userIndex.get(String(b.user));
      if (u === undefined) throw new ApiError(404, `user: unknown user ${JSON.stringify(String(b.user).slice(0, 100))}`, 'user', 'unknown_user');
      user = u;
    }
    const history = b.history.length > 0 || b.user === undefined
      ? Int32Array.from(b.history, (r, i) => itemRef(s, r, `history.${i}`))
      : Int32Array.from(testHistory(s.run.data, user));
    const cands = b.candidates.map((r, i) => itemRef(s, r, `candidates.${i}`));
    if (new Set(cands).size !== cands.length) throw new ApiError(400, 'candidates: duplicate items', 'candidates', 'duplicate');
    const signal = ctx.deadline(req, reply);
    const res: RerankResult = await ctx.withDeadline(req, reply, ctx.lmQueue.run(async () => {
      if (signal.aborted) throw signal.reason;
      try {
        if (recipe) return rerankYesNo(recipe.yesno, recipe.templates, { user, history: padded(history, s.run.data.test.L), candidates: Int32Array.from(cands) }, b.template, b.prompt);
        return rerank(l!, history, cands, b.template, b.prompt);
      } catch (e) {
        if ((e as Error).message.startsWith('template:')) throw new ApiError(400, (e as Error).message, 'template', 'unknown_template');
        if ((e as Error).message.startsWith('re-rank unavailable')) throw new ApiError(400, (e as Error).message, 'model', 'rerank_unavailable');
        throw e;
      }
    }));
    return {
      model: recipe ? recipe.id : l!.id, ...(recipe ? { label: recipe.label } : {}), template: res.template,
      items: res.scores.map((x, r) => ({ rank: r + 1, ...itemJson(s, x.item), score: x.score, pYes: x.pYes, ...(x.prompt !== undefined ? { prompt: x.prompt } : {}) })),
    };
  });
};
