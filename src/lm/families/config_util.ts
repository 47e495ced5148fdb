/**
 * Config objects of the language-model families: Hugging Face `config.json`
 * field names, validated by zod with HF's defaults filled in, unknown fields
 * kept (HF configs carry many) so a config round-trips to JSON unchanged.
 */
import type { z } from 'zod';
import { parseWith } from '../../util/validate.js';

/** Parses `json` with `schema`; errors name the source and every bad field. */
export function parseConfig<S extends z.ZodType>(schema: S, json: unknown, source = 'config'): z.output<S> {
  return parseWith(schema, json, 'invalid model config', source);
}

/** A JSON-safe copy without undefined fields. */
export function configToJSON(cfg: object): Record<string, unknown> {
  return JSON.parse(JSON.stringify(cfg)) as Record<string, unknown>;
}
