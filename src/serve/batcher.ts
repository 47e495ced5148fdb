/**
 * Request coalescing for scoring (docs/SERVING.md, "Micro-batching") and the
 * one-at-a-time queue of LM work.
 */
import { rankBatch, type RankRequest, type ServedModel } from './run.js';
import type { Scored } from './topk.js';

interface Pending { model: ServedModel; req: RankRequest; resolve: (r: Scored[]) => void; reject: (e: unknown) => void }

/**
 * Coalesces concurrent rank requests of one model into one scoring call.
 * Known users (precomputed vectors) gather until the event loop's current
 * I/O phase ends (`setImmediate`: no added wait; everything parsed in the
 * same turn is scored as one user x item GEMM). Ad-hoc histories need a
 * forward pass, worth waiting for: at most `windowMs` for others, or until
 * `maxBatch` have gathered, then one forward pass for all of them.
 */
export class MicroBatcher {
  private known: Pending[] = [];
  private adhoc: Pending[] = [];
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Scoring calls made for queued requests. */
  batches = 0;
  /** Requests answered through those calls (batches / requests = mean batch size). */
  requests = 0;

  constructor(readonly windowMs = 2, readonly maxBatch = 64) {}

  rank(model: ServedModel, req: RankRequest): Promise<Scored[]> {
    return new Promise((resolve, reject) => {
      const p = { model, req, resolve, reject };
      if (req.user !== null && model.users && model.items) {
        this.known.push(p);
        if (this.known.length >= this.maxBatch) this.flushKnown();
        else this.immediate ??= setImmediate(() => this.flushKnown());
      } else {
        this.adhoc.push(p);
        if (this.adhoc.length >= this.maxBatch) this.flushAdhoc();
        else this.timer ??= setTimeout(() => this.flushAdhoc(), this.windowMs);
      }
    });
  }

  private flushKnown(): void {
    if (this.immediate) { clearImmediate(this.immediate); this.immediate = null; }
    const all = this.known;
    this.known = [];
    this.score(all);
  }

  private flushAdhoc(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const all = this.adhoc;
    this.adhoc = [];
    this.score(all);
  }

  private score(all: Pending[]): void {
    const groups = new Map<ServedModel, Pending[]>();
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
          this.requests += chunk.length;
          chunk.forEach((p, i) => p.resolve(out[i]));
        } catch (e) {
          for (const p of chunk) p.reject(e);
        }
      }
    }
  }
}

/** One-at-a-time execution of LM work (generation holds a KV cache; interleaving would multiply memory). */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}
