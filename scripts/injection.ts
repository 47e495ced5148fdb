/**
 * Prompt-injection evaluation (issue 15; src/methods/injection.ts; results in
 * docs/INJECTION.md). Trains a tiny yes/no recommender on the synthetic shop
 * with clean titles (LoRA; for CoLLM / GANPrompt also the mapping layer), then
 * scores each test user's candidates with clean titles and with hostile
 * titles on a share of the catalogue, with the prompt code before issue 15
 * (LegacyYesNoLlm) and with the mitigations, and prints the rank shifts as a
 * Markdown table.
 *
 *   LLMREC_BLAS_THREADS=1 node --import tsx scripts/injection.ts [share=0.2] [steps=60] [users=40]
 */
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import { itemSentence } from '../src/data/item_text.js';
import { initEngine } from '../src/engine/index.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { applyLora, parseLoraConfig } from '../src/lm/lora.js';
import { trainBpe, withRecSpecialTokens } from '../src/lm/tokenizer/index.js';
import { CollabSignal, DEFAULT_GUIDE } from '../src/methods/collab.js';
import { injectTitles, LegacyYesNoLlm, rankShift, type RankShift } from '../src/methods/injection.js';
import { MappingLayer } from '../src/methods/mapping.js';
import { loadTemplates } from '../src/methods/prompts.js';
import { sampleRows, splitCases, yesNoExamples, YesNoLlm } from '../src/methods/yesno.js';
import { createRecommender } from '../src/models/registry.js';

const num = (i: number, d: number) => { const v = process.argv[i] === undefined ? d : Number(process.argv[i]); if (!Number.isFinite(v)) throw new Error(`argument ${i - 1} must be a number, got '${process.argv[i]}'`); return v; };
const share = num(2, 0.2);
const steps = num(3, 60);
const users = num(4, 40);

await initEngine();
const data = applyProtocol(generateShop({ users: 120, items: 150, seed: 11 }), { ratingThreshold: null, kCore: 2, maxHistory: 8, numNegatives: 9, seed: 3 });
const templates = loadTemplates().seen;
const tok = trainBpe([...data.itemMeta.values()].map((m) => itemSentence(m)).concat(templates.map((t) => `${t.instruction} Answer: Yes. Answer: No.`)), { vocabSize: 700 });
withRecSpecialTokens(tok);
const collabModel = createRecommender('bprmf', { d: 16 });
await collabModel.fit(data, { epochs: 3, batchSize: 64, lr: 0.01, patience: 3, validMetric: 'auc', validProtocol: 'sampled', seed: 1 });
const trainCases = splitCases(data, 'valid');
const examples = yesNoExamples(trainCases, 1, 5);
const evalCases = splitCases(data, 'test', sampleRows(data.test.count, users, 9));

const rows: string[] = [];
for (const kind of ['TALLRec', 'CoLLM', 'GANPrompt'] as const) {
  const lm = new LlamaForCausalLM(parseLlamaConfig({
    model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 1024, tie_word_embeddings: true,
  }), { seed: 2 });
  applyLora(lm, parseLoraConfig({ r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'up_proj', 'down_proj'] }));
  const opts = kind === 'TALLRec' ? {} : kind === 'CoLLM' ? { idVectors: true } : { idVectors: true, guide: DEFAULT_GUIDE };
  const make = (legacy: boolean) => {
    const m = legacy ? new LegacyYesNoLlm(lm, tok, data, opts) : new YesNoLlm(lm, tok, data, opts);
    if (kind !== 'TALLRec') m.collab = new CollabSignal(collabModel, data);
    return m;
  };
  const m = make(false);
  if (kind !== 'TALLRec') m.mapping = new MappingLayer({ inputDim: m.collab!.itemVectors().dim, outputDim: 32 }, 5);
  await m.fit(trainCases, examples, {
    steps, batchSize: 8, lr: 5e-3, weightDecay: 0, warmupSteps: 5, loss: 'bce', seed: 4, templates, titles: m.originalTitles,
    vars: m.trainables({ lora: true, mapping: kind !== 'TALLRec' }),
  });
  const legacy = make(true);
  legacy.mapping = m.mapping;
  const { injected, titles } = injectTitles(data.numItems, share, 21, m.originalTitles);
  const t = templates[0];
  const clean = m.score(evalCases, t, m.originalTitles);
  const before = legacy.score(evalCases, t, titles);
  const after = m.score(evalCases, t, titles);
  const fmt = (s: RankShift, label: string) => `| ${kind} | ${label} | ${s.injected} | ${s.injectedGain.toFixed(2)} | ${(100 * s.injectedUp).toFixed(0)}% / ${(100 * s.injectedDown).toFixed(0)}% | ${Object.entries(s.byKind).map(([k, v]) => `${k} ${v.toFixed(2)}`).join('; ')} | ${s.othersAbsShift.toFixed(2)} |`;
  rows.push(fmt(rankShift(evalCases, clean, before, injected), 'before'), fmt(rankShift(evalCases, clean, after, injected), 'after'));
  lm.dispose();
}
collabModel.dispose();
console.log(`share ${share}, LoRA${''} steps ${steps}, ${evalCases.length} test users x ${evalCases[0].candidates.length} candidates, template '${templates[0].id}'\n`);
console.log('| recommender | prompt code | injected candidate slots | mean rank gain of injected items | injected moved up / down | mean gain by payload | mean abs. rank shift of other items |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
