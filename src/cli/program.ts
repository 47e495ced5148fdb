/**
 * The llmrec command line. Subcommands:
 *   doctor   what the engine runs on (backend, SIMD, native OpenBLAS addon and why not)
 *   bench    engine benchmark against PyTorch and OpenBLAS; writes bench/results.json
 *   data stats, train, benchmark, eval   experiments (experiment_commands.ts)
 *   first-run   the first run, `npm run main` (first_run.ts, docs/FIRST-RUN.md)
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../engine/native.js';
import { engineInfo, initEngine, setMatmulPath } from '../engine/index.js';
import { makeWorkload, runBench, TRAIN_CASES, type TrainCase } from '../bench/run.js';
import { profileStep } from '../bench/profile.js';
import { addExperimentCommands } from './experiment_commands.js';
import { addLmCommands } from './lm_commands.js';
import { addRunCommands } from './run_commands.js';
import { addLlmCommands } from './llm_commands.js';
import { addServeCommands } from './serve_commands.js';
import { addFirstRunCommand } from './first_run.js';
import { fatalLines } from './fatal.js';
import { torchAvailable } from '../bench/torch.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got '${v}'`);
  return n;
}

function caseList(v: string): TrainCase[] {
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const x of xs) {
    if (!(TRAIN_CASES as readonly string[]).includes(x)) {
      throw new InvalidArgumentError(`unknown case '${x}' (known: ${TRAIN_CASES.join(', ')})`);
    }
  }
  return xs as TrainCase[];
}

export function buildCli(): Command {
  const program = new Command();
  program.name('llmrec').description('Recommender systems with language models, in TypeScript').version(pkg.version);

  program
    .command('doctor')
    .description('report the compute engine: backend, SIMD, native OpenBLAS addon, PyTorch reference')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await initEngine();
      const info = engineInfo();
      const torch = torchAvailable();
      if (o.json) {
        console.log(JSON.stringify({ ...info, torch }, null, 2));
        return;
      }
      console.log(`backend        ${info.backend} (tfjs ${info.tfjsVersion}, SIMD ${info.simd ? 'on' : 'off'}, wasm threads ${info.wasmThreads})`);
      console.log(`own kernels    ${info.kernels.join(', ')}`);
      console.log(`matmul path    ${info.matmulPath === 'blas' ? 'OpenBLAS addon (native sgemm on the wasm heap)' : 'pure wasm'}`);
      if (info.native.loaded) {
        console.log(`native addon   loaded: ${info.native.path}`);
        console.log(`               ${info.native.openblas}; core ${info.native.corename}; up to ${info.native.maxThreads} threads above ${info.native.minFlopsForMaxThreads} flops`);
      } else {
        console.log(`native addon   not active: ${info.native.reason}`);
      }
      const bc = info.native.blas;
      if (bc) {
        console.log(`blas core      ${bc.core || '-'} (${bc.decision}; library default ${bc.defaultCore || 'not probed'}; CPU ${bc.cpu.model || 'unknown'}, ${bc.cpu.flags.join(' ') || 'flags unknown'})`);
        console.log(`               ${bc.reason}${bc.cached ? ' [cached probe]' : ''}`);
        if (bc.selfTest) console.log(`blas self-test ${bc.selfTest.ok ? 'passed' : 'FAILED'}: ${bc.selfTest.detail}${bc.gflops != null ? `; ${bc.gflops} GFLOPS at load (256^3 sgemm, 1 thread)` : ''}`);
      }
      if (info.native.malloc) console.log(`allocator      ${info.native.malloc.tuned ? 'tuned' : 'as is'}: ${info.native.malloc.detail}`);
      else {
        const set = ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_'].filter((k) => process.env[k] !== undefined);
        console.log(`allocator      ${set.length > 0 ? `from the environment: ${set.map((k) => `${k}=${process.env[k]}`).join(' ')}` : 'as is (glibc defaults, or not glibc)'}`);
      }
      console.log(`pytorch ref    ${torch.ok ? `torch ${torch.version}` : `unavailable: ${torch.reason}`}`);
    });

  program
    .command('bench')
    .description('time training steps and GEMMs against PyTorch and OpenBLAS; writes bench/results.json')
    .option('--cases <list>', `training cases, comma-separated (${TRAIN_CASES.join(',')})`, caseList)
    .option('--steps <n>', 'timed steps per case', positiveInt, 10)
    .option('--warmup <n>', 'untimed warm-up steps per case', positiveInt, 3)
    .option('--quick', 'fewer steps and no GEMM sweep (a few minutes); writes bench/results-quick.json')
    .option('--no-torch', 'skip the PyTorch reference')
    .option('--no-gemm', 'skip the GEMM throughput cases')
    .option('--no-lm', 'skip the language-model cases (training tokens/s, prefix-shared scoring vs PyTorch, onnxruntime, llama.cpp)')
    .addOption(new Option('--out <file>', 'where to write the JSON results'))
    .option('--profile', 'print a per-kernel profile of one training step of each case instead of timing')
    .option('--path <path>', 'matmul path for --profile (blas or wasm)')
    .action(async (o: { cases?: TrainCase[]; steps: number; warmup: number; quick?: boolean; torch: boolean; gemm: boolean; lm: boolean; out?: string; profile?: boolean; path?: string }) => {
      if (o.profile) {
        await initEngine();
        if (o.path) setMatmulPath(o.path === 'wasm' ? 'wasm' : 'blas');
        for (const c of o.cases ?? TRAIN_CASES) {
          const w = makeWorkload(c);
          const p = await profileStep(w, o.warmup);
          w.dispose();
          console.log(`${c}: step ${p.stepMs.toFixed(1)} ms (under tf.profile), kernels ${p.kernelMs.toFixed(1)} ms`);
          for (const r of p.rows.slice(0, 25)) console.log(`  ${r.kernel.padEnd(28)} ${String(r.calls).padStart(5)} calls ${r.ms.toFixed(2).padStart(9)} ms`);
        }
        return;
      }
      await runBench({
        cases: o.cases,
        steps: o.quick ? 3 : o.steps,
        warmup: o.quick ? 1 : o.warmup,
        torch: o.torch,
        gemm: o.quick ? false : o.gemm,
        lm: o.lm,
        // Quick runs never overwrite the full record in bench/results.json.
        out: o.out ?? (o.quick ? join(packageRoot, 'bench', 'results-quick.json') : undefined),
      });
    });
  addExperimentCommands(program);
  addLmCommands(program);
  addRunCommands(program);
  addLlmCommands(program);
  addServeCommands(program);
  addFirstRunCommand(program);
  return program;
}

buildCli().parseAsync(process.argv).catch((e: unknown) => {
  for (const line of fatalLines(e)) console.error(line);
  process.exit(1);
});
