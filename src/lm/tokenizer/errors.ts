/** Errors of the tokenizer layer. */

/**
 * A tokenizer file (or in-memory tokenizer JSON) that cannot be used. `file`
 * names the source (a path, or a label such as `<json>` for `fromJSON`) and
 * `field` the JSON path of the offending value (`model.type`,
 * `added_tokens[3].id`, `(json)` for a parse error, `(file)` for I/O).
 */
export class TokenizerError extends Error {
  /** The file (or source label) the error is about. */
  readonly file: string;
  /** JSON path of the offending field. */
  readonly field: string;
  constructor(file: string, field: string, detail: string, options?: { cause?: unknown }) {
    super(`${file}: ${field}: ${detail}`, options);
    this.name = 'TokenizerError';
    this.file = file;
    this.field = field;
  }
}
