/**
 * What every route plugin of the server gets (docs/SERVING.md, "Code layout"):
 * the lifecycle's services (state leasing, deadlines, the micro-batcher, the
 * LM queue, metrics, reload) and helpers over a loaded state (item lookup by
 * id or title, item JSON, model and LM selection). A route group is a Fastify
 * plugin `(app, ctx) => Promise<void>` listed in server.ts's ROUTES.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../http.js';
import type { MicroBatcher, Serial } from '../batcher.js';
import type { LoadedLm } from '../lm.js';
import type { Metrics } from '../metrics.js';
import type { ItemJson, ServedModel } from '../run.js';
import type { State } from '../state.js';

export type RouteContext = {
  options: { requestTimeoutMs: number; run: string; lm?: string };
  metrics: Metrics;
  batcher: MicroBatcher;
  lmQueue: Serial;
  /** The OpenAPI document (built once). */
  openapi: Record<string, unknown>;
  /** The demo's static files folder, or null when not found. */
  demoDir: string | null;
  /** The state being served now (not held: for answers that need no model). */
  current(): State;
  /** The current state, held until the response ends (a reload disposes it only afterwards). */
  lease(req: FastifyRequest): State;
  /** Frees the request's queue slot and state (idempotent). */
  release(req: FastifyRequest): void;
  /** The request's deadline: fires after requestTimeoutMs or when the client goes away. */
  deadline(req: FastifyRequest, reply: FastifyReply): AbortSignal;
  /** `p`, or the deadline's error when it fires first. */
  withDeadline<T>(req: FastifyRequest, reply: FastifyReply, p: Promise<T>): Promise<T>;
  reload(): Promise<void>;
  closing(): boolean;
  reloading(): boolean;
  gauges(): { queueDepth: number; inFlight: number };
};

export type RoutePlugin = (app: FastifyInstance, ctx: RouteContext) => Promise<void>;

/** An item index from an external id or an exact title; 404 naming `field` otherwise. */
export function itemRef(s: State, ref: string | number, field: string): number {
  const key = String(ref);
  const byId = s.run.itemIndex.get(key);
  if (byId !== undefined) return byId;
  const byTitle = s.run.titleIndex.get(key);
  if (byTitle && byTitle.length > 0) return byTitle[0];
  throw new ApiError(404, `${field}: unknown item ${JSON.stringify(key.slice(0, 100))} (neither an item id nor an exact title)`, field, 'unknown_item');
}

/** An item's JSON (id, title, attributes), built once at load. */
export function itemJson(s: State, i: number): ItemJson {
  return s.run.itemJson[i];
}

export function modelOf(s: State, label: string | undefined): ServedModel {
  if (label === undefined) return s.run.models[0];
  const m = s.run.models.find((x) => x.label === label);
  if (!m) throw new ApiError(404, `model: unknown model '${label.slice(0, 100)}' (served: ${s.run.models.map((x) => x.label).join(', ')})`, 'model', 'unknown_model');
  return m;
}

export function lmOf(s: State, name: string | undefined | null): LoadedLm {
  if (!s.lm) throw new ApiError(404, 'model: no LM is loaded (start the server with --lm DIR)', 'model', 'no_lm');
  if (name && name !== s.lm.id) throw new ApiError(404, `model: unknown LM '${name.slice(0, 100)}' (loaded: ${s.lm.id})`, 'model', 'unknown_model');
  return s.lm;
}

/** JSON schema of an item answer (fast-json-stringify for the hot routes). */
export const ITEM_SCHEMA = {
  type: 'object',
  properties: { id: { type: 'string' }, title: { type: 'string' }, attributes: { type: 'object', additionalProperties: true } },
  required: ['id', 'title'],
} as const;
