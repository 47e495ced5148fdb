#!/usr/bin/env node
/**
 * The `llmrec` executable (package.json "bin"). `llmrec serve` runs under its
 * serving Node flags (src/serve/node_flags.ts, docs/SERVING.md "Memory under
 * load"): when they are missing, the command is started once more with them
 * here, before the command modules load, so that the process that only waits
 * for it stays small. Everything else is the CLI of main.ts.
 */
import { missingServeFlags, rerunWithFlags } from '../serve/node_flags.js';

if (process.argv[2] === 'serve') {
  const flags = missingServeFlags(process.execArgv, process.env);
  if (flags.length > 0) process.exit(await rerunWithFlags(flags));
}
await import('./main.js');
