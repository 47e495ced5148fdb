/**
 * `npm run fuzz`: the long loader fuzz (test/fuzz.loaders.harness.ts) and
 * the malicious-checkpoint suite's table. Prints a Markdown table per loader
 * (cases, clean errors, accepted-correct, silent wrong, refused valid,
 * crashes/hangs) and the first failing cases; exit code 1 when any case is
 * silently wrong, a refused valid file, a crash or a hang.
 *
 *   npm run fuzz                       # 3000 cases per loader, seed 1
 *   npm run fuzz -- --cases 500 --seed 1000 --only ml-100k,s3rec
 *   npm run fuzz -- --checkpoints      # only the malicious model folders
 */
import { formatCheckpointResults, runCheckpointCases } from '../test/fuzz.checkpoints.harness.js';
import { TARGETS, formatTallies, fuzzLoaders } from '../test/fuzz.loaders.harness.js';
import { ready } from '../test/helpers.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const cases = Number(arg('cases') ?? 3000);
const seed = Number(arg('seed') ?? 1);
const only = arg('only')?.split(',');
if (!Number.isInteger(cases) || cases <= 0 || !Number.isInteger(seed)) throw new Error('usage: fuzz [--cases N] [--seed S] [--only a,b]');
const targets = only ? TARGETS.filter((t) => only.includes(t.name)) : TARGETS;
if (targets.length === 0) throw new Error(`no such target; known: ${TARGETS.map((t) => t.name).join(', ')}`);

let bad = 0;
if (process.argv.includes('--checkpoints')) {
  await ready();
  const rs = runCheckpointCases();
  console.log('malicious model folders (test/fuzz.checkpoints.harness.ts)\n');
  console.log(formatCheckpointResults(rs));
  for (const r of rs) if (!r.clear) console.log(`  ${r.name}: ${r.refused ? 'unclear' : 'NOT refused'}: ${r.message}`);
  process.exitCode = rs.every((r) => r.clear) ? 0 : 1;
  process.exit();
}

const t0 = performance.now();
const tallies = await fuzzLoaders(cases, seed, targets);
console.log(`loader fuzz: ${cases} cases per loader, seeds ${seed}..${seed + cases - 1}, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
console.log(formatTallies(tallies));
for (const t of tallies) {
  for (const f of t.failures) console.log(`  ${t.target} seed ${f.seed} [${f.mutations.join('+')}] ${f.outcome}: ${f.detail}`);
  bad += t['silent wrong'] + t['refused valid'] + t['crash/hang'];
}
process.exitCode = bad > 0 ? 1 : 0;
