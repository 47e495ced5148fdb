#!/usr/bin/env node
/**
 * The `llmrec` executable (package.json "bin"; `node dist/cli/main.js`). The
 * commands themselves are in program.ts, loaded after one decision: whether
 * this process must start once more with settings a process only takes when
 * it starts (src/util/relaunch.ts), before the command modules load, so that
 * the process that only waits stays small:
 *   - `serve`: its Node flags (src/serve/node_flags.ts, docs/SERVING.md);
 *   - every command on the pure-wasm path: glibc's allocator settings, which
 *     the OpenBLAS addon otherwise sets from inside (src/engine/native.ts
 *     mallocEnv, docs/PERF.md "Fresh memory").
 */
import { mallocEnv } from '../engine/native.js';
import { missingServeFlags } from '../serve/node_flags.js';
import { isRelaunched, relaunch, watchStarter } from '../util/relaunch.js';

if (!isRelaunched()) {
  let flags: string[] = [];
  try {
    flags = process.argv[2] === 'serve' ? missingServeFlags(process.execArgv, process.env) : [];
  } catch (e) {
    console.error(`llmrec: ${(e as Error).message}`);
    process.exit(2);
  }
  const env = mallocEnv(process.env);
  if (flags.length > 0 || Object.keys(env).length > 0) await relaunch(flags, env);
}
watchStarter();
await import('./program.js');
