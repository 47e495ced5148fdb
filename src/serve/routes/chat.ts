/**
 * POST /v1/chat: Chat-Rec over the served run and LM (docs/LLM.md "Chat-Rec",
 * src/methods/chatrec): the served `--lm` (through the in-process backend)
 * writes a tool call, the run's model answers it, the LM re-ranks and
 * explains. Body (validated): { message, user?, history?, k?, model? }.
 * Also the chat demo page GET /demo/chat.html (+ /demo/chat.js), offline.
 *
 * A route plugin listed in server.ts's ROUTES: the request leases the
 * current state (a reload disposes it only afterwards), takes a compute queue
 * slot (COMPUTE) and runs its LM work on the LM queue under the deadline.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { LocalBackend } from '../../backends/local.js';
import { ChatRec } from '../../methods/chatrec/chat.js';
import { DEFAULT_WORDS, MOVIE_WORDS } from '../../methods/llmrank/prompts.js';
import type { RoutePlugin } from './context.js';

export const ChatBody = z.strictObject({
  message: z.string().min(1).max(2000),
  user: z.string().min(1).max(200).optional(),
  history: z.array(z.string().min(1).max(300)).max(100).optional(),
  k: z.number().int().min(1).max(50).default(10),
  /** Label of the run's model used as the tool (default: the first that scores a history). */
  model: z.string().max(200).optional(),
});

function fail(reply: FastifyReply, status: number, message: string, param: string | null, code: string) {
  return reply.status(status).send({ error: { message, type: 'invalid_request_error', param, code } });
}

function demoFile(name: string): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const d of [join(here, '..', 'demo'), resolve(here, '..', '..', '..', 'src', 'serve', 'demo')]) if (existsSync(join(d, name))) return join(d, name);
  return null;
}

export const chatRoutes: RoutePlugin = async (app, ctx) => {
  app.post('/v1/chat', async (req, reply) => {
    const r = ChatBody.safeParse(req.body);
    if (!r.success) {
      const i = r.error.issues[0];
      return fail(reply, 400, `body: field '${i.path.join('.') || '(root)'}': ${i.message}`, i.path.join('.') || 'body', 'invalid_body');
    }
    const b = r.data;
    const { run, lm } = ctx.lease(req);
    if (!lm) return fail(reply, 404, 'model: no LM is loaded (start the server with --lm DIR)', 'model', 'no_lm');
    const m = b.model !== undefined ? run.models.find((x) => x.label === b.model) : run.models.find((x) => x.history) ?? run.models[0];
    if (!m) return fail(reply, 404, `model: unknown model '${String(b.model).slice(0, 100)}' (served: ${run.models.map((x) => x.label).join(', ')})`, 'model', 'unknown_model');
    if (b.user !== undefined && !run.userIndex.has(b.user)) return fail(reply, 404, `user: unknown user ${JSON.stringify(b.user.slice(0, 100))}`, 'user', 'unknown_user');
    const backend = new LocalBackend({ model: lm.lm, tokenizer: lm.tok, name: `local:${lm.id}` });
    const chat = new ChatRec({
      backend, k: b.k, words: /^ml-|movielens/i.test(run.data.name) ? MOVIE_WORDS : DEFAULT_WORDS,
      tool: { data: run.data, label: m.label, L: m.L, scoreAll: (batch) => m.model.scoreAll(batch) },
    });
    const signal = ctx.deadline(req, reply);
    const t = await ctx.withDeadline(req, reply, ctx.lmQueue.run(() => {
      if (signal.aborted) throw signal.reason;
      return chat.turn(b.message, { ...(b.user !== undefined ? { user: b.user } : {}), ...(b.history ? { history: b.history } : {}) });
    }));
    return { model: m.label, lm: lm.id, ...t, counts: chat.counts, usage: backend.usage() };
  });
  for (const f of ['chat.html', 'chat.js']) {
    app.get(`/demo/${f}`, (_req, reply) => {
      const p = demoFile(f);
      if (!p) return fail(reply, 404, `demo file ${f} is not installed`, 'path', 'not_found');
      return reply.type(f.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8').send(readFileSync(p, 'utf8'));
    });
  }
};
