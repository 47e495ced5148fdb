/**
 * `llmrec serve` (the recommendation server, docs/SERVING.md); the LLM
 * commands are in llm_commands.ts.
 * Thin: flags -> the options of the layer below -> run.
 */
import type { Command } from 'commander';
import { serveProcess, UsageError } from '../serve/main.js';

export function addServeCommands(program: Command): void {
  program
    .command('serve')
    .description('serve a run directory: recommendation API, OpenAI-compatible LM endpoints (--lm), Prometheus metrics, OpenAPI and the web demo at / (docs/SERVING.md)')
    .usage('--run RUN_DIR [--lm DIR] [--port 8080] [--host 127.0.0.1] [--token T] [--body-limit BYTES] [--timeout MS] [--max-queue N] [--precompute-k K] [--set LABEL.KEY=VALUE ...]')
    // One option parser (src/serve/main.ts, shared with `node dist/serve/main.js`): the flags pass through.
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[options...]')
    .action(async (args: string[]) => {
      try {
        await serveProcess(args);
      } catch (e) {
        if (e instanceof UsageError) {
          console.error(e.message);
          process.exit(2);
        }
        throw e;
      }
    });
}
