/**
 * The LM folder of a yes/no method run (TALLRec, CoLLM, GANPrompt): the small
 * LM llmrec trains on the data, or a pretrained causal LM the user brings
 * with `lm.dir` (a Hugging Face folder of a llama, mistral, qwen2 or gpt2
 * model). A pretrained tokenizer has none of the recommender slots
 * (`<UserID>`, `<ItemID>`, `<Guide>`): they are added as special tokens and
 * the model's token embeddings grow to cover them, as transformers'
 * `add_special_tokens` + `resize_token_embeddings` do; the new rows start at
 * the mean embedding (docs/METHODS.md §5, "Bringing a pretrained LM").
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CausalLM } from '../../lm/families/decoder.js';
import { familyOf } from '../../lm/families/index.js';
import { loadPretrained, readConfig, weightFiles } from '../../lm/checkpoint.js';
import { REC_SPECIAL_TOKENS, Tokenizer } from '../../lm/tokenizer/index.js';

/**
 * Refuses, before a run writes anything, an `lm.dir` the yes/no methods cannot
 * train on: no folder, no readable config, not a causal LM, no weights, no
 * tokenizer.json (the error names the field and the folder).
 */
export function checkRecLmFolder(dir: string): void {
  const where = `lm.dir ${dir}`;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${where}: no such folder`);
  let family;
  try {
    family = familyOf(readConfig(dir), join(dir, 'config.json'));
    weightFiles(dir);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
  }
  if (family.kind !== 'causal') throw new Error(`${where}: a ${family.family} model (${family.kind}); the yes/no methods need a causal LM (llama, mistral, qwen2 or gpt2)`);
  if (!existsSync(join(dir, 'tokenizer.json'))) throw new Error(`${where}: no tokenizer.json (the LM's tokenizer must be in its folder)`);
}

/** The folder's tokenizer with the recommender slots; `added` lists the slots it lacked. */
export function recTokenizer(dir: string): { tokenizer: Tokenizer; added: string[] } {
  const tokenizer = Tokenizer.fromFile(dir);
  const added = REC_SPECIAL_TOKENS.filter((t) => tokenizer.tokenToId(t) === undefined);
  if (added.length > 0) tokenizer.addSpecialTokens(added);
  return { tokenizer, added };
}

/** The embedding rows `tokenizer` needs: every id, the slots included (should its ids have gaps). */
export function recVocabRows(tokenizer: Tokenizer): number {
  return Math.max(tokenizer.vocabSize, ...REC_SPECIAL_TOKENS.map((t) => (tokenizer.tokenToId(t) ?? -1) + 1));
}

/** The folder's causal LM, its token embeddings grown to every id of `tokenizer` (from recTokenizer). */
export function loadRecLm(dir: string, tokenizer: Tokenizer): CausalLM {
  const m = loadPretrained(dir, { minVocabSize: recVocabRows(tokenizer) }).model as unknown as CausalLM;
  if (typeof m.forward !== 'function' || !('hiddenSize' in m)) {
    m.dispose();
    throw new Error(`${dir}: not a causal LM (the yes/no methods need a llama, mistral, qwen2 or gpt2 checkpoint)`);
  }
  return m;
}
