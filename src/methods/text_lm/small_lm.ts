/**
 * The embedded default language model: a small LLaMA-style decoder trained
 * from scratch on a dataset's own text (train split only: item sentences
 * and training histories), with a byte-level BPE tokenizer trained on the
 * same text. Later methods use it when no pretrained checkpoint is given.
 *
 *   outDir/tokenizer.json, tokenizer_config.json   (written first; a resume reuses them)
 *   outDir/checkpoint/                             resumable training state
 *   outDir/config.json, model.safetensors          the final model (Hugging Face layout)
 *   outDir/report.json, report.md                  options, perplexities, next-title metrics
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SplitDataset } from '../../data/types.js';
import { writeFileAtomic } from '../../util/fs.js';
import { Tokenizer, trainBpe, withRecSpecialTokens } from '../../lm/tokenizer/index.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../../lm/families/llama.js';
import { savePretrained } from '../../lm/checkpoint.js';
import { buildCorpus, type CorpusCounts, splitDocuments, TITLE_SEPARATOR } from './corpus.js';
import { hasCheckpoint, packBlocks, pretrainCausalLM, type PretrainResult, type StepReport } from '../../lm/pretrain.js';
import { evaluateNextTitle, type NextTitleResult } from './next_title.js';
import { DEFAULT_SMALL_LM, type SmallLmOptions } from '../../config/small_lm.js';

export { DEFAULT_SMALL_LM, type SmallLmOptions };

export interface SmallLmReport {
  dataset: string;
  options: SmallLmOptions;
  parameters: number;
  corpus: { documents: number; heldOutDocuments: number; trainTokens: number; heldOutTokens: number; trainBlocks: number; heldOutBlocks: number; kinds: CorpusCounts };
  /**
   * The training budget: steps x batch x block tokens seen, and wall seconds (training.seconds).
   * `epochsRequested` and `cappedByMaxAutoSteps` say whether `maxAutoSteps` cut the `epochs` asked
   * for (only when `steps` is 0, i.e. derived from `epochs`).
   */
  budget: { steps: number; tokensSeen: number; epochsOverCorpus: number; epochsRequested?: number; cappedByMaxAutoSteps?: boolean };
  training: PretrainResult;
  nextTitle?: NextTitleResult;
}

export interface SmallLmHooks {
  signal?: AbortSignal;
  log?: (s: string) => void;
  onStep?: (s: StepReport) => void;
  onEvalProgress?: (done: number, total: number) => void;
}

export async function trainSmallLm(data: SplitDataset, opts: Partial<SmallLmOptions>, outDir: string, hooks: SmallLmHooks = {}, resume = false): Promise<SmallLmReport> {
  const o = { ...DEFAULT_SMALL_LM, ...opts };
  const log = hooks.log ?? (() => {});
  const kinds: CorpusCounts = { items: 0, histories: 0, reviews: 0 };
  const docs = [...buildCorpus(data, { reviewDocs: o.reviewDocs }, kinds), ...o.extraDocuments];
  const { train, heldOut } = splitDocuments(docs, o.heldOutFraction, o.seed, 77);
  let tok: Tokenizer;
  if (resume && existsSync(join(outDir, 'tokenizer.json'))) {
    tok = Tokenizer.fromFile(outDir);
    log(`tokenizer: reused ${join(outDir, 'tokenizer.json')} (${tok.vocabSize} tokens)`);
  } else {
    const t0 = performance.now();
    tok = trainBpe(train, { vocabSize: o.vocabSize });
    withRecSpecialTokens(tok);
    tok.save(outDir);
    log(`tokenizer: byte-level BPE, ${tok.vocabSize} tokens, trained in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const eos = tok.specialTokens.eos?.id;
  if (eos === undefined) throw new Error('small LM: the tokenizer has no eos token');
  const enc = (t: string) => tok.encode(t, { addSpecialTokens: false });
  const t1 = performance.now();
  const trainBlocks = packBlocks(train.map(enc), eos, o.blockSize);
  const heldBlocks = packBlocks(heldOut.map(enc), eos, o.blockSize);
  log(`corpus: ${docs.length} documents (${kinds.items} items, ${kinds.histories} histories, ${kinds.reviews} reviews; ${heldOut.length} held out), ${trainBlocks.length} + ${heldBlocks.length} blocks of ${o.blockSize} tokens, encoded in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  const config = parseLlamaConfig({
    model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: o.hiddenSize, intermediate_size: o.intermediateSize,
    num_hidden_layers: o.layers, num_attention_heads: o.heads, num_key_value_heads: o.kvHeads,
    max_position_embeddings: Math.max(512, o.blockSize * 4), tie_word_embeddings: true, rms_norm_eps: 1e-6,
    bos_token_id: tok.specialTokens.bos?.id ?? null, eos_token_id: eos, pad_token_id: tok.specialTokens.pad?.id ?? null,
  });
  const epochSteps = Math.ceil((o.epochs * trainBlocks.length) / o.batchSize);
  const capped = o.steps === 0 && epochSteps > o.maxAutoSteps;
  const steps = o.steps > 0 ? o.steps : Math.min(o.maxAutoSteps, epochSteps);
  const passes = (steps * o.batchSize) / Math.max(1, trainBlocks.length);
  if (capped) {
    log(`budget: ${o.epochs} epochs over ${trainBlocks.length} blocks would be ${epochSteps} steps; capped at maxAutoSteps ${o.maxAutoSteps} ` +
      `(${passes.toFixed(2)} passes over the corpus). Raise lm.small.maxAutoSteps or set lm.small.steps to train longer.`);
  }
  const model = new LlamaForCausalLM(config, { seed: o.seed });
  try {
    const parameters = model.store.count();
    log(`model: LLaMA-style, d=${o.hiddenSize}, ${o.layers} layers, ${o.heads} heads (${o.kvHeads} kv), ${(parameters / 1e6).toFixed(2)}M parameters`);
    const training = await pretrainCausalLM(model, trainBlocks, heldBlocks, {
      blockSize: o.blockSize, batchSize: o.batchSize, lr: o.lr, warmupSteps: Math.min(o.warmupSteps, Math.max(1, Math.floor(steps / 10))), maxSteps: steps,
      seed: o.seed, checkpointEvery: o.checkpointEvery, signal: hooks.signal, onStep: hooks.onStep,
    }, outDir, resume && hasCheckpoint(outDir));
    const report: SmallLmReport = {
      dataset: data.name, options: { ...o, steps }, parameters,
      corpus: {
        documents: docs.length, heldOutDocuments: heldOut.length,
        trainTokens: trainBlocks.length * o.blockSize, heldOutTokens: heldBlocks.length * o.blockSize,
        trainBlocks: trainBlocks.length, heldOutBlocks: heldBlocks.length, kinds,
      },
      budget: {
        steps, tokensSeen: steps * o.batchSize * o.blockSize, epochsOverCorpus: passes,
        ...(o.steps === 0 ? { epochsRequested: o.epochs, cappedByMaxAutoSteps: capped } : {}),
      },
      training,
    };
    if (training.interrupted) return report;
    savePretrained(model, outDir);
    if (o.evalUsers > 0 && data.test.numNegatives > 0) {
      const sep = enc(TITLE_SEPARATOR);
      report.nextTitle = await evaluateNextTitle(model, data, 'test', {
        maxUsers: o.evalUsers, encode: enc, endIds: sep, onProgress: hooks.onEvalProgress,
      });
    }
    writeFileAtomic(join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileAtomic(join(outDir, 'report.md'), renderSmallLmReport(report));
    return report;
  } finally {
    model.dispose();
  }
}

export function renderSmallLmReport(r: SmallLmReport): string {
  const f = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(4));
  const lines = [
    `# Small LM on ${r.dataset}`, '',
    `${(r.parameters / 1e6).toFixed(2)}M parameters; ${r.training.steps} steps of ${r.options.batchSize} x ${r.options.blockSize} tokens; ` +
      `${r.corpus.trainTokens} training tokens, ${r.corpus.heldOutTokens} held-out tokens; ${r.budget.epochsOverCorpus.toFixed(2)} passes over the corpus` +
      (r.budget.cappedByMaxAutoSteps ? ` (${r.budget.epochsRequested} asked for, capped by maxAutoSteps ${r.options.maxAutoSteps}).` : '.'), '',
    `| held-out perplexity | final train loss | tokens/s | seconds |`, `|---|---|---|---|`,
    `| ${r.training.heldOutPerplexity.toFixed(2)} | ${r.training.trainLoss.toFixed(3)} | ${r.training.tokensPerSecond.toFixed(0)} | ${r.training.seconds.toFixed(0)} |`, '',
  ];
  if (r.nextTitle) {
    const n = r.nextTitle;
    lines.push(`Next-title ranking on the test split: ${n.users} users, ${n.candidates} candidates (target + the split's stored negatives), target-title perplexity ${n.targetPerplexity.toFixed(2)}.`, '');
    const keys = ['auc', ...Object.keys(n.mean).filter((k) => k !== 'auc')];
    lines.push(`| scoring | ${keys.join(' | ')} |`, `|---|${keys.map(() => '---').join('|')}|`);
    lines.push(`| Random (same users) | ${keys.map((k) => f(n.baselines.random[k])).join(' | ')} |`);
    lines.push(`| Pop (same users) | ${keys.map((k) => f(n.baselines.pop[k])).join(' | ')} |`);
    lines.push(`| mean log-prob | ${keys.map((k) => f(n.mean[k])).join(' | ')} |`);
    lines.push(`| sum log-prob | ${keys.map((k) => f(n.sum[k])).join(' | ')} |`, '');
  }
  return lines.join('\n');
}

/** Reads a finished small LM's report. */
export function readSmallLmReport(dir: string): SmallLmReport {
  return JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as SmallLmReport;
}
