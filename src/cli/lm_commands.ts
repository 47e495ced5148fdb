/**
 * Language-model subcommands:
 *   lm pretrain   train the small default LM (tokenizer + LLaMA-style decoder) on a dataset's train-split text
 *   lm pretrain-mlm  train a small BERT (WordPiece + masked LM) on a dataset's item texts: an item text encoder ('lm:<folder>')
 *   lm info       describe a checkpoint folder (family, parameters, tokenizer)
 *   lm memcheck   write a random-weight checkpoint with Qwen2-0.5B's shapes, load it and score a prompt (time, peak RSS)
 * Ctrl-C stops after the current step with a checkpoint; `--resume` continues.
 */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { initEngine } from '../engine/index.js';
import { loadConfiguredData, prepareSplit } from '../experiment/run.js';
import { given, ratingThresholdFlag } from '../config/layers.js';
import { resolveRunConfig } from '../config/run.js';
import { parseSmallLmOptions } from '../config/small_lm.js';
import { int, interruptSignal, num } from './experiment_commands.js';
import { type DataFlags, addDataOptions, dataSection } from './data_flags.js';
import { DEFAULT_SMALL_LM, renderSmallLmReport, trainSmallLm } from '../methods/text_lm/small_lm.js';
import { DEFAULT_SMALL_MLM, parseSmallMlmOptions, trainSmallMlm } from '../methods/text_lm/small_mlm.js';
import { itemTexts } from '../models/text/index.js';
import { loadPretrained, readConfig, weightBytes } from '../lm/checkpoint.js';
import { familyOf } from '../lm/families/index.js';
import { measureInChild, measureLoadAndScore, QWEN2_0_5B, writeRandomCheckpoint } from '../bench/lm_memory.js';
import { writeFileAtomic } from '../util/fs.js';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { acquireRunLock, cleanStaleTemps, safeName } from '../run/index.js';
import { tmpdir } from 'node:os';


interface PretrainFlags extends DataFlags {
  out?: string; ratingThreshold?: string; kCore?: number; resume?: boolean;
  vocab?: number; hidden?: number; layers?: number; heads?: number; kvHeads?: number; ffn?: number;
  block?: number; batchSize?: number; steps?: number; epochs?: number; lr?: number; warmup?: number; seed?: number; evalUsers?: number; checkpointEvery?: number;
}

/** One process per output folder (src/run/lock.ts), held until exit; leftovers of killed writes are removed. */
function lockOutputFolder(out: string): void {
  mkdirSync(out, { recursive: true });
  const lock = acquireRunLock(resolve(out));
  const cleaned = cleanStaleTemps(out, Date.parse(lock.info.started));
  if (cleaned > 0) console.log(`${out}: removed ${cleaned} temp file${cleaned === 1 ? '' : 's'} of an interrupted write`);
}

/** The options `lm pretrain` and `lm pretrain-mlm` share (data, output, model sizes, optimisation), with each one's defaults. */
function pretrainFlags(cmd: Command, d: { out: string; vocab: string; layers: string; hiddenSize: number; layersN: number; heads: number; ffn: number; block: number; batch: number; lr: number; seed: number; checkpointEvery: number }): Command {
  return addDataOptions(cmd, { dataHelp: "dataset: a name, a path (folder, or a CSV/TSV/TXT/JSONL/Parquet file), default the embedded 'synthetic-shop'" })
    .option('--out <dir>', `output folder (default ${d.out})`)
    .option('--rating-threshold <r>', "keep ratings > r ('none' keeps all)")
    .option('--k-core <k>', 'k-core filter', int)
    .option('--resume', 'continue from the checkpoint in --out')
    .option('--vocab <n>', d.vocab, int)
    .option('--hidden <d>', `hidden size (default ${d.hiddenSize})`, int)
    .option('--layers <n>', `${d.layers} (default ${d.layersN})`, int)
    .option('--heads <n>', `attention heads (default ${d.heads})`, int)
    .option('--ffn <n>', `feed-forward size (default ${d.ffn})`, int)
    .option('--block <n>', `tokens per training block (default ${d.block})`, int)
    .option('--batch-size <n>', `blocks per step (default ${d.batch})`, int)
    .option('--lr <x>', `peak learning rate (default ${d.lr})`, num)
    .option('--seed <n>', `seed (default ${d.seed})`, int)
    .option('--checkpoint-every <n>', `steps between checkpoints, 0 = only when interrupted (default ${d.checkpointEvery})`, int);
}

/** `lm pretrain`: flags -> protocol config + small-LM options -> trainSmallLm, with a progress bar on a terminal. */
async function lmPretrain(f: PretrainFlags): Promise<void> {
  await initEngine();
  // built-in defaults < the small LM's protocol (10 items, 9 negatives for the next-title evaluation) < flags.
  const cfg = resolveRunConfig(undefined, { data: dataSection(f), protocol: given({ ratingThreshold: ratingThresholdFlag(f.ratingThreshold), kCore: f.kCore }) }, { protocol: { maxHistory: 10, numNegatives: 9 } });
  const opts = parseSmallLmOptions(given({
    vocabSize: f.vocab, hiddenSize: f.hidden, layers: f.layers, heads: f.heads, kvHeads: f.kvHeads, intermediateSize: f.ffn,
    blockSize: f.block, batchSize: f.batchSize, steps: f.steps, epochs: f.epochs, lr: f.lr, warmupSteps: f.warmup, seed: f.seed, evalUsers: f.evalUsers, checkpointEvery: f.checkpointEvery,
  }), 'command line');
  const raw = await loadConfiguredData(cfg);
  const data = prepareSplit(raw, cfg);
  const out = f.out ?? join('runs', `lm-${safeName(data.name)}`);
  console.log(`data ${data.name}: ${data.numUsers} users, ${data.numItems} items; output ${out}`);
  lockOutputFolder(out);
  const tty = Boolean(process.stderr.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let lastLog = 0;
  const report = await trainSmallLm(data, opts, out, {
    signal: interruptSignal(),
    log: (s) => console.log(s),
    onStep: (s) => {
      if (tty) {
        if (!bar) {
          bar = new cliProgress.SingleBar({ format: 'pretrain [{bar}] {value}/{total} steps | loss {loss} | {tps} tok/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
          bar.start(s.maxSteps, s.step - 1, { loss: '-', tps: '-' });
        }
        bar.update(s.step, { loss: s.loss.toFixed(3), tps: s.tokensPerSecond.toFixed(0) });
      } else if (s.step === s.maxSteps || performance.now() - lastLog > 30000) {
        lastLog = performance.now();
        console.log(`step ${s.step}/${s.maxSteps}: loss ${s.loss.toFixed(3)}, lr ${s.lr.toExponential(2)}, ${s.tokensPerSecond.toFixed(0)} tokens/s`);
      }
    },
    onEvalProgress: (d, t) => { if (!tty && (d === t || d % 200 === 0)) console.log(`next-title evaluation: ${d}/${t} users`); },
  }, f.resume === true);
  (bar as cliProgress.SingleBar | null)?.stop();
  if (report.training.interrupted) {
    console.log(`interrupted at step ${report.training.steps}; checkpoint in ${join(out, 'checkpoint')}; continue with --resume --out ${out}`);
    process.exitCode = 130;
    return;
  }
  console.log(renderSmallLmReport(report));
}

interface MlmFlags extends DataFlags {
  out?: string; ratingThreshold?: string; kCore?: number; resume?: boolean;
  vocab?: number; hidden?: number; layers?: number; heads?: number; ffn?: number; block?: number; batchSize?: number; steps?: number; lr?: number; seed?: number; checkpointEvery?: number;
}

/**
 * `lm pretrain-mlm`: a small BERT trained by masked-LM on the item texts of a
 * dataset (title plus attributes, the texts TextSeq/TIGER/KAR encode; item
 * metadata only, no interactions), saved as a Hugging Face BERT folder that
 * `encoder: "lm:<folder>"` loads (docs/METHODS.md §3.10).
 */
async function lmPretrainMlm(f: MlmFlags): Promise<void> {
  await initEngine();
  const cfg = resolveRunConfig(undefined, { data: dataSection(f), protocol: given({ ratingThreshold: ratingThresholdFlag(f.ratingThreshold), kCore: f.kCore }) });
  const o = parseSmallMlmOptions(given({
    vocabSize: f.vocab, hiddenSize: f.hidden, layers: f.layers, heads: f.heads, intermediateSize: f.ffn, blockSize: f.block, batchSize: f.batchSize, steps: f.steps, lr: f.lr, seed: f.seed, checkpointEvery: f.checkpointEvery,
  }), 'command line');
  const data = prepareSplit(await loadConfiguredData(cfg), cfg);
  const out = f.out ?? join('runs', `mlm-${safeName(data.name)}`);
  const { texts, missing } = itemTexts(data);
  console.log(`data ${data.name}: ${data.numItems} items, ${data.numItems - missing.length} with text; output ${out}`);
  lockOutputFolder(out);
  let lastLog = 0;
  const t0 = performance.now();
  const r = await trainSmallMlm(texts, o, {
    signal: interruptSignal(),
    log: (s) => console.log(s),
    onStep: (s) => {
      if (s.step === s.maxSteps || performance.now() - lastLog > 30000) {
        lastLog = performance.now();
        console.log(`step ${s.step}/${s.maxSteps}: loss ${s.loss.toFixed(3)}, lr ${s.lr.toExponential(2)}, ${s.tokensPerSecond.toFixed(0)} tokens/s`);
      }
    },
  }, out, f.resume === true);
  try {
    if (r.training?.interrupted) {
      console.log(`interrupted at step ${r.training.steps}; checkpoint in ${join(out, 'checkpoint')}; continue with --resume --out ${out}`);
      process.exitCode = 130;
      return;
    }
    const report = {
      dataset: data.name, options: o, parameters: r.model.store.count(), itemsWithText: data.numItems - missing.length, itemsWithoutText: missing.length,
      corpus: r.corpus, training: r.training ?? null, seconds: (performance.now() - t0) / 1000, encoder: `lm:${out}`,
    };
    writeFileAtomic(join(out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    const t = r.training;
    console.log(`${(report.parameters / 1e6).toFixed(2)}M parameters; ${t ? `${t.steps} steps, train loss ${t.trainLoss.toFixed(3)}, held-out masked-LM perplexity ${t.heldOutPerplexity.toFixed(2)}, ${t.seconds.toFixed(0)} s` : 'no training step'}`);
    console.log(`item text encoder: set "encoder": "lm:${out}" in a textseq, tiger or kar model config`);
  } finally {
    r.model.dispose();
  }
}

export function addLmCommands(program: Command): void {
  const lm = program.command('lm').description('language models: pre-train the small default LM, inspect checkpoints');
  pretrainFlags(lm.command('pretrain')
    .description('train a byte-level BPE tokenizer and a small LLaMA-style LM on the train-split text of a dataset'), {
    out: 'runs/lm-<dataset>', vocab: `BPE vocabulary size (default ${DEFAULT_SMALL_LM.vocabSize})`, layers: 'decoder layers', layersN: DEFAULT_SMALL_LM.layers, hiddenSize: DEFAULT_SMALL_LM.hiddenSize,
    heads: DEFAULT_SMALL_LM.heads, ffn: DEFAULT_SMALL_LM.intermediateSize, block: DEFAULT_SMALL_LM.blockSize, batch: DEFAULT_SMALL_LM.batchSize, lr: DEFAULT_SMALL_LM.lr, seed: DEFAULT_SMALL_LM.seed, checkpointEvery: DEFAULT_SMALL_LM.checkpointEvery,
  })
    .option('--kv-heads <n>', `key/value heads (default ${DEFAULT_SMALL_LM.kvHeads})`, int)
    .option('--steps <n>', `training steps (default: ${DEFAULT_SMALL_LM.epochs} epochs, at most ${DEFAULT_SMALL_LM.maxAutoSteps} steps)`, int)
    .option('--epochs <n>', `passes over the corpus when --steps is not given (default ${DEFAULT_SMALL_LM.epochs})`, num)
    .option('--warmup <n>', `warmup steps (default ${DEFAULT_SMALL_LM.warmupSteps})`, int)
    .option('--eval-users <n>', `test users for the next-title evaluation, 0 skips (default ${DEFAULT_SMALL_LM.evalUsers})`, int)
    .action(lmPretrain);

  pretrainFlags(lm.command('pretrain-mlm')
    .description("train a small BERT (WordPiece tokenizer + masked LM) on a dataset's item texts; the folder is an item text encoder ('lm:<folder>')"), {
    out: 'runs/mlm-<dataset>', vocab: `WordPiece vocabulary size (default ${DEFAULT_SMALL_MLM.vocabSize})`, layers: 'encoder layers', layersN: DEFAULT_SMALL_MLM.layers, hiddenSize: DEFAULT_SMALL_MLM.hiddenSize,
    heads: DEFAULT_SMALL_MLM.heads, ffn: DEFAULT_SMALL_MLM.intermediateSize, block: DEFAULT_SMALL_MLM.blockSize, batch: DEFAULT_SMALL_MLM.batchSize, lr: DEFAULT_SMALL_MLM.lr, seed: DEFAULT_SMALL_MLM.seed, checkpointEvery: DEFAULT_SMALL_MLM.checkpointEvery,
  })
    .option('--steps <n>', `training steps (default ${DEFAULT_SMALL_MLM.steps})`, int)
    .action(lmPretrainMlm);

  lm.command('info <dir>')
    .description('describe a Hugging Face checkpoint folder: family, parameters, weight size, load time')
    .action(async (dir: string) => {
      await initEngine();
      const cfg = readConfig(dir);
      const fam = familyOf(cfg, join(dir, 'config.json'));
      const { model, seconds } = loadPretrained(dir);
      console.log(`${dir}: ${fam.family} (${String(cfg.model_type)}), ${(model.store.count() / 1e6).toFixed(2)}M parameters, ${(weightBytes(dir) / 2 ** 20).toFixed(1)} MiB of weights, loaded in ${seconds.toFixed(2)} s`);
      model.dispose();
    });

  lm.command('memcheck')
    .description("random-weight checkpoint with Qwen2-0.5B's shapes (bf16): load time, scoring latency and peak RSS, measured in a fresh process")
    .option('--dir <dir>', 'where to write the checkpoint (default: a temp folder, removed afterwards)')
    .option('--prompt <n>', 'prompt tokens to score', int, 200)
    .option('--measure <dir>', 'internal: load and score this checkpoint, print JSON')
    .option('--out <file>', 'write the measurement as JSON (default bench/lm-memory.json)')
    .action(async (f: { dir?: string; prompt: number; measure?: string; out?: string }) => {
      await initEngine();
      if (f.measure) {
        console.log(JSON.stringify(measureLoadAndScore(f.measure, f.prompt)));
        return;
      }
      const dir = f.dir ?? mkdtempSync(join(tmpdir(), 'llmrec-qwen2-shapes-'));
      try {
        if (!existsSync(join(dir, 'config.json'))) {
          const t0 = performance.now();
          const n = writeRandomCheckpoint(QWEN2_0_5B, dir);
          console.log(`wrote ${(n / 1e6).toFixed(1)}M random bf16 parameters with Qwen2-0.5B's shapes to ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        }
        const m = measureInChild(process.argv[1], dir, f.prompt);
        const rec = { model: 'Qwen2-0.5B shapes, random bf16 weights', ...m, weightBytes: weightBytes(dir), date: new Date().toISOString() };
        console.log(`load ${m.loadSeconds.toFixed(1)} s; score ${m.promptTokens}-token prompt: first ${m.firstScoreSeconds.toFixed(2)} s, then ${m.scoreSeconds.toFixed(2)} s; peak RSS ${(m.peakRssBytes / 2 ** 30).toFixed(2)} GiB; wasm heap in use ${(m.wasmHeapBytes / 2 ** 30).toFixed(2)} GiB`);
        writeFileAtomic(f.out ?? join('bench', 'lm-memory.json'), JSON.stringify(rec, null, 2) + '\n');
      } finally {
        if (!f.dir) rmSync(dir, { recursive: true, force: true });
      }
    });
}
