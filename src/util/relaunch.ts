/**
 * Running the current command once more in a child process with settings a
 * process can only take when it starts: Node flags (V8 sizes its heap at
 * start) and environment variables read at start (glibc's allocator). Used by
 * the CLI entry (src/cli/main.ts) and `llmrec serve` (src/serve/node_flags.ts);
 * docs/SERVING.md "The serving Node flags" and docs/PERF.md "Fresh memory".
 *
 * The first process only waits: it passes SIGTERM, SIGINT and SIGHUP on and
 * ends as the child ended (the same exit status, or killed by the same
 * signal). The child runs in its own process group, so a Ctrl-C in the
 * terminal reaches it once, through the first process (a second SIGINT would
 * cut a graceful shutdown short). The child watches the IPC channel to the
 * first process (`watchStarter`): when that process dies, even by SIGKILL, the
 * child gets a SIGTERM and stops as it would on one.
 */
import { spawn } from 'node:child_process';

/** Set in a relaunched process, so that it never relaunches again. */
const MARK = 'LLMREC_RELAUNCHED';

export function isRelaunched(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[MARK] === '1';
}

/**
 * Runs `node [execArgv] [flags] script args` with `env` added, and resolves
 * once it ended; by then this process is ending the same way (it exits with
 * the child's status, or re-raises the child's fatal signal on itself).
 */
export function relaunch(flags: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<never> {
  const child = spawn(process.execPath, [...process.execArgv, ...flags, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
    env: { ...process.env, ...env, [MARK]: '1' },
  });
  const forward = (sig: NodeJS.Signals) => () => { if (child.exitCode === null && child.signalCode === null) child.kill(sig); };
  const handlers = (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((sig) => [sig, forward(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  return new Promise<never>((_, reject) => {
    child.once('error', (e) => {
      for (const [sig, h] of handlers) process.off(sig, h);
      reject(new Error(`could not start ${process.execPath}: ${e.message}`));
    });
    child.once('exit', (code, signal) => {
      for (const [sig, h] of handlers) process.off(sig, h);
      if (signal) {
        // Die of the same signal (default action restored above), so that whoever started us sees it.
        process.kill(process.pid, signal);
        setTimeout(() => process.exit(128 + 15), 1000).unref();
        return;
      }
      process.exit(code ?? 1);
    });
  });
}

/**
 * In a relaunched process: a SIGTERM to itself when the first process dies
 * (the IPC channel closes), so that no child outlives its starter. The channel
 * keeps nothing alive.
 */
let watching = false;
export function watchStarter(): void {
  if (watching || !isRelaunched() || !process.channel) return;
  watching = true;
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.channel.unref();
}
