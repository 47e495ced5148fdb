/**
 * What the server serves at one moment (docs/SERVING.md, "reload"): a loaded
 * run and an optional LM, with the count of requests holding it. A reload
 * builds a new State while the old one keeps serving; a replaced State is
 * disposed when its last request ends.
 */
import { disposeLm, type LoadedLm, loadLm } from './lm.js';
import type { Metrics } from './metrics.js';
import { disposeMethodRun, type LoadedMethodRun, type LoadedRecipe, loadMethodRun } from './recipes.js';
import { disposeRun, type LoadedRun, loadRun } from './run.js';
import type { ModelSettings } from '../models/registry.js';

export interface State {
  run: LoadedRun;
  lm: LoadedLm | null;
  /** Method runs whose LLM recipes are served (POST /v1/rerank with model = a recipe id). */
  methods: LoadedMethodRun[];
  /** Every served recipe, by id. */
  recipes: Map<string, LoadedRecipe>;
  /** Requests using this state; a replaced state is disposed when it reaches 0. */
  users: number;
  retired: boolean;
}

export async function loadState(o: { run: string; lm?: string; methodRuns?: string[]; precomputeK?: number; set?: ModelSettings }, log: (l: string) => void, metrics: Metrics): Promise<State> {
  const run = await loadRun(o.run, log, { precomputeK: o.precomputeK, set: o.set });
  let lm: LoadedLm | null = null;
  const methods: LoadedMethodRun[] = [];
  const recipes = new Map<string, LoadedRecipe>();
  try {
    if (o.lm) {
      lm = loadLm(o.lm, run.data);
      log(`LM ${lm.id}: loaded in ${lm.loadSeconds.toFixed(2)} s${lm.rerankError ? ` (re-rank unavailable: ${lm.rerankError})` : ''}`);
    }
    for (const dir of o.methodRuns ?? []) {
      const m = await loadMethodRun(dir, run.data, log);
      methods.push(m);
      for (const r of m.recipes) {
        if (recipes.has(r.id) || r.id === lm?.id) throw new Error(`${dir}: recipe '${r.id}' is already served from ${recipes.get(r.id)?.runDir ?? `--lm ${lm?.dir}`}; serve one of them`);
        recipes.set(r.id, r);
      }
    }
  } catch (e) {
    disposeRun(run);
    if (lm) disposeLm(lm);
    for (const m of methods) disposeMethodRun(m);
    throw e;
  }
  metrics.clearLoads();
  metrics.setLoadSeconds('data', run.dataSeconds);
  for (const m of run.models) metrics.setLoadSeconds(`model:${m.label}`, m.loadSeconds + m.precomputeSeconds);
  if (lm) metrics.setLoadSeconds(`lm:${lm.id}`, lm.loadSeconds);
  for (const r of recipes.values()) metrics.setLoadSeconds(`recipe:${r.id}`, r.loadSeconds);
  return { run, lm, methods, recipes, users: 0, retired: false };
}

export function disposeState(s: State): void {
  disposeRun(s.run);
  if (s.lm) disposeLm(s.lm);
  for (const m of s.methods) disposeMethodRun(m);
}
