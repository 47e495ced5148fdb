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
import { withStartSettings } from '../serve/node_flags.js';

try {
  await withStartSettings(process.argv[2] === 'serve');
} catch (e) {
  // A malformed LLMREC_SERVE_NODE_FLAGS, named.
  console.error(`llmrec: ${(e as Error).message}`);
  process.exit(2);
}
await import('./program.js');
