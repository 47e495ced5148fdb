/**
 * `llmrec serve`: the HTTP server (Fastify) over a loaded benchmark run and an
 * optional LM. Routes, limits, queueing, reload and shutdown are described in
 * docs/SERVING.md; request schemas live in schemas.ts.
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { initEngine } from '../engine/index.js';
import { itemTitle } from '../methods/text_lm/corpus.js';
import { chatPrompt, disposeLm, generateText, type GenerationResult, type LoadedLm, loadLm, rerank, type SampleOptions } from './lm.js';
import { Metrics } from './metrics.js';
import { chatRoutes } from './routes/chat.js';
import { disposeRun, type LoadedRun, loadRun, rankBatch, type RankRequest, type ServedModel, testHistory } from './run.js';
import { ChatBody, CompletionBody, ItemParams, ItemsQuery, LIMITS, openApiDocument, RecommendBody, RerankBody, SimilarQuery, UsersQuery } from './schemas.js';
import { type Scored, topKOfScores } from './topk.js';

export interface ServeOptions {
  /** Benchmark run directory (config.json, models/<label>/). */
  run: string;
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
  /** Log lines (default: console.error). */
  log?: (line: string) => void;
}

export const SERVE_DEFAULTS = { host: '127.0.0.1', port: 8080, bodyLimit: 256 * 1024, requestTimeoutMs: 30_000, receiveTimeoutMs: 10_000, maxQueue: 64 };

/** An HTTP error with the offending field (OpenAI's error shape: message, type, param, code). */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly param: string | null = null, readonly code: string | null = null) {
    super(message);
  }
}

function zodError(e: z.ZodError, where: string): ApiError {
  const i = e.issues[0];
  const path = i.path.map(String);
  const param = (i.code === 'unrecognized_keys' ? [...path, ...i.keys] : path).join('.') || null;
  const named = param ?? where;
  return new ApiError(i.code === 'too_big' && i.origin === 'array' ? 413 : 400, `${where}${param ? ` field '${param}'` : ''}: ${i.message}`, named, i.code);
}

function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw zodError(r.error, where);
  return r.data;
}

/** Largest nesting depth of a JSON text (brackets outside strings), scanning without parsing. */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (c === 92) i++; else if (c === 34) inStr = false;
    } else if (c === 34) inStr = true;
    else if (c === 123 || c === 91) { if (++depth > max) { max = depth; if (max > limit) return max; } } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/** Where the demo's static files are: beside this module (src/serve/demo) or, from dist/serve, in the package's src/serve/demo. */
function demoDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const d of [join(here, 'demo'), resolve(here, '..', '..', 'src', 'serve', 'demo')]) if (existsSync(join(d, 'index.html'))) return d;
  return null;
}

const MIME: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

interface State {
  run: LoadedRun;
  lm: LoadedLm | null;
  /** Requests using this state; a replaced state is disposed when it reaches 0. */
  users: number;
  retired: boolean;
}

/**
 * Coalesces concurrent rank requests of one model into one scoring call
 * (docs/SERVING.md, "Micro-batching"). A request with a precomputed user
 * vector is answered at once; one that needs the model (an ad-hoc history)
 * waits at most `windowMs` for others, or until `maxBatch` have gathered.
 */
export class MicroBatcher {
  private pending: { model: ServedModel; req: RankRequest; resolve: (r: Scored[]) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Scoring calls made for queued requests. */
  batches = 0;

  constructor(readonly windowMs = 2, readonly maxBatch = 64) {}

  rank(model: ServedModel, req: RankRequest): Promise<Scored[]> {
    if (req.user !== null && model.users && model.items) {
      try {
        return Promise.resolve(rankBatch(model, [req])[0]);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((res, rej) => {
      this.pending.push({ model, req, resolve: res, reject: rej });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.windowMs);
    });
  }

  private flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const all = this.pending;
    this.pending = [];
    const groups = new Map<ServedModel, typeof all>();
    for (const p of all) {
      const g = groups.get(p.model);
      if (g) g.push(p); else groups.set(p.model, [p]);
    }
    for (const [model, g] of groups) {
      for (let s = 0; s < g.length; s += this.maxBatch) {
        const chunk = g.slice(s, s + this.maxBatch);
        try {
          const out = rankBatch(model, chunk.map((p) => p.req));
          this.batches++;
          chunk.forEach((p, i) => p.resolve(out[i]));
        } catch (e) {
          for (const p of chunk) p.reject(e);
        }
      }
    }
  }
}

/** One-at-a-time execution of LM work (generation holds a KV cache; interleaving would multiply memory). */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

export interface LlmrecServer {
  app: FastifyInstance;
  options: Required<Omit<ServeOptions, 'lm' | 'token' | 'log'>> & Pick<ServeOptions, 'lm' | 'token'>;
  /** Loads the run (and LM) again and swaps it in; in-flight requests finish on the old one. */
  reload(): Promise<void>;
  /** Stops accepting, lets in-flight requests finish, frees the models. */
  close(): Promise<void>;
  listen(): Promise<string>;
  metrics: Metrics;
  /** Scoring calls made by the micro-batcher, admitted compute requests, requests being handled. */
  stats(): { batches: number; queueDepth: number; inFlight: number };
}

async function loadState(o: ServeOptions, log: (l: string) => void, metrics: Metrics): Promise<State> {
  const run = await loadRun(o.run, log);
  let lm: LoadedLm | null = null;
  try {
    if (o.lm) {
      lm = loadLm(o.lm, run.data);
      log(`LM ${lm.id}: loaded in ${lm.loadSeconds.toFixed(2)} s${lm.rerankError ? ` (re-rank unavailable: ${lm.rerankError})` : ''}`);
    }
  } catch (e) {
    disposeRun(run);
    throw e;
  }
  metrics.clearLoads();
  metrics.setLoadSeconds('data', run.dataSeconds);
  for (const m of run.models) metrics.setLoadSeconds(`model:${m.label}`, m.loadSeconds + m.precomputeSeconds);
  if (lm) metrics.setLoadSeconds(`lm:${lm.id}`, lm.loadSeconds);
  return { run, lm, users: 0, retired: false };
}

function disposeState(s: State): void {
  disposeRun(s.run);
  if (s.lm) disposeLm(s.lm);
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
  const demo = demoDir();

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
  const COMPUTE = new Set(['/v1/recommend', '/v1/rerank', '/v1/completions', '/v1/chat/completions', '/v1/items/:id/similar']);
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
      void reply.status(err.status).send({ error: { message: err.message, type: err.status >= 500 ? 'server_error' : 'invalid_request_error', param: err.param, code: err.code } });
      return;
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    const param = err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'content-type' : err.code?.startsWith('FST_ERR_CTP') ? 'body' : null;
    if (status >= 500) log(`error: ${err.stack ?? err.message}`);
    void reply.status(status).send({ error: { message: status === 500 ? `internal error: ${err.message}` : err.message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param, code: err.code ?? null } });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { message: `no route ${req.method} ${req.url.slice(0, 200)}`, type: 'invalid_request_error', param: 'path', code: 'not_found' } });
  });

  await app.register(chatRoutes, { current: () => ({ run: state.run, lm: state.lm }) });
  // --- helpers over the loaded run -------------------------------------------------------------
  const itemRef = (s: State, ref: string | number, field: string): number => {
    const key = String(ref);
    const byId = s.run.itemIndex.get(key);
    if (byId !== undefined) return byId;
    const byTitle = s.run.titleIndex.get(key);
    if (byTitle && byTitle.length > 0) return byTitle[0];
    throw new ApiError(404, `${field}: unknown item ${JSON.stringify(key.slice(0, 100))} (neither an item id nor an exact title)`, field, 'unknown_item');
  };
  const itemJson = (s: State, i: number) => {
    const meta = s.run.data.itemMeta.get(i);
    // Keys starting with '_' are loader bookkeeping (original ids), not item attributes.
    const attributes = meta ? Object.fromEntries(Object.entries(meta.attributes).filter(([k]) => !k.startsWith('_'))) : {};
    return { id: s.run.data.itemIds[i], title: itemTitle(s.run.data, i), ...(Object.keys(attributes).length ? { attributes } : {}) };
  };
  const modelOf = (s: State, label: string | undefined): ServedModel => {
    if (label === undefined) return s.run.models[0];
    const m = s.run.models.find((x) => x.label === label);
    if (!m) throw new ApiError(404, `model: unknown model '${label.slice(0, 100)}' (served: ${s.run.models.map((x) => x.label).join(', ')})`, 'model', 'unknown_model');
    return m;
  };
  const lmOf = (s: State, name: string | undefined | null): LoadedLm => {
    if (!s.lm) throw new ApiError(404, 'model: no LM is loaded (start the server with --lm DIR)', 'model', 'no_lm');
    if (name && name !== s.lm.id) throw new ApiError(404, `model: unknown LM '${name.slice(0, 100)}' (loaded: ${s.lm.id})`, 'model', 'unknown_model');
    return s.lm;
  };
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

  // --- routes ---------------------------------------------------------------------------------
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (closing) return reply.status(503).send({ status: 'shutting down' });
    return { status: 'ready', run: state.run.dir, models: state.run.models.map((m) => m.label), lm: state.lm?.id ?? null, reloading: reloading !== null };
  });
  app.get('/metrics', async (_req, reply) => {
    void reply.type('text/plain; version=0.0.4; charset=utf-8');
    return metrics.render({ queueDepth, inFlight });
  });
  app.get('/openapi.json', async () => openapi);

  app.get('/v1/models', async (req) => {
    const s = lease(req);
    const d = s.run.data;
    return {
      run: s.run.dir, dataset: d.name, users: d.numUsers, items: d.numItems, loadedAt: s.run.loadedAt.toISOString(),
      models: s.run.models.map((m) => ({ label: m.label, name: m.name, history: m.history, similar: m.items !== null, precomputed: m.users !== null, maxHistory: m.L, loadSeconds: m.loadSeconds + m.precomputeSeconds })),
      lm: s.lm ? { id: s.lm.id, rerank: s.lm.yesno !== null, rerankError: s.lm.rerankError, templates: s.lm.templates.map((t) => t.id), maxPositions: s.lm.maxPositions } : null,
      // OpenAI's list shape, for OpenAI clients' models.list().
      object: 'list',
      data: s.lm ? [{ id: s.lm.id, object: 'model', created: Math.floor(s.run.loadedAt.getTime() / 1000), owned_by: 'llmrec' }] : [],
    };
  });

  app.get('/v1/items', async (req) => {
    const q = parseWith(ItemsQuery, req.query, 'query');
    const s = lease(req);
    const needle = q.q.trim().toLowerCase();
    const hits: { i: number; rank: number }[] = [];
    const titles = s.run.lowerTitles;
    for (let i = 1; i < titles.length; i++) {
      if (needle === '') { hits.push({ i, rank: 0 }); if (hits.length >= q.limit) break; continue; }
      const p = titles[i].indexOf(needle);
      if (p < 0) continue;
      hits.push({ i, rank: p === 0 ? 0 : titles[i][p - 1] === ' ' ? 1 : 2 });
    }
    hits.sort((a, b) => a.rank - b.rank || titles[a.i].length - titles[b.i].length || a.i - b.i);
    return { query: q.q, items: hits.slice(0, q.limit).map((h) => itemJson(s, h.i)), total: hits.length };
  });

  app.get('/v1/items/:id', async (req) => {
    const p = parseWith(ItemParams, req.params, 'path');
    const s = lease(req);
    const i = s.run.itemIndex.get(p.id);
    if (i === undefined) throw new ApiError(404, `id: unknown item ${JSON.stringify(p.id.slice(0, 100))}`, 'id', 'unknown_item');
    return itemJson(s, i);
  });

  app.get('/v1/items/:id/similar', async (req) => {
    const p = parseWith(ItemParams, req.params, 'path');
    const q = parseWith(SimilarQuery, req.query, 'query');
    const s = lease(req);
    const i = s.run.itemIndex.get(p.id);
    if (i === undefined) throw new ApiError(404, `id: unknown item ${JSON.stringify(p.id.slice(0, 100))}`, 'id', 'unknown_item');
    const m = q.model === undefined ? s.run.models.find((x) => x.items !== null) : modelOf(s, q.model);
    if (!m || !m.items) throw new ApiError(400, `model: ${m ? `'${m.label}' has no item vectors` : 'no served model has item vectors'}`, 'model', 'no_item_vectors');
    const { dim, data } = m.items;
    const n = data.length / dim - 1;
    const norm = (j: number) => { let a = 0; for (let d = 0; d < dim; d++) a += data[j * dim + d] ** 2; return Math.sqrt(a) || 1; };
    const ni = norm(i);
    const scores = new Float32Array(n + 1);
    for (let j = 1; j <= n; j++) {
      let a = 0;
      for (let d = 0; d < dim; d++) a += data[i * dim + d] * data[j * dim + d];
      scores[j] = a / (ni * norm(j));
    }
    const top = topKOfScores(scores, q.k, new Set([i]));
    return { model: m.label, item: itemJson(s, i), similar: top.map((t) => ({ ...itemJson(s, t.item), score: t.score })) };
  });

  app.get('/v1/users', async (req) => {
    const q = parseWith(UsersQuery, req.query, 'query');
    const s = lease(req);
    const d = s.run.data;
    const users = [];
    for (let u = q.offset; u < Math.min(d.numUsers, q.offset + q.limit); u++) {
      users.push({ id: d.userIds[u], history: Array.from(testHistory(d, u), (i) => itemJson(s, i)), nextItem: itemJson(s, d.test.target[u]) });
    }
    return { total: d.numUsers, offset: q.offset, users };
  });

  app.post('/v1/recommend', async (req, reply) => {
    const b = parseWith(RecommendBody, req.body, 'body');
    const s = lease(req);
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
    const excluded = new Set<number>(b.exclude.map((r, i) => itemRef(s, r, `exclude.${i}`)));
    if (b.excludeSeen) for (const h of history) excluded.add(h);
    const candidates = b.candidates?.map((r, i) => itemRef(s, r, `candidates.${i}`));
    const top = await withDeadline(req, reply, batcher.rank(m, { user, history, k: b.k, excluded, candidates }));
    return {
      model: m.label,
      ...(user !== null ? { user: s.run.data.userIds[user], nextItem: itemJson(s, s.run.data.test.target[user]) } : {}),
      history: Array.from(history, (i) => itemJson(s, i)),
      items: top.map((t, r) => ({ rank: r + 1, ...itemJson(s, t.item), score: t.score })),
    };
  });

  app.post('/v1/rerank', async (req, reply) => {
    const b = parseWith(RerankBody, req.body, 'body');
    const s = lease(req);
    const l = lmOf(s, b.model);
    const history = Int32Array.from(b.history, (r, i) => itemRef(s, r, `history.${i}`));
    const cands = b.candidates.map((r, i) => itemRef(s, r, `candidates.${i}`));
    if (new Set(cands).size !== cands.length) throw new ApiError(400, 'candidates: duplicate items', 'candidates', 'duplicate');
    const signal = deadline(req, reply);
    const res = await withDeadline(req, reply, lmQueue.run(async () => {
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

  const sampling = (b: z.output<typeof CompletionBody> | z.output<typeof ChatBody>, maxTokens: number | null | undefined, logprobs: boolean, top: number): SampleOptions => ({
    maxTokens: maxTokens ?? 16,
    temperature: b.temperature ?? 1,
    topP: b.top_p ?? 1,
    seed: b.seed ?? Math.floor(Math.random() * 2 ** 32),
    stop: b.stop == null ? [] : Array.isArray(b.stop) ? b.stop : [b.stop],
    logprobs, topLogprobs: top,
  });

  /** Runs one generation, streamed as SSE or answered as JSON. */
  const complete = async (req: FastifyRequest, reply: FastifyReply, kind: 'text' | 'chat') => {
    const b = kind === 'text' ? parseWith(CompletionBody, req.body, 'body') : parseWith(ChatBody, req.body, 'body');
    const s = lease(req);
    const l = lmOf(s, b.model);
    let promptText: string;
    let so: SampleOptions;
    if (kind === 'text') {
      const c = b as z.output<typeof CompletionBody>;
      promptText = Array.isArray(c.prompt) ? c.prompt[0] : c.prompt;
      so = sampling(c, c.max_tokens, c.logprobs != null, c.logprobs ?? 0);
    } else {
      const c = b as z.output<typeof ChatBody>;
      promptText = chatPrompt(c.messages.map((m) => ({ role: m.role === 'developer' ? 'system' : m.role, content: typeof m.content === 'string' ? m.content : m.content.map((x) => x.text).join('') })));
      so = sampling(c, c.max_completion_tokens ?? c.max_tokens, c.logprobs === true, c.top_logprobs ?? 0);
    }
    const ids = l.tok.encode(promptText, { addSpecialTokens: false });
    if (ids.length === 0) throw new ApiError(400, kind === 'text' ? 'prompt: empty' : 'messages: empty', kind === 'text' ? 'prompt' : 'messages', 'empty');
    if (ids.length + so.maxTokens > l.maxPositions) {
      throw new ApiError(400, `max_tokens: the prompt (${ids.length} tokens) + max_tokens (${so.maxTokens}) exceeds the model's ${l.maxPositions} positions`, 'max_tokens', 'context_length_exceeded');
    }
    const id = `${kind === 'text' ? 'cmpl' : 'chatcmpl'}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    const object = kind === 'text' ? 'text_completion' : 'chat.completion';
    const usage = (r: GenerationResult) => ({ prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens });
    const chatLogprobs = (toks: GenerationResult['tokens']) => ({
      content: toks.map((t) => ({ token: t.text, logprob: t.logprob, bytes: [...Buffer.from(t.text)], top_logprobs: t.top.map((a) => ({ token: a.text, logprob: a.logprob, bytes: [...Buffer.from(a.text)] })) })),
    });
    const textLogprobs = (toks: GenerationResult['tokens'], offset0: number) => {
      let off = offset0;
      const text_offset = toks.map((t) => { const o0 = off; off += t.text.length; return o0; });
      return { tokens: toks.map((t) => t.text), token_logprobs: toks.map((t) => t.logprob), top_logprobs: toks.map((t) => Object.fromEntries(t.top.map((a) => [a.text, a.logprob]))), text_offset };
    };
    const stream = b.stream === true;
    if (!stream) {
      const signal = deadline(req, reply);
      const r = await withDeadline(req, reply, lmQueue.run(() => generateText(l, ids, so, undefined, signal)));
      if (kind === 'text') {
        return { id, object, created, model: l.id, choices: [{ index: 0, text: r.text, finish_reason: r.finishReason, logprobs: so.logprobs ? textLogprobs(r.tokens, 0) : null }], usage: usage(r) };
      }
      return { id, object, created, model: l.id, choices: [{ index: 0, message: { role: 'assistant', content: r.text, refusal: null }, finish_reason: r.finishReason, logprobs: so.logprobs ? chatLogprobs(r.tokens) : null }], usage: usage(r) };
    }
    // Server-sent events: one chunk per new text, then the finish chunk and [DONE].
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const abort = new AbortController();
    raw.on('close', () => {
      abort.abort(new Error('client closed the stream'));
      // A client gone mid-stream never finishes the response: free its queue slot and state here (release is idempotent).
      release(req);
    });
    const timer = setTimeout(() => abort.abort(new Error('timeout')), o.requestTimeoutMs);
    const send = (obj: unknown) => { if (!raw.writableEnded && !raw.destroyed) raw.write(`data: ${JSON.stringify(obj)}\n\n`); };
    const chunkObject = kind === 'text' ? 'text_completion' : 'chat.completion.chunk';
    let offset = 0;
    try {
      if (kind === 'chat') send({ id, object: chunkObject, created, model: l.id, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }] });
      const r = await lmQueue.run(() => generateText(l, ids, so, async (ev) => {
        if (ev.delta !== '' || (so.logprobs && ev.tokens.length > 0)) {
          if (kind === 'text') send({ id, object: chunkObject, created, model: l.id, choices: [{ index: 0, text: ev.delta, finish_reason: null, logprobs: so.logprobs ? textLogprobs(ev.tokens, offset) : null }] });
          else send({ id, object: chunkObject, created, model: l.id, choices: [{ index: 0, delta: { content: ev.delta }, finish_reason: null, logprobs: so.logprobs ? chatLogprobs(ev.tokens) : null }] });
          offset += ev.delta.length;
        }
        await new Promise<void>((res) => setImmediate(res));
      }, abort.signal));
      if (kind === 'text') send({ id, object: chunkObject, created, model: l.id, choices: [{ index: 0, text: '', finish_reason: r.finishReason, logprobs: null }], usage: usage(r) });
      else send({ id, object: chunkObject, created, model: l.id, choices: [{ index: 0, delta: {}, finish_reason: r.finishReason, logprobs: null }], usage: usage(r) });
      if (!raw.writableEnded && !raw.destroyed) raw.write('data: [DONE]\n\n');
    } catch (e) {
      send({ error: { message: (e as Error).message, type: 'server_error', param: null, code: abort.signal.aborted ? 'aborted' : null } });
    } finally {
      clearTimeout(timer);
      if (!raw.writableEnded) raw.end();
    }
    return reply;
  };
  app.post('/v1/completions', (req, reply) => complete(req, reply, 'text'));
  app.post('/v1/chat/completions', (req, reply) => complete(req, reply, 'chat'));

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
  app.post('/admin/reload', async () => {
    try {
      await reload();
    } catch (e) {
      throw new ApiError(500, `reload failed (the previous load is still served): ${(e as Error).message}`, null, 'reload_failed');
    }
    return { status: 'reloaded', loadedAt: state.run.loadedAt.toISOString(), models: state.run.models.map((m) => m.label), lm: state.lm?.id ?? null };
  });

  // The web demo: static files, no CDN.
  const sendDemo = (file: string, reply: FastifyReply) => {
    if (!demo) return reply.status(404).send({ error: { message: 'demo files not found (src/serve/demo)', type: 'invalid_request_error', param: null, code: 'not_found' } });
    return reply.type(MIME[extname(file)] ?? 'application/octet-stream').header('cache-control', 'no-cache').send(readFileSync(join(demo, file)));
  };
  app.get('/', (_req, reply) => sendDemo('index.html', reply));
  for (const f of ['app.js', 'style.css']) app.get(`/demo/${f}`, (_req, reply) => sendDemo(f, reply));

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
    stats: () => ({ batches: batcher.batches, queueDepth, inFlight }),
    listen: async () => app.listen({ host: o.host, port: o.port }),
  };
}
