/** Liveness, readiness, Prometheus metrics and the OpenAPI document (docs/SERVING.md, "API", "Metrics"). */
import type { RoutePlugin } from './context.js';

export const healthRoutes: RoutePlugin = async (app, ctx) => {
  app.get('/healthz', { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (ctx.closing()) return reply.status(503).send({ status: 'shutting down' });
    const s = ctx.current();
    return { status: 'ready', run: s.run.dir, models: s.run.models.map((m) => m.label), lm: s.lm?.id ?? null, reloading: ctx.reloading() };
  });
  app.get('/metrics', async (_req, reply) => {
    void reply.type('text/plain; version=0.0.4; charset=utf-8');
    return ctx.metrics.render(ctx.gauges());
  });
  app.get('/openapi.json', async () => ctx.openapi);
};
