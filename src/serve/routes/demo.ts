/** The web demo at `/`: three static files, no CDN (docs/SERVING.md, "Web demo"). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply } from 'fastify';
import { errorBody } from '../http.js';
import type { RoutePlugin } from './context.js';

const MIME: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/** Where the demo's static files are: src/serve/demo beside the serve modules or, from dist/serve, in the package's src/serve/demo. */
export function findDemoDir(): string | null {
  const serve = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  for (const d of [join(serve, 'demo'), resolve(serve, '..', '..', 'src', 'serve', 'demo')]) if (existsSync(join(d, 'index.html'))) return d;
  return null;
}

export const demoRoutes: RoutePlugin = async (app, ctx) => {
  const send = (file: string, reply: FastifyReply) => {
    if (!ctx.demoDir) return reply.status(404).send(errorBody(404, 'demo files not found (src/serve/demo)', null, 'not_found'));
    return reply.type(MIME[extname(file)] ?? 'application/octet-stream').header('cache-control', 'no-cache').send(readFileSync(join(ctx.demoDir, file)));
  };
  app.get('/', (_req, reply) => send('index.html', reply));
  for (const f of ['app.js', 'style.css']) app.get(`/demo/${f}`, (_req, reply) => send(f, reply));
};
