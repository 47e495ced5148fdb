/**
 * Backends: one `LlmBackend` for in-process llmrec LMs, GGUF files and
 * OpenAI-compatible servers (types.ts), a factory and a parser of CLI-style
 * spec strings. See docs/LLM.md.
 */
import { GgufBackend, type GgufBackendOptions } from './gguf.js';
import { LocalBackend, type LocalBackendOptions } from './local.js';
import { OpenAiBackend, type OpenAiBackendOptions } from './openai.js';
import type { LlmBackend } from './types.js';

export * from './types.js';
export { LocalBackend, type LocalBackendOptions } from './local.js';
export { GgufBackend, type GgufBackendOptions, choicesGrammar, gbnfLiteral } from './gguf.js';
export { OpenAiBackend, type OpenAiBackendOptions, ResponseCache, canonicalJson, resolveOpenAiEndpoint } from './openai.js';

export type BackendSpec =
  | ({ kind: 'local' } & LocalBackendOptions)
  | ({ kind: 'gguf' } & GgufBackendOptions)
  | ({ kind: 'openai' } & OpenAiBackendOptions);

/** Opens a backend (loads the model for local and gguf). */
export async function createBackend(spec: BackendSpec): Promise<LlmBackend> {
  switch (spec.kind) {
    case 'local': return new LocalBackend(spec);
    case 'gguf': return GgufBackend.open(spec);
    case 'openai': return new OpenAiBackend(spec);
    default: throw new Error(`unknown backend kind ${JSON.stringify((spec as { kind: unknown }).kind)} (expected local, gguf or openai)`);
  }
}

/**
 * Parses a CLI-style spec:
 *
 *   local:PATH              a Hugging Face folder llmrec loads (config.json, model.safetensors, tokenizer.json)
 *   gguf:FILE               a GGUF file
 *   openai:MODEL            a model on the server of LLMREC_OPENAI_BASE_URL / OPENAI_BASE_URL
 *   openai:MODEL@URL        a model on the server at URL (http:// or https://, e.g. http://localhost:8000/v1)
 *
 * Options not in the string (timeouts, cache, ...) come from `extra`.
 */
export function parseBackendSpec(s: string, extra: Record<string, unknown> = {}): BackendSpec {
  const m = /^(local|gguf|openai):(.+)$/s.exec(s.trim());
  if (!m) throw new Error(`backend spec ${JSON.stringify(s)}: expected local:PATH, gguf:FILE, openai:MODEL or openai:MODEL@URL`);
  const [, kind, rest] = m;
  if (kind === 'local') return { ...extra, kind, path: rest };
  if (kind === 'gguf') return { ...extra, kind, path: rest };
  const at = rest.search(/@https?:\/\//);
  const model = at < 0 ? rest : rest.slice(0, at);
  if (model === '') throw new Error(`backend spec ${JSON.stringify(s)}: empty model name`);
  return at < 0 ? { ...extra, kind: 'openai', model } : { ...extra, kind: 'openai', model, baseURL: rest.slice(at + 1) };
}
