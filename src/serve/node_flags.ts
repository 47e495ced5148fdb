/**
 * The Node flags `llmrec serve` runs under (docs/SERVING.md, "The serving
 * Node flags"). Under sustained load, V8's default young generation (16 MiB
 * semi-spaces) promotes the objects of requests still in flight at each
 * scavenge, and the old generation then grows by about 2 MiB/s until the next
 * full collection: a sawtooth of tens of MiB that reads as a leak. With 64 MiB
 * semi-spaces they die young and RSS stays flat. V8 sizes the young generation
 * when the process starts (setting the flag from inside had no effect), so the
 * serve command is relaunched with the flags (src/util/relaunch.ts), unless
 * they are already given (command line or NODE_OPTIONS) or
 * LLMREC_SERVE_NODE_FLAGS says otherwise ('' for none).
 */
import { mallocEnv } from '../engine/native.js';
import { isRelaunched, relaunch, watchStarter } from '../util/relaunch.js';

export const SERVE_NODE_FLAGS_DEFAULT = ['--max-semi-space-size=64'];

/** `--flag=value` / `--flag value` / `--flag` -> `--flag`, with `_` read as `-` (Node accepts both). */
function flagName(f: string): string {
  return f.split('=')[0].replace(/_/g, '-');
}

/**
 * The flags to add: the wanted ones (LLMREC_SERVE_NODE_FLAGS, space-separated,
 * else the default) whose names are neither in `execArgv` nor in NODE_OPTIONS.
 * Empty in a relaunched process.
 */
export function missingServeFlags(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  if (isRelaunched(env)) return [];
  const wanted = env.LLMREC_SERVE_NODE_FLAGS !== undefined
    ? env.LLMREC_SERVE_NODE_FLAGS.split(/\s+/).filter((f) => f !== '')
    : SERVE_NODE_FLAGS_DEFAULT;
  for (const f of wanted) {
    if (!/^--[a-z0-9][a-z0-9_-]*(=\S+)?$/i.test(f)) throw new Error(`LLMREC_SERVE_NODE_FLAGS: '${f}' is not a Node flag of the form --name or --name=value`);
  }
  const given = new Set([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].filter((f) => f.startsWith('--')).map(flagName));
  return wanted.filter((f) => !given.has(flagName(f)));
}

/**
 * The one decision both entries make (src/cli/main.ts, serveProcess in
 * main.ts): relaunch with the serving Node flags (`serve` true) and glibc's
 * allocator settings when the addon will not set them (docs/PERF.md "Fresh
 * memory"), unless this process was relaunched already; in the process that
 * goes on, watch the starter.
 */
export async function withStartSettings(serve: boolean): Promise<void> {
  if (!isRelaunched()) {
    const flags = serve ? missingServeFlags(process.execArgv, process.env) : [];
    const env = mallocEnv(process.env);
    if (flags.length > 0 || Object.keys(env).length > 0) await relaunch(flags, env);
  }
  watchStarter();
}
