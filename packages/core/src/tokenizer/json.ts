/**
 * Typed field access on parsed tokenizer.json content. Every accessor names the source file and the
 * JSON path of the field in its error, so that a malformed file is reported precisely.
 * @internal
 */
import { TokenizerError, describe } from './errors';

/** A JSON object with its path inside the file, e.g. `model` or `pre_tokenizer.pretokenizers[1]`. */
export interface JsonNode {
  readonly value: Record<string, unknown>;
  readonly path: string;
}

/** @internal */
export class JsonReader {
  constructor(readonly source: string) {}

  fail(message: string): never {
    throw new TokenizerError(message, this.source);
  }

  private expected(what: string, path: string, value: unknown): never {
    this.fail(`Expected ${what} for "${path}" but received ${describe(value)}`);
  }

  node(value: unknown, path: string): JsonNode {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.expected('an object', path, value);
    return { value: value as Record<string, unknown>, path };
  }

  child(n: JsonNode, key: string): JsonNode {
    return this.node(n.value[key], join(n.path, key));
  }

  /** An optional object: undefined for a missing or null field. */
  optChild(n: JsonNode, key: string): JsonNode | undefined {
    const v = n.value[key];
    return v === undefined || v === null ? undefined : this.node(v, join(n.path, key));
  }

  str(n: JsonNode, key: string): string {
    const v = n.value[key];
    if (typeof v !== 'string') this.expected('a string', join(n.path, key), v);
    return v;
  }

  optStr(n: JsonNode, key: string): string | undefined {
    const v = n.value[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.expected('a string or null', join(n.path, key), v);
    return v;
  }

  bool(n: JsonNode, key: string, fallback?: boolean): boolean {
    const v = n.value[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'boolean') this.expected('a boolean', join(n.path, key), v);
    return v;
  }

  optBool(n: JsonNode, key: string): boolean | undefined {
    const v = n.value[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') this.expected('a boolean or null', join(n.path, key), v);
    return v;
  }

  int(n: JsonNode, key: string, fallback?: number): number {
    const v = n.value[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.expected('a non-negative integer', join(n.path, key), v);
    return v;
  }

  optNum(n: JsonNode, key: string): number | undefined {
    const v = n.value[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.expected('a number or null', join(n.path, key), v);
    return v;
  }

  arr(n: JsonNode, key: string): unknown[] {
    const v = n.value[key];
    if (!Array.isArray(v)) this.expected('an array', join(n.path, key), v);
    return v;
  }

  /** The `type` tag of a component object. */
  type(n: JsonNode): string {
    return this.str(n, 'type');
  }

  /** Throws the standard error for a component type this module does not implement. */
  unsupported(kind: string, n: JsonNode, supported: readonly string[]): never {
    this.fail(
      `Unsupported ${kind} type "${String(n.value.type)}" at "${n.path}" (supported: ${supported.join(', ')})`,
    );
  }
}

/** @internal */
export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}
