/**
 * llmrec/lm: the language-model core: tokenizers, the model families
 * (LLaMA/Qwen2/Mistral, GPT-2, T5, BERT), Hugging Face checkpoints, LoRA
 * adapters, scoring and (trie-constrained) generation.
 */
export { loadPretrained, savePretrained, readConfig } from './checkpoint.js';
export type { LoadOptions, LoadedModel, SaveOptions } from './checkpoint.js';
export { Tokenizer, TokenizerError, trainBpe, trainWordPiece } from './tokenizer/index.js';
export type { EncodeOptions, DecodeOptions, SpecialTokens } from './tokenizer/index.js';
export { createModel, familyOf, FAMILIES } from './families/index.js';
export type { LanguageModel, CreateOptions, FamilyEntry } from './families/index.js';
export type { CausalLM, KVCache } from './families/decoder.js';
export { LlamaForCausalLM } from './families/llama.js';
export { Gpt2LMHeadModel } from './families/gpt2.js';
export { T5Model } from './families/t5.js';
export { BertForMaskedLM } from './families/bert.js';
export { scoreContinuations, encodePrompt, nextTokenLogProbs } from './score.js';
export type { Prompt, ContinuationScores } from './score.js';
export { generate, causalStepper } from './generate.js';
export type { GenerateOptions, Generated } from './generate.js';
export { TokenTrie } from './trie.js';
export { applyLora, mergeLora, unmergeLora, removeLora, saveAdapter, loadAdapter, parseLoraConfig } from './lora.js';
export type { PeftLoraConfig } from './lora.js';
