/**
 * `llmrec serve`: the HTTP server (Fastify) over a loaded benchmark run and an
 * optional LM. This file holds the lifecycle: body parsing and limits,
 * authentication, the bounded queue, deadlines, reload and shutdown; the
 * routes are Fastify plugins in routes/<group>.ts registered from ROUTES
 * (docs/SERVING.md, "Code layout"). Request schemas live in schemas.ts.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { initEngine } from '../engine/index.js';
import type { ModelSettings } from '../models/registry.js';
import { MicroBatcher, Serial } from './batcher.js';
import { ApiError, errorBody, jsonDepth } from './http.js';
import { Metrics } from './metrics.js';
import { LIMITS, openApiDocument } from './schemas.js';
import { disposeState, loadState, type State } from './state.js';
import { adminRoutes } from './routes/admin.js';
import { chatRoutes } from './routes/chat.js';
import type { RouteContext, RoutePlugin } from './routes/context.js';
import { demoRoutes, findDemoDir } from './routes/demo.js';
import { healthRoutes } from './routes/health.js';
import { itemRoutes } from './routes/items.js';
import { modelRoutes } from './routes/models.js';
import { openaiRoutes } from './routes/openai.js';
import { recommendRoutes } from './routes/recommend.js';
import { rerankRoutes } from './routes/rerank.js';

export { ApiError, jsonDepth } from './http.js';
export { MicroBatcher } from './batcher.js';

/** The route groups, registered in this order (one Fastify plugin each, routes/<group>.ts). */
export const ROUTES: readonly RoutePlugin[] = [
  healthRoutes,
  modelRoutes,
  itemRoutes,
  recommendRoutes,
  rerankRoutes,
  openaiRoutes,
  chatRoutes,
  adminRoutes,
  demoRoutes,
];

/** Routes whose requests take a queue slot (compute work). */
const COMPUTE = new Set(['/v1/recommend', '/v1/rerank', '/v1/completions', '/v1/chat/completions', '/v1/chat', '/v1/items/:id/similar']);

export interface ServeOptions {
  /** Benchmark run directory (config.json, models/<label>/). */
  run: string;
  /** Method run directories (llmrec run tallrec|collm|ganprompt) whose saved LLM recipes /v1/rerank serves. */
  methodRuns?: string[];
  /** Optional causal-LM folder for /v1/rerank and the OpenAI endpoints. */
  lm?: string;
  host?: string;
  port?: number;
  /** Required bearer token for every route but /healthz and /readyz (default: none). */
  token?: string;
  /** Largest accepted request body in bytes (default 256 KiB). */
  bodyLimit?: number;
  /** Per-request time limit in ms (default 30 s). */
  requestTimeoutMs?: number;
  /** Time a client gets to send its whole request, in ms (default 10 s: slow clients are cut). */
  receiveTimeoutMs?: number;
  /** Compute requests admitted at once (queued or running); beyond it: 503 + Retry-After (default 64). */
  maxQueue?: number;
  /** K of the known users' top-K precomputed at load (default 100; 0: every request is scored). */
  precomputeK?: number;
  /** Inference settings per model label (`--set tiger.beams=80`), applied when the run's models load. */
  set?: ModelSettings;
  /** Log lines (default: console.error). */
  log?: (line: string) => void;
}

export const SERVE_DEFAULTS = { host: '127.0.0.1', port: 8080, bodyLimit: 256 * 1024, requestTimeoutMs: 30_000, receiveTimeoutMs: 10_000, maxQueue: 64, precomputeK: 100 };

export interface LlmrecServer {
  app: FastifyInstance;
  options: Required<Omit<ServeOptions, 'lm' | 'token' | 'log' | 'methodRuns'>> & Pick<ServeOptions, 'lm' | 'token' | 'methodRuns'>;
  /** Loads the run (and LM) again and swaps it in; in-flight requests finish on the old one. */
  reload(): Promise<void>;
  /** Stops accepting, lets in-flight requests finish, frees the models. */
  close(): Promise<void>;
  listen(): Promise<string>;
  metrics: Metrics;
  /** Scoring calls made by the micro-batcher, admitted compute requests, requests being handled. */
  stats(): { batches: number; batchedRequests: number; queueDepth: number; inFlight: number };
}

export async function createServer(opts: ServeOptions): Promise<LlmrecServer> {
  const o = { ...SERVE_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as LlmrecServer['options'] & { log?: (l: string) => void };
  const log = opts.log ?? ((l: string) => console.error(l));
  if (o.token !== undefined && o.token.length < 8) throw new Error('--token: use at least 8 characters');
  await initEngine();
  const metrics = new Metrics();
  let state = await loadState(o, log, metrics);
  const batcher = new MicroBatcher();
  const lmQueue = new Serial();
  let queueDepth = 0;
  let inFlight = 0;
  let closing = false;
  let reloading: Promise<void> | null = null;
  const version = (() => {
    try { return (JSON.parse(readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json'), 'utf8')) as { version: string }).version; } catch { return '0'; }
  })();
  const openapi = openApiDocument(version);

  const app = Fastify({
    bodyLimit: o.bodyLimit,
    requestTimeout: o.receiveTimeoutMs,
    connectionTimeout: o.receiveTimeoutMs * 3,
    http: { requestTimeout: o.receiveTimeoutMs, headersTimeout: Math.min(o.receiveTimeoutMs, 60_000), connectionsCheckingInterval: Math.max(250, Math.min(1000, o.receiveTimeoutMs / 4)) },
    routerOptions: { maxParamLength: LIMITS.maxStringLength },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    logger: false,
  });

  // JSON bodies: strict UTF-8, bounded nesting, then JSON.parse; errors name the body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json'], { parseAs: 'buffer' }, (_req, buf, done) => {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf as Buffer);
    } catch {
      done(new ApiError(400, 'body: not valid UTF-8', 'body', 'invalid_utf8'), undefined);
      return;
    }
    if (text.trim() === '') { done(null, {}); return; }
    const depth = jsonDepth(text, LIMITS.maxJsonDepth);
    if (depth > LIMITS.maxJsonDepth) { done(new ApiError(400, `body: JSON nested deeper than ${LIMITS.maxJsonDepth} levels`, 'body', 'too_deep'), undefined); return; }
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new ApiError(400, `body: not valid JSON (${(e as Error).message})`, 'body', 'invalid_json'), undefined);
    }
  });

  const started = new WeakMap<FastifyRequest, number>();
  const admitted = new WeakSet<FastifyRequest>();
  const leased = new WeakMap<FastifyRequest, State>();

  app.addHook('onRequest', async (req, reply) => {
    started.set(req, performance.now());
    inFlight++;
    const route = req.routeOptions.url ?? '';
    if (o.token && route !== '/healthz' && route !== '/readyz' && !(route === '/' || route.startsWith('/demo/'))) {
      const given = Buffer.from(req.headers.authorization ?? '');
      const want = Buffer.from(`Bearer ${o.token}`);
      if (given.length !== want.length || !timingSafeEqual(given, want)) {
        reply.header('WWW-Authenticate', 'Bearer');
        throw new ApiError(401, 'authorization: a valid bearer token is required', 'authorization', 'unauthorized');
      }
    }
    if (COMPUTE.has(route)) {
      if (queueDepth >= o.maxQueue) {
        metrics.rejected++;
        reply.header('Retry-After', '1');
        throw new ApiError(503, `busy: ${queueDepth} requests queued (limit ${o.maxQueue}); retry later`, null, 'queue_full');
      }
      queueDepth++;
      admitted.add(req);
    }
  });
  const release = (req: FastifyRequest) => {
    if (admitted.has(req)) { admitted.delete(req); queueDepth--; }
    const s = leased.get(req);
    if (s) {
      leased.delete(req);
      s.users--;
      if (s.retired && s.users === 0) disposeState(s);
    }
  };
  app.addHook('onResponse', async (req, reply) => {
    inFlight--;
    release(req);
    const t = started.get(req);
    const route = req.routeOptions.url ?? 'unmatched';
    if (t !== undefined) metrics.observeRequest(req.method, route, reply.statusCode, (performance.now() - t) / 1000);
  });
  app.addHook('onRequestAbort', async (req) => { release(req); });

  /** The current state, held until the response ends (a reload disposes it only afterwards). */
  const lease = (req: FastifyRequest): State => {
    const s = state;
    if (!leased.has(req)) { s.users++; leased.set(req, s); }
    return leased.get(req)!;
  };

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, _req, reply) => {
    if (err instanceof ApiError) {
      void reply.status(err.status).send(errorBody(err.status, err.message, err.param, err.code));
      return;
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    const param = err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'content-type' : err.code?.startsWith('FST_ERR_CTP') ? 'body' : null;
    if (status >= 500) log(`error: ${err.stack ?? err.message}`);
    void reply.status(status).send(errorBody(status, status === 500 ? `internal error: ${err.message}` : err.message, param, err.code ?? null));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(errorBody(404, `no route ${req.method} ${req.url.slice(0, 200)}`, 'path', 'not_found'));
  });

  /**
   * The request's deadline: an AbortSignal that fires after requestTimeoutMs
   * or when the client goes away (Fastify's request.signal also fires when the
   * request body has been read, so it is not used here).
   */
  const deadlines = new WeakMap<FastifyRequest, AbortController>();
  const deadline = (req: FastifyRequest, reply: FastifyReply): AbortSignal => {
    let ac = deadlines.get(req);
    if (!ac) {
      const c = new AbortController();
      ac = c;
      deadlines.set(req, c);
      const timer = setTimeout(() => c.abort(new ApiError(503, `timeout: no answer within ${o.requestTimeoutMs} ms`, null, 'timeout')), o.requestTimeoutMs);
      reply.raw.once('close', () => {
        clearTimeout(timer);
        if (!reply.raw.writableFinished) c.abort(new ApiError(499, 'client closed the connection', null, 'client_closed'));
      });
    }
    return ac.signal;
  };
  const withDeadline = async <T>(req: FastifyRequest, reply: FastifyReply, p: Promise<T>): Promise<T> => {
    const signal = deadline(req, reply);
    return Promise.race([p, new Promise<T>((_, rej) => {
      if (signal.aborted) rej(signal.reason);
      signal.addEventListener('abort', () => rej(signal.reason), { once: true });
    })]);
  };

  const reload = async (): Promise<void> => {
    if (reloading) return reloading;
    reloading = (async () => {
      const t0 = performance.now();
      try {
        const next = await loadState(o, log, metrics);
        const old = state;
        state = next;
        old.retired = true;
        if (old.users === 0) disposeState(old);
        metrics.reload(true);
        log(`reloaded ${o.run} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } catch (e) {
        metrics.reload(false);
        log(`reload failed, still serving the previous load: ${(e as Error).message}`);
        throw e;
      } finally {
        reloading = null;
      }
    })();
    return reloading;
  };
  const ctx: RouteContext = {
    options: o, metrics, batcher, lmQueue, openapi, demoDir: findDemoDir(),
    current: () => state, lease, release, deadline, withDeadline, reload,
    closing: () => closing, reloading: () => reloading !== null, gauges: () => ({ queueDepth, inFlight }),
  };
  for (const routes of ROUTES) await app.register(routes, ctx);

  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    if (closed) return closed;
    closing = true;
    closed = (async () => {
      await app.close();
      if (reloading) await reloading.catch(() => undefined);
      state.retired = true;
      if (state.users === 0) disposeState(state);
    })();
    return closed;
  };

  return {
    app, options: o, metrics, reload, close,
    stats: () => ({ batches: batcher.batches, batchedRequests: batcher.requests, queueDepth, inFlight }),
    listen: async () => app.listen({ host: o.host, port: o.port }),
  };
}
