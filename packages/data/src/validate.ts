import { DatasetSchemaError } from './errors';

/** @internal A JSON object as parsed. */
export type JsonObject = { [key: string]: unknown };

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `array(${v.length})`;
  if (typeof v === 'string') return v.length > 40 ? `string "${v.slice(0, 37)}..."` : `string "${v}"`;
  return typeof v === 'object' ? 'object' : `${typeof v} ${String(v)}`;
}

/**
 * @internal Field checks for one record; every failure becomes a {@link DatasetSchemaError} naming the
 * file, record index and JSON path.
 */
export class RecordContext {
  constructor(
    readonly file: string,
    readonly index: number,
    readonly line?: number,
  ) {}

  fail(field: string, problem: string): never {
    throw new DatasetSchemaError(this.file, this.index, field, problem, this.line);
  }

  expected(field: string, what: string, got: unknown): never {
    return this.fail(field, `expected ${what} but received ${describe(got)}`);
  }

  object(v: unknown, field: string): JsonObject {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.expected(field || '<record>', 'an object', v);
    return v as JsonObject;
  }

  /** A required string; `nonEmpty` rejects "" and whitespace-only strings. */
  string(obj: JsonObject, key: string, path: string, nonEmpty = true): string {
    const v = obj[key];
    if (v === undefined) this.fail(path, 'missing required field');
    if (typeof v !== 'string') this.expected(path, 'a string', v);
    if (nonEmpty && v.trim() === '') this.fail(path, 'expected a non-empty string but received ""');
    return v;
  }

  optionalString(obj: JsonObject, key: string, path: string): string | undefined {
    if (obj[key] === undefined || obj[key] === null) return undefined;
    return this.string(obj, key, path);
  }

  /** A required array of non-empty strings (may be empty unless `minLength` says otherwise). */
  stringArray(obj: JsonObject, key: string, path: string, minLength = 0): string[] {
    const v = obj[key];
    if (v === undefined) this.fail(path, 'missing required field');
    if (!Array.isArray(v)) this.expected(path, 'an array of strings', v);
    if (v.length < minLength) this.fail(path, `expected at least ${minLength} element(s) but received none`);
    v.forEach((s, i) => {
      if (typeof s !== 'string') this.expected(`${path}[${i}]`, 'a string', s);
      if (s.trim() === '') this.fail(`${path}[${i}]`, 'expected a non-empty string but received ""');
    });
    return v as string[];
  }

  optionalStringArray(obj: JsonObject, key: string, path: string): string[] | undefined {
    if (obj[key] === undefined || obj[key] === null) return undefined;
    return this.stringArray(obj, key, path);
  }

  /** A string or an integer id, returned as a string. */
  id(obj: JsonObject, key: string, path: string): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' && Number.isInteger(v)) return String(v);
    if (typeof v === 'string' && v !== '') return v;
    return this.expected(path, 'an integer or non-empty string id', v);
  }
}

/** @internal `{}` occurrences in a template. */
export function countPlaceholders(s: string): number {
  return s.split('{}').length - 1;
}

/**
 * @internal Build a ROME-style template from a prompt that already contains the subject, by
 * replacing the subject's FIRST occurrence with `{}`. (EasyEdit's `prompt.replace(subject, "{}")`
 * replaces every occurrence and then trips ROME's "exactly one {}" assertion; see
 * locate-then-edit spec §1.1.) The subject must occur; the result must hold exactly one `{}`.
 */
export function templateFromPrompt(
  ctx: RecordContext,
  prompt: string,
  subject: string,
  promptField: string,
  subjectField: string,
): string {
  if (countPlaceholders(prompt) > 0) {
    ctx.fail(promptField, `prompt already contains "{}" although the subject is substituted in this format: "${prompt}"`);
  }
  const at = prompt.indexOf(subject);
  if (at < 0) ctx.fail(subjectField, `subject "${subject}" does not occur in ${promptField} "${prompt}"`);
  return prompt.slice(0, at) + '{}' + prompt.slice(at + subject.length);
}

/** @internal Check a given template holds exactly one `{}`. */
export function checkTemplate(ctx: RecordContext, template: string, field: string): string {
  const n = countPlaceholders(template);
  if (n !== 1) ctx.fail(field, `expected a template with exactly one "{}" but found ${n}: "${template}"`);
  return template;
}
