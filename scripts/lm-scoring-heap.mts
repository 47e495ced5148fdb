// The wasm heap while the yes/no scorer (src/methods/yesno.ts) scores 5 cases x 10 candidates
// of a synthetic shop on every shipped template, twice, with an LM folder (the recommender slots
// added as in a run; `lora`: GPT-2's default LoRA targets applied first). Prints, after each
// template, the heap's size (its high-water mark: it never shrinks) and the live tensors, so a
// forward that holds more than it needs shows as heap far above the tensors (docs/RESULTS.md,
// "Real-size LMs in the in-process engine").
// Usage: node --import tsx scripts/lm-scoring-heap.mts LM_DIR [lora]
import { initEngine, tf } from '../src/engine/index.js';
import { heapBuffer, wasmBackend } from '../src/engine/backend.js';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import { loadRecLm, recTokenizer, splitCases, YesNoLlm } from '../src/methods/yesno.js';
import { loadTemplates } from '../src/methods/prompts.js';
import { applyLora, parseLoraConfig } from '../src/lm/lora.js';
import { LORA_TARGETS } from '../src/methods/ganprompt/pipeline.js';

const [dir, lora] = process.argv.slice(2);
if (!dir) { console.error('usage: node --import tsx scripts/lm-scoring-heap.mts LM_DIR [lora]'); process.exit(2); }
await initEngine();
const data = applyProtocol(generateShop({ users: 100, items: 400, seed: 11 }), { ratingThreshold: null, kCore: 2, maxHistory: 10, numNegatives: 9, seed: 5 });
const { tokenizer } = recTokenizer(dir);
const lm = loadRecLm(dir, tokenizer);
if (lora === 'lora') applyLora(lm, parseLoraConfig({ r: 8, lora_alpha: 16, target_modules: LORA_TARGETS.gpt2 }));
const m = new YesNoLlm(lm, tokenizer, data);
const cases = splitCases(data, 'test', [0, 1, 2, 3, 4]);
const { seen, unseen } = loadTemplates();
const mib = (x: number) => (x / 2 ** 20).toFixed(0);
console.log(`start: heap ${mib(heapBuffer(wasmBackend()).byteLength)} MiB, live tensors ${mib(tf.memory().numBytes)} MiB`);
for (let rep = 0; rep < 2; rep++) {
  for (const t of [...seen, ...unseen]) {
    await m.scoreInterruptible(cases, t, m.originalTitles, {});
    console.log(`${rep} ${t.id}: heap ${mib(heapBuffer(wasmBackend()).byteLength)} MiB, live tensors ${mib(tf.memory().numBytes)} MiB (${tf.memory().numTensors})`);
  }
}
