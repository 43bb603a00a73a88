/**
 * Helpers for tests of edit records (fact-world's and fact-base's): the real datasets' trimmed
 * samples, the field paths and value types of records, and every text a record holds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const REFERENCE = join(__dirname, '../../../test-fixtures/factworld/reference');

/** The records of a trimmed real sample in test-fixtures/factworld/reference (e.g. "zsre_sample.json"). */
export function referenceRecords(file: string): unknown[] {
  return JSON.parse(readFileSync(join(REFERENCE, file), 'utf8')) as unknown[];
}

/** Paths with value types, e.g. "requested_rewrite.target_new.str:string", "answers[]:string". */
function shape(x: unknown, path = ''): Set<string> {
  const out = new Set<string>();
  if (Array.isArray(x)) {
    out.add(`${path}:array`);
    for (const v of x) for (const s of shape(v, `${path}[]`)) out.add(s);
  } else if (x !== null && typeof x === 'object') {
    out.add(`${path}:object`);
    for (const [k, v] of Object.entries(x)) for (const s of shape(v, `${path}.${k}`)) out.add(s);
  } else out.add(`${path}:${typeof x}`);
  return out;
}

/** Every path with its value type that occurs in any of the records. */
export function shapesOf(records: readonly unknown[]): Set<string> {
  return new Set(records.flatMap((r) => [...shape(r)]));
}

/** The members of `a` that `b` lacks. */
export function missingFrom(a: ReadonlySet<string>, b: ReadonlySet<string>): string[] {
  return [...a].filter((x) => !b.has(x));
}

/** Every string in a JSON value, depth first. */
export function stringsIn(x: unknown): string[] {
  return typeof x === 'string' ? [x] : Array.isArray(x) ? x.flatMap(stringsIn) : x && typeof x === 'object' ? Object.values(x).flatMap(stringsIn) : [];
}
