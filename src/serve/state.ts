/**
 * What the server serves at one moment (docs/SERVING.md, "reload"): a loaded
 * run and an optional LM, with the count of requests holding it. A reload
 * builds a new State while the old one keeps serving; a replaced State is
 * disposed when its last request ends.
 */
import { disposeLm, type LoadedLm, loadLm } from './lm.js';
import type { Metrics } from './metrics.js';
import { disposeRun, type LoadedRun, loadRun } from './run.js';

export interface State {
  run: LoadedRun;
  lm: LoadedLm | null;
  /** Requests using this state; a replaced state is disposed when it reaches 0. */
  users: number;
  retired: boolean;
}

export async function loadState(o: { run: string; lm?: string }, log: (l: string) => void, metrics: Metrics): Promise<State> {
  const run = await loadRun(o.run, log);
  let lm: LoadedLm | null = null;
  try {
    if (o.lm) {
      lm = loadLm(o.lm, run.data);
      log(`LM ${lm.id}: loaded in ${lm.loadSeconds.toFixed(2)} s${lm.rerankError ? ` (re-rank unavailable: ${lm.rerankError})` : ''}`);
    }
  } catch (e) {
    disposeRun(run);
    throw e;
  }
  metrics.clearLoads();
  metrics.setLoadSeconds('data', run.dataSeconds);
  for (const m of run.models) metrics.setLoadSeconds(`model:${m.label}`, m.loadSeconds + m.precomputeSeconds);
  if (lm) metrics.setLoadSeconds(`lm:${lm.id}`, lm.loadSeconds);
  return { run, lm, users: 0, retired: false };
}

export function disposeState(s: State): void {
  disposeRun(s.run);
  if (s.lm) disposeLm(s.lm);
}
