/** `GET /v1/models`: served models, the LLM recipes of method runs, the LM and its templates (docs/SERVING.md, "API"). */
import type { RoutePlugin } from './context.js';

export const modelRoutes: RoutePlugin = async (app, ctx) => {
  app.get('/v1/models', async (req) => {
    const s = ctx.lease(req);
    const d = s.run.data;
    return {
      run: s.run.dir, dataset: d.name, users: d.numUsers, items: d.numItems, loadedAt: s.run.loadedAt.toISOString(),
      models: s.run.models.map((m) => ({ label: m.label, name: m.name, history: m.history, similar: m.items !== null, precomputed: m.users !== null, precomputedTopK: m.top?.k ?? 0, maxHistory: m.L, loadSeconds: m.loadSeconds + m.precomputeSeconds })),
      recipes: [...s.recipes.values()].map((r) => ({
        id: r.id, label: r.label, run: r.runDir, adapter: r.plan.adapter ?? null, mapping: r.plan.mapping, itemTable: r.plan.itemTable, guide: r.plan.guide,
        templates: r.templates.map((t) => t.id), loadSeconds: r.loadSeconds,
      })),
      lm: s.lm ? { id: s.lm.id, rerank: s.lm.yesno !== null, rerankError: s.lm.rerankError, templates: s.lm.templates.map((t) => t.id), maxPositions: s.lm.maxPositions } : null,
      // OpenAI's list shape, for OpenAI clients' models.list().
      object: 'list',
      data: s.lm ? [{ id: s.lm.id, object: 'model', created: Math.floor(s.run.loadedAt.getTime() / 1000), owned_by: 'llmrec' }] : [],
    };
  });
};
