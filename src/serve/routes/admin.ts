/** `POST /admin/reload`: load the run directory (and LM) again without failing requests (docs/SERVING.md, "reload"). */
import { ApiError } from '../http.js';
import type { RoutePlugin } from './context.js';

export const adminRoutes: RoutePlugin = async (app, ctx) => {
  app.post('/admin/reload', async () => {
    try {
      await ctx.reload();
    } catch (e) {
      throw new ApiError(500, `reload failed (the previous load is still served): ${(e as Error).message}`, null, 'reload_failed');
    }
    const s = ctx.current();
    return { status: 'reloaded', loadedAt: s.run.loadedAt.toISOString(), models: s.run.models.map((m) => m.label), lm: s.lm?.id ?? null };
  });
};
