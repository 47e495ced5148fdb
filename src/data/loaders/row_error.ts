/**
 * The row-level error of the loaders and the value shortener of their
 * messages, in a module of their own so the row helpers (common.ts) and the
 * number parser (numbers.ts) can both use them without an import cycle.
 */
/**
 * A problem with one row: thrown inside row parsers, turned into a DataError
 * with the file and line by the row loop, or counted when skipping bad rows.
 */
export class RowError extends Error {
  readonly field: string | undefined;
  constructor(field: string | undefined, detail: string) {
    super(detail);
    this.field = field;
  }
}

/** Shortens a value for an error message. */
export function clip(s: string, max = 40): string {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}
