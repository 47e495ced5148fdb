/**
 * A small BERT trained from scratch by masked-language modelling on a list of
 * documents, with a WordPiece tokenizer trained on the same documents
 * (docs/METHODS.md §3.10, "Encoders"). Two users:
 *
 * - GANPrompt's attribute step (ganprompt/attributes.ts): the masked LM that
 *   fills "[MASK]" in attribute prompts, trained on item titles;
 * - `llmrec lm pretrain-mlm`: the item text encoder trained on a dataset's own
 *   item texts (title and attributes), used as `encoder: "lm:<folder>"` by
 *   TextSeq, TIGER and KAR (src/models/text/lm_encoder.ts).
 *
 * With `outDir`:
 *   outDir/tokenizer.json, tokenizer_config.json   written first; a resume reuses them
 *   outDir/checkpoint/                             resumable training state
 *   outDir/config.json, model.safetensors          the final model (Hugging Face BERT layout)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BertForMaskedLM, parseBertConfig } from '../../lm/families/bert.js';
import { savePretrained } from '../../lm/checkpoint.js';
import { maskedLmObjective } from '../../lm/objectives.js';
import { hasCheckpoint, packBlocks, pretrain, type PretrainResult, type StepReport } from '../../lm/pretrain.js';
import { MASK_TOKEN, Tokenizer, trainWordPiece } from '../../lm/tokenizer/index.js';
import { DEFAULT_SMALL_MLM, parseSmallMlmOptions, type SmallMlmOptions } from '../../config/small_mlm.js';
import { splitDocuments } from './corpus.js';

export { DEFAULT_SMALL_MLM, parseSmallMlmOptions, type SmallMlmOptions };

export interface SmallMlm {
  model: BertForMaskedLM;
  tokenizer: Tokenizer;
  /** Undefined when no step ran (steps 0 or no full block). */
  training?: PretrainResult;
  corpus: { documents: number; heldOutDocuments: number; trainBlocks: number; heldOutBlocks: number };
}

export interface SmallMlmHooks {
  signal?: AbortSignal;
  log?: (s: string) => void;
  onStep?: (s: StepReport) => void;
}

/**
 * Trains the tokenizer and the BERT on `docs` (empty documents dropped;
 * options validated by parseSmallMlmOptions, so a bad one names its field). The
 * caller owns (disposes) the returned model. With `resume`, continues from
 * the checkpoint in `outDir` with the tokenizer saved there.
 */
export async function trainSmallMlm(docs: readonly string[], o: SmallMlmOptions, hooks: SmallMlmHooks = {}, outDir?: string, resume = false): Promise<SmallMlm> {
  parseSmallMlmOptions(o);
  const log = hooks.log ?? (() => {});
  const { train, heldOut } = splitDocuments(docs.filter((d) => d.length > 0), o.heldOutFraction, o.seed, 78);
  if (train.length === 0) throw new Error('small MLM: no non-empty training documents');
  // Checked before anything is written: a refused resume leaves the folder as it was.
  if (resume && (!outDir || !hasCheckpoint(outDir))) throw new Error(`small MLM: resume, but no checkpoint in ${outDir ?? '(no folder)'}; start without --resume`);
  let tok: Tokenizer;
  if (resume && outDir && existsSync(join(outDir, 'tokenizer.json'))) {
    tok = Tokenizer.fromFile(outDir);
    log(`tokenizer: reused ${join(outDir, 'tokenizer.json')} (${tok.vocabSize} tokens)`);
  } else {
    tok = trainWordPiece(train, { vocabSize: o.vocabSize });
    if (outDir) tok.save(outDir);
    log(`tokenizer: WordPiece, ${tok.vocabSize} tokens`);
  }
  const maskId = tok.tokenToId(MASK_TOKEN);
  const sep = tok.tokenToId('[SEP]');
  if (maskId === undefined || sep === undefined) throw new Error('small MLM: the WordPiece tokenizer lacks [MASK] or [SEP]');
  const config = parseBertConfig({
    model_type: 'bert', vocab_size: tok.vocabSize, hidden_size: o.hiddenSize, num_hidden_layers: o.layers,
    num_attention_heads: o.heads, intermediate_size: o.intermediateSize, max_position_embeddings: o.maxPositions,
    hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, pad_token_id: tok.tokenToId('[PAD]') ?? 0,
  });
  const model = new BertForMaskedLM(config, { seed: o.seed });
  try {
    const enc = (d: string) => tok.encode(d, { addSpecialTokens: false });
    const blocks = packBlocks(train.map(enc), sep, o.blockSize);
    const heldBlocks = heldOut.length ? packBlocks(heldOut.map(enc), sep, o.blockSize) : [];
    const corpus = { documents: train.length, heldOutDocuments: heldOut.length, trainBlocks: blocks.length, heldOutBlocks: heldBlocks.length };
    log(`corpus: ${train.length} documents (${blocks.length} blocks of ${o.blockSize} tokens), ${heldOut.length} held out (${heldBlocks.length} blocks)`);
    const specialIds = new Set(tok.addedTokens().map((t) => t.id));
    const objective = maskedLmObjective({ maskId, vocabSize: tok.vocabSize, specialIds, seed: o.seed });
    let training: PretrainResult | undefined;
    if (o.steps > 0 && blocks.length > 0) {
      training = await pretrain(model, objective, blocks, heldBlocks, {
        blockSize: o.blockSize, batchSize: o.batchSize, lr: o.lr, warmupSteps: Math.max(1, Math.floor(o.steps / 10)),
        maxSteps: o.steps, seed: o.seed, signal: hooks.signal, onStep: hooks.onStep, ...(outDir ? { checkpointEvery: o.checkpointEvery } : {}),
      }, outDir, resume);
    }
    if (outDir && !training?.interrupted) savePretrained(model, outDir);
    return { model, tokenizer: tok, training, corpus };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
