/**
 * The bin-independent entry of `llmrec serve` (docs/SERVING.md):
 *
 *   node dist/serve/main.js --run RUN_DIR [--run METHOD_RUN_DIR ...] [--lm DIR] [--port 8080] [--host 127.0.0.1] [--token T]
 *
 * `serveCommand(argv)` parses these options; `startServer(opts)` loads, listens
 * and installs the signal handlers (SIGTERM/SIGINT: graceful shutdown, in-flight
 * requests finish; SIGHUP: reload the run directory without failing requests).
 * `serveProcess(argv)`, what the CLI runs, first starts the process once more
 * with the serving Node flags when they are missing (node_flags.ts).
 */
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { withStartSettings } from './node_flags.js';
import { isMethodRun } from './recipes.js';
import { parseModelSettings } from '../models/registry.js';
import { createServer, type LlmrecServer, SERVE_DEFAULTS, type ServeOptions } from './server.js';

export { createServer, type LlmrecServer, type ServeOptions } from './server.js';

const USAGE = `usage: llmrec serve --run RUN_DIR [--run METHOD_RUN_DIR ...] [--lm DIR] [--port ${SERVE_DEFAULTS.port}] [--host ${SERVE_DEFAULTS.host}] [--token TOKEN]
  [--body-limit BYTES] [--timeout MS] [--max-queue N] [--precompute-k K] [--set LABEL.KEY=VALUE ...]
--run may repeat: one benchmark run directory (llmrec benchmark: the data and the collaborative models)
and any number of method run directories (llmrec run tallrec|collm|ganprompt: their LLM recipes, for /v1/rerank).
--set LABEL.KEY=VALUE sets an inference setting of one model (e.g. tiger.beams=80: TIGER's beam width); repeatable.
The token may also come from LLMREC_SERVE_TOKEN.`;

export class UsageError extends Error {}

/** Parses argv-like options (without node and the script). */
export function parseServeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServeOptions {
  const o: ServeOptions = { run: '' };
  const runs: string[] = [];
  const sets: string[] = [];
  const int = (flag: string, v: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag}: expected an integer in [${min}, ${max}], got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new UsageError(`${flag}: missing value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--run': runs.push(value()); break;
      case '--lm': o.lm = value(); break;
      case '--host': o.host = value(); break;
      case '--port': o.port = int('--port', value(), 0, 65535); break;
      case '--token': o.token = value(); break;
      case '--body-limit': o.bodyLimit = int('--body-limit', value(), 1024, 64 * 2 ** 20); break;
      case '--timeout': o.requestTimeoutMs = int('--timeout', value(), 100, 3_600_000); break;
      case '--max-queue': o.maxQueue = int('--max-queue', value(), 1, 100_000); break;
      case '--precompute-k': o.precomputeK = int('--precompute-k', value(), 0, 1024); break;
      case '--set': sets.push(value()); break;
      case '-h': case '--help': throw new UsageError(USAGE);
      default: throw new UsageError(`unknown option '${a}'\n${USAGE}`);
    }
  }
  if (runs.length === 0) throw new UsageError(`--run RUN_DIR is required\n${USAGE}`);
  if (sets.length) {
    try {
      o.set = parseModelSettings(sets, '--set');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  // A method run has options.json + data.json; anything else is taken for the benchmark run (loadRun names what is missing).
  const bench = runs.filter((r) => !isMethodRun(r));
  if (bench.length !== 1) {
    throw new UsageError(`--run: give exactly one benchmark run directory (got ${bench.length ? `${bench.length}: ${bench.join(', ')}` : 'none, only method runs'}) beside any method run directories\n${USAGE}`);
  }
  o.run = bench[0];
  const methods = runs.filter((r) => isMethodRun(r));
  if (methods.length) o.methodRuns = methods;
  if (o.token === undefined && env.LLMREC_SERVE_TOKEN) o.token = env.LLMREC_SERVE_TOKEN;
  return o;
}

/** Creates the server, listens, and wires SIGTERM / SIGINT (graceful stop) and SIGHUP (reload). */
/**
 * One full collection once the run is loaded: loading the data and computing
 * the known users' vectors and top-K leave about 90 MiB of garbage in the
 * old generation (Beauty), which otherwise stays until the first full
 * collection under load (measured: 440 -> 352 MiB RSS). Uses V8's gc
 * function, exposed for this call only; without it nothing happens.
 */
function collectLoadGarbage(): void {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc === 'function') (gc as () => void)();
  } catch {
    // not exposed: the first full collection frees it
  }
}

export async function startServer(opts: ServeOptions): Promise<LlmrecServer> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const server = await createServer({ ...opts, log });
  collectLoadGarbage();
  const address = await server.listen();
  const heapFlags = process.execArgv.filter((f) => /^--max-(semi|old)-space-size/.test(f));
  if (heapFlags.length > 0) log(`llmrec serve: node ${heapFlags.join(' ')}`);
  log(`llmrec serve: listening on ${address} (demo at ${address}/, API description at ${address}/openapi.json)`);
  if (!['127.0.0.1', '::1', 'localhost'].includes(server.options.host) && !server.options.token) {
    log(`warning: listening on ${server.options.host} without --token: anyone who can reach this port can use the server`);
  }
  const stop = (sig: string) => {
    log(`${sig}: finishing in-flight requests, then exiting`);
    server.close().then(() => process.exit(0), (e: unknown) => { log(`shutdown failed: ${(e as Error).message}`); process.exit(1); });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    log('SIGHUP: reloading');
    server.reload().catch(() => undefined);
  });
  return server;
}

/** `llmrec serve` from argv-like options; for the CLI to register. */
export async function serveCommand(argv: readonly string[]): Promise<LlmrecServer> {
  return startServer(parseServeArgs(argv));
}

/**
 * The serve process (CLI and `node dist/serve/main.js`): options checked, then
 * either this process serves, or, when the serving Node flags are missing, it
 * runs itself again with them and exits with that process's status.
 */
export async function serveProcess(argv: readonly string[]): Promise<void> {
  const opts = parseServeArgs(argv);
  await withStartSettings(true);
  await startServer(opts);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  serveProcess(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof UsageError ? e.message : `llmrec serve: ${(e as Error).message}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
