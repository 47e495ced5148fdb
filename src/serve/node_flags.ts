/**
 * The Node flags `llmrec serve` runs under (docs/SERVING.md, "Memory under
 * load"). Under sustained load, V8's default young generation (16 MiB
 * semi-spaces) promotes the objects of requests still in flight at each
 * scavenge, and the old generation then grows by about 2 MiB/s until the next
 * full collection: a sawtooth of tens of MiB that reads as a leak. With 64 MiB
 * semi-spaces they die young and RSS stays flat. V8 sizes the young generation
 * when the process starts (setting the flag from inside had no effect), so the
 * serve command starts itself once more with the flags, unless they are
 * already given (command line or NODE_OPTIONS) or LLMREC_SERVE_NODE_FLAGS says
 * otherwise ('' for none).
 */
import { spawn } from 'node:child_process';

export const SERVE_NODE_FLAGS_DEFAULT = ['--max-semi-space-size=64'];
/** Set in the started process, so that it never starts another. */
const CHILD_MARK = 'LLMREC_SERVE_CHILD';

/** `--flag=value` / `--flag value` / `--flag` -> `--flag`, with `_` read as `-` (Node accepts both). */
function flagName(f: string): string {
  return f.split('=')[0].replace(/_/g, '-');
}

/**
 * The flags to add: the wanted ones (LLMREC_SERVE_NODE_FLAGS, space-separated,
 * else the default) whose names are neither in `execArgv` nor in NODE_OPTIONS.
 * Empty in a process this module started.
 */
export function missingServeFlags(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  if (isServeChild(env)) return [];
  const wanted = env.LLMREC_SERVE_NODE_FLAGS !== undefined
    ? env.LLMREC_SERVE_NODE_FLAGS.split(/\s+/).filter((f) => f !== '')
    : SERVE_NODE_FLAGS_DEFAULT;
  for (const f of wanted) {
    if (!/^--[a-z0-9][a-z0-9_-]*(=\S+)?$/i.test(f)) throw new Error(`LLMREC_SERVE_NODE_FLAGS: '${f}' is not a Node flag of the form --name or --name=value`);
  }
  const given = new Set([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].filter((f) => f.startsWith('--')).map(flagName));
  return wanted.filter((f) => !given.has(flagName(f)));
}

/** True in a process rerunWithFlags started. */
export function isServeChild(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[CHILD_MARK] === '1';
}

/**
 * Runs this same command again in a child process with `flags` added to
 * Node's, the terminal's output shared; SIGTERM, SIGINT and SIGHUP are passed
 * on, and the returned promise resolves to the child's exit status (128 +
 * signal number when a signal ended it). The child runs in its own process
 * group, so a Ctrl-C reaches it once (through this process), not twice (a
 * second SIGINT would cut its graceful shutdown short); it shuts down by
 * itself when this process dies (the IPC channel closes: `isServeChild`).
 */
export function rerunWithFlags(flags: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...flags, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
    env: { ...process.env, [CHILD_MARK]: '1' },
  });
  const forward = (sig: NodeJS.Signals) => () => { if (child.exitCode === null) child.kill(sig); };
  const handlers = (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((sig) => [sig, forward(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => { for (const [sig, h] of handlers) process.off(sig, h); reject(e); });
    child.once('exit', (code, signal) => {
      for (const [sig, h] of handlers) process.off(sig, h);
      const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
      resolve(code ?? 128 + (signal ? signals[signal] ?? 0 : 0));
    });
  });
}
