/**
 * A tiny served run for the serve tests (docs/SERVING.md): a synthetic shop,
 * split by the protocol, Pop + SASRec + BPR-MF fitted for one epoch and saved
 * as a benchmark run directory (config.json, data.json, models/<label>/), plus
 * a tiny random LM folder: LLaMA-style with a BPE tokenizer carrying the
 * recommender tokens (enough for the yes/no re-rank and completions paths),
 * or a GPT-2 without them, as a pretrained checkpoint comes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import { itemSentence } from '../src/data/item_text.js';
import type { ProtocolConfig, SplitDataset } from '../src/data/types.js';
import { createRecommender } from '../src/models/registry.js';
import { trainBpe, withRecSpecialTokens } from '../src/lm/tokenizer/index.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { Gpt2LMHeadModel, parseGpt2Config } from '../src/lm/families/gpt2.js';
import { savePretrained } from '../src/lm/checkpoint.js';

export const SHOP = { users: 60, items: 200, seed: 11 };
export const PROTOCOL: ProtocolConfig = { ratingThreshold: null, kCore: 2, maxHistory: 10, numNegatives: 9, seed: 5, dedupeConsecutive: false };

export async function writeRun(dir: string, models: { label: string; name: string; config: Record<string, unknown> }[] = [
  { label: 'pop', name: 'pop', config: {} },
  { label: 'sasrec', name: 'sasrec', config: { d: 16, blocks: 1, heads: 1 } },
  { label: 'bprmf', name: 'bprmf', config: { d: 16 } },
]): Promise<SplitDataset> {
  await initEngine();
  const data = applyProtocol(generateShop(SHOP), PROTOCOL);
  mkdirSync(join(dir, 'models'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ data: { name: 'synthetic-shop', synthetic: SHOP }, protocol: PROTOCOL, models: models.map((m) => ({ name: m.name, label: m.label, config: m.config })) }, null, 2));
  for (const m of models) {
    const model = createRecommender(m.name, m.config);
    await model.fit(data, { epochs: 1, batchSize: 64, lr: 0.01, patience: 1, validMetric: 'auc', validProtocol: 'sampled', seed: 1 });
    await model.save(join(dir, 'models', m.label));
    model.dispose();
  }
  return data;
}

export function writeLm(dir: string, data: SplitDataset, kind: 'llmrec' | 'pretrained' = 'llmrec'): void {
  const docs = [...data.itemMeta.values()].map((m) => itemSentence(m)).concat(Array(20).fill('Answer: Yes. Answer: No. Will the user like the target item?'));
  const tok = trainBpe(docs, { vocabSize: 600 });
  const eos = tok.specialTokens.eos?.id ?? null;
  // 'llmrec': the recommender slots in the tokenizer and the embeddings (what llmrec's small LM has);
  // 'pretrained': a checkpoint as a user brings it, a GPT-2 whose tokenizer has no slots and whose vocabulary is exactly its tokenizer's.
  if (kind === 'llmrec') withRecSpecialTokens(tok);
  const lm = kind === 'llmrec'
    ? new LlamaForCausalLM(parseLlamaConfig({
      model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 1024, tie_word_embeddings: true, eos_token_id: eos,
    }), { seed: 3 })
    : new Gpt2LMHeadModel(parseGpt2Config({ model_type: 'gpt2', vocab_size: tok.vocabSize, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 1024, eos_token_id: eos }), { seed: 3 });
  mkdirSync(dir, { recursive: true });
  tok.save(dir);
  savePretrained(lm, dir);
  lm.dispose();
}
