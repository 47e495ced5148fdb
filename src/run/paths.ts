/**
 * Paths recorded in results files: never absolute machine paths. A path under
 * the data directory is written as `$LLMREC_DATA_DIR/<rest>`, one under the
 * run directory relative to it, one under the repository relative to it;
 * anything else (another machine's folder) keeps only its last two parts
 * behind `.../`, which still names the dataset.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { dataRoot } from '../data/resolve.js';
import { packageRoot } from '../engine/native.js';

const inside = (root: string, p: string): string | undefined => {
  const r = relative(root, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r)) ? r : undefined;
};

/** `p` made portable (see the module comment); non-path strings (e.g. 'synthetic') are kept. */
export function portablePath(p: string, runDir?: string): string {
  if (!isAbsolute(p) && !p.includes(sep)) return p;
  const abs = resolve(p);
  const underData = inside(dataRoot(), abs);
  if (underData !== undefined) return `$LLMREC_DATA_DIR/${underData.split(sep).join('/')}`;
  if (runDir) {
    const underRun = inside(resolve(runDir), abs);
    if (underRun !== undefined) return underRun.split(sep).join('/') || '.';
  }
  const underRepo = inside(packageRoot, abs);
  if (underRepo !== undefined) return underRepo.split(sep).join('/') || '.';
  return `.../${abs.split(sep).slice(-2).join('/')}`;
}
