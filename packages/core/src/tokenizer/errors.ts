/**
 * Errors raised while loading or running a tokenizer.
 */

/**
 * Raised when a tokenizer file is malformed, uses a component this module does not implement, or
 * when an input cannot be tokenized (for example a missing unknown token).
 * `source` names the file (or the `source` given to `Tokenizer.fromJSON`) the problem came from.
 */
export class TokenizerError extends Error {
  /** The file or label the tokenizer was loaded from, when known. */
  readonly source: string | undefined;

  constructor(message: string, source?: string) {
    super(source ? `${source}: ${message}` : message);
    this.name = 'TokenizerError';
    this.source = source;
  }
}

/** @internal Short, printable description of a received value for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
