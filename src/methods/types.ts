/**
 * What a method of the methods registry (registry.ts) is: a name, a
 * description, its configuration (options schema + method defaults, see
 * src/config/method.ts) and an entry point that runs it into a run
 * directory (docs/DESIGN.md, "The methods registry").
 */
import type { MethodConfigSpec } from '../config/method.js';
import type { RawDataset, SplitDataset } from '../data/types.js';
import type { StageHooks } from '../run/index.js';

/** The data a method runs on: the loaded dataset and its split under the run's protocol. */
export interface MethodInput {
  raw: RawDataset;
  data: SplitDataset;
}

/** What a finished (or interrupted) method run returns to the command line. */
export interface MethodResult {
  interrupted: boolean;
  /** The stage `--until` stopped the run after (the run directory resumes from the next one). */
  stoppedAfter?: string;
  /** The report as written into the run directory (report.json). */
  report: unknown;
  /** The Markdown report (report.md). */
  markdown: string;
}

export interface MethodEntry<O = unknown> {
  name: string;
  /** One line for help texts. */
  description: string;
  config: MethodConfigSpec<O>;
  /** Names of a staged method's stages in order (what `--until` accepts); absent: the method is not staged. */
  stages?: readonly string[];
  /** Runs (or resumes) the method into `dir`. */
  run(input: MethodInput, options: O, dir: string, hooks: StageHooks, resume: boolean): Promise<MethodResult>;
}
