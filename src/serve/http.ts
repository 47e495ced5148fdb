/**
 * HTTP helpers shared by the server and its route plugins (docs/SERVING.md,
 * "API"): the API error (OpenAI's error shape naming the offending field),
 * zod validation that turns the first issue into such an error, and the JSON
 * nesting scan run before parsing a body.
 */
import { z } from 'zod';

/** An HTTP error with the offending field (OpenAI's error shape: message, type, param, code). */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly param: string | null = null, readonly code: string | null = null) {
    super(message);
  }
}

/** The JSON body of an error answer. */
export function errorBody(status: number, message: string, param: string | null, code: string | null) {
  return { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param, code } };
}

function zodError(e: z.ZodError, where: string): ApiError {
  const i = e.issues[0];
  const path = i.path.map(String);
  const param = (i.code === 'unrecognized_keys' ? [...path, ...i.keys] : path).join('.') || null;
  const named = param ?? where;
  return new ApiError(i.code === 'too_big' && i.origin === 'array' ? 413 : 400, `${where}${param ? ` field '${param}'` : ''}: ${i.message}`, named, i.code);
}

/** Validates with a zod schema; the first issue becomes a 400 (413 for too many elements) naming the field. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw zodError(r.error, where);
  return r.data;
}

/** Largest nesting depth of a JSON text (brackets outside strings), scanning without parsing. */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (c === 92) i++; else if (c === 34) inStr = false;
    } else if (c === 34) inStr = true;
    else if (c === 123 || c === 91) { if (++depth > max) { max = depth; if (max > limit) return max; } } else if (c === 125 || c === 93) depth--;
  }
  return max;
}
