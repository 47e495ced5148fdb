/**
 * Prometheus text exposition (format 0.0.4) for `GET /metrics`
 * (docs/SERVING.md, "Metrics"): request counters and latency histograms per
 * (method, route template, status), model load times, queue depth, process
 * memory. Route labels are route templates (`/v1/items/:id`), never raw URLs,
 * so hostile paths cannot blow up the label set.
 */

/** Latency buckets in seconds (le). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Series {
  labels: string;
  count: number;
  sum: number;
  buckets: number[];
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelString(l: Record<string, string>): string {
  return Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
}

export class Metrics {
  private readonly requests = new Map<string, Series>();
  private readonly loads = new Map<string, number>();
  private reloads = { ok: 0, failed: 0 };
  rejected = 0;

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    // Keyed by the raw triple; the escaped label string is built once per series, not per request.
    const key = `${method}\u0000${route}\u0000${status}`;
    let s = this.requests.get(key);
    if (!s) {
      s = { labels: labelString({ method, route, status: String(status) }), count: 0, sum: 0, buckets: new Array<number>(LATENCY_BUCKETS.length).fill(0) };
      this.requests.set(key, s);
    }
    s.count++;
    s.sum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]) s.buckets[i]++;
  }

  setLoadSeconds(component: string, seconds: number): void {
    this.loads.set(component, seconds);
  }

  clearLoads(): void {
    this.loads.clear();
  }

  reload(ok: boolean): void {
    if (ok) this.reloads.ok++; else this.reloads.failed++;
  }

  render(gauges: { queueDepth: number; inFlight: number }): string {
    const out: string[] = [];
    out.push('# HELP llmrec_http_requests_total HTTP requests by method, route template and status.', '# TYPE llmrec_http_requests_total counter');
    for (const s of this.requests.values()) out.push(`llmrec_http_requests_total{${s.labels}} ${s.count}`);
    out.push('# HELP llmrec_http_request_duration_seconds Request latency (receive to response end).', '# TYPE llmrec_http_request_duration_seconds histogram');
    for (const s of this.requests.values()) {
      LATENCY_BUCKETS.forEach((le, i) => out.push(`llmrec_http_request_duration_seconds_bucket{${s.labels},le="${le}"} ${s.buckets[i]}`));
      out.push(`llmrec_http_request_duration_seconds_bucket{${s.labels},le="+Inf"} ${s.count}`);
      out.push(`llmrec_http_request_duration_seconds_sum{${s.labels}} ${s.sum}`);
      out.push(`llmrec_http_request_duration_seconds_count{${s.labels}} ${s.count}`);
    }
    out.push('# HELP llmrec_model_load_seconds Time to load (and precompute) each served component at the last (re)load.', '# TYPE llmrec_model_load_seconds gauge');
    for (const [c, v] of this.loads) out.push(`llmrec_model_load_seconds{${labelString({ component: c })}} ${v}`);
    out.push('# HELP llmrec_reloads_total Run-directory reloads by outcome.', '# TYPE llmrec_reloads_total counter');
    out.push(`llmrec_reloads_total{outcome="ok"} ${this.reloads.ok}`, `llmrec_reloads_total{outcome="failed"} ${this.reloads.failed}`);
    out.push('# HELP llmrec_rejected_total Requests answered 503 because the queue was full.', '# TYPE llmrec_rejected_total counter', `llmrec_rejected_total ${this.rejected}`);
    out.push('# HELP llmrec_queue_depth Compute requests admitted and not yet answered.', '# TYPE llmrec_queue_depth gauge', `llmrec_queue_depth ${gauges.queueDepth}`);
    out.push('# HELP llmrec_in_flight_requests Requests being handled.', '# TYPE llmrec_in_flight_requests gauge', `llmrec_in_flight_requests ${gauges.inFlight}`);
    const mem = process.memoryUsage();
    out.push('# HELP process_resident_memory_bytes Resident set size.', '# TYPE process_resident_memory_bytes gauge', `process_resident_memory_bytes ${mem.rss}`);
    out.push('# HELP nodejs_heap_used_bytes V8 heap in use.', '# TYPE nodejs_heap_used_bytes gauge', `nodejs_heap_used_bytes ${mem.heapUsed}`);
    return out.join('\n') + '\n';
  }
}
