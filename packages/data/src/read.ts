import { readFileSync } from 'node:fs';
import { DatasetFormatError, DatasetParseError } from './errors';
import { counterFactLooksLike, mapCounterFact } from './formats/counterfact';
import { counterFactEasyEditLooksLike, mapCounterFactEasyEdit } from './formats/counterfact-easyedit';
import { mapJsonlRequest } from './formats/jsonl';
import { knowEditLooksLike, mapKnowEdit } from './formats/knowedit';
import { mapZsre, ZsreTargetConvention, zsreLooksLike } from './formats/zsre';
import { parseJson } from './json';
import { DATASET_FORMATS, DatasetFormat, EditCase, EditDataset } from './types';
import { RecordContext } from './validate';

/** Options for {@link readDataset} / {@link parseDataset}. */
export interface ReadDatasetOptions {
  /** Force a format; when omitted it is detected from the first record. */
  format?: DatasetFormat;
  /** zsRE only: which field is the edit target (default `'alt'`, EasyEdit/MEND). */
  zsreTarget?: ZsreTargetConvention;
}

/** The formats {@link detectFormat} tells apart from a JSON array's first record (JSONL is a file-name matter). */
export type ArrayFormat = Exclude<DatasetFormat, 'jsonl'>;

const DETECTORS: Record<ArrayFormat, (rec: Record<string, unknown>) => boolean> = {
  counterfact: counterFactLooksLike,
  'counterfact-easyedit': counterFactEasyEditLooksLike,
  zsre: zsreLooksLike,
  knowedit: knowEditLooksLike,
};

/**
 * Detect the format of a JSON-array dataset from its first record.
 *
 * @throws {DatasetFormatError} when no format or more than one format matches.
 */
export function detectFormat(firstRecord: unknown, file = '<input>'): ArrayFormat {
  if (typeof firstRecord !== 'object' || firstRecord === null || Array.isArray(firstRecord)) {
    throw new DatasetFormatError(file, 'cannot detect the dataset format: record 0 is not a JSON object');
  }
  const rec = firstRecord as Record<string, unknown>;
  const hits = (Object.keys(DETECTORS) as ArrayFormat[]).filter((f) => DETECTORS[f](rec));
  if (hits.length === 1) return hits[0];
  const keys = Object.keys(rec).slice(0, 12).join(', ');
  if (hits.length === 0) {
    throw new DatasetFormatError(
      file,
      `cannot detect the dataset format from record 0 (keys: ${keys}); pass { format: ${DATASET_FORMATS.map((f) => `'${f}'`).join(' | ')} }` +
        ' (plain {prompt, subject, target_new} requests belong in a .jsonl file, one per line)',
    );
  }
  throw new DatasetFormatError(file, `ambiguous dataset format: record 0 (keys: ${keys}) matches ${hits.join(' and ')}; pass { format } explicitly`);
}

function mapRecord(format: DatasetFormat, raw: unknown, ctx: RecordContext, opts: ReadDatasetOptions): EditCase | string {
  switch (format) {
    case 'counterfact':
      return mapCounterFact(raw, ctx);
    case 'counterfact-easyedit':
      return mapCounterFactEasyEdit(raw, ctx);
    case 'zsre':
      return mapZsre(raw, ctx, opts.zsreTarget ?? 'alt');
    case 'knowedit':
      return mapKnowEdit(raw, ctx);
    case 'jsonl':
      return mapJsonlRequest(raw, ctx);
  }
}

/**
 * Parse dataset text already in memory. `file` labels error messages.
 *
 * A text whose first non-blank character is `[` is a JSON array of records; one starting with `{`
 * is JSONL (one record per line; always the plain-request `jsonl` format).
 *
 * @throws {DatasetParseError} malformed JSON (with line/column), {@link DatasetFormatError}
 *   undetectable/ambiguous/mismatched format, {@link DatasetSchemaError} a record that does not fit.
 */
export function parseDataset(text: string, opts: ReadDatasetOptions & { file?: string } = {}): EditDataset {
  const file = opts.file ?? '<input>';
  if (opts.format !== undefined && !DATASET_FORMATS.includes(opts.format)) {
    throw new DatasetFormatError(file, `Expected one of ${DATASET_FORMATS.join(', ')} for format but received ${String(opts.format)}`);
  }
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const first = body.trimStart()[0];
  if (first === undefined) throw new DatasetParseError(file, 'file is empty');
  const cases: EditCase[] = [];
  const skipped: EditDataset['skipped'] = [];

  if (first === '{') {
    if (opts.format !== undefined && opts.format !== 'jsonl') {
      throw new DatasetFormatError(file, `format '${opts.format}' expects a JSON array of records, but the file starts with "{" (JSONL)`);
    }
    const lines = body.split('\n');
    let index = 0;
    lines.forEach((rawLine, i) => {
      const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
      if (line.trim() === '') return;
      const rec = parseJson(line, file, i);
      const out = mapRecord('jsonl', rec, new RecordContext(file, index, i + 1), opts);
      if (typeof out === 'string') skipped.push({ index, reason: out });
      else cases.push(out);
      index++;
    });
    return { format: 'jsonl', file, cases, skipped };
  }

  if (first !== '[') {
    throw new DatasetParseError(file, `expected a JSON array ("[") or JSONL objects ("{") but the file starts with "${first}"`);
  }
  if (opts.format === 'jsonl') {
    throw new DatasetFormatError(file, "format 'jsonl' expects one JSON object per line, but the file is a JSON array");
  }
  const records = parseJson(body, file) as unknown[];
  if (!Array.isArray(records)) throw new DatasetParseError(file, 'expected a JSON array of records');
  if (records.length === 0 && opts.format === undefined) {
    throw new DatasetFormatError(file, 'cannot detect the format of an empty dataset; pass { format }');
  }
  const format = opts.format ?? detectFormat(records[0], file);
  records.forEach((rec, index) => {
    const out = mapRecord(format, rec, new RecordContext(file, index), opts);
    if (typeof out === 'string') skipped.push({ index, reason: out });
    else cases.push(out);
  });
  return { format, file, cases, skipped };
}

/**
 * Read a dataset file into {@link EditCase}s.
 *
 * @param path - JSON array file (CounterFact, EasyEdit CounterFact, zsRE, KnowEdit) or JSONL.
 * @param opts - `format` to skip detection; `zsreTarget` for zsRE.
 * @throws {DatasetParseError} | {@link DatasetFormatError} | {@link DatasetSchemaError}; an
 *   unreadable file rethrows the fs error with the path in its message.
 * @example
 * ```ts
 * const ds = readDataset('test-fixtures/datasets/counterfact_sample.json');
 * ds.cases[0].request; // { prompt: '{}, who has a citizenship from', subject: 'Luigi Snozzi', ... }
 * ```
 */
export function readDataset(path: string, opts: ReadDatasetOptions = {}): EditDataset {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`Cannot read dataset file ${path}: ${err.message}`);
  }
  return parseDataset(text, { ...opts, file: path });
}

/** Substitute the subject into a request template (`"{} plays"` → `"LeBron James plays"`). */
export function fillTemplate(prompt: string, subject: string): string {
  // A replacer function, so "$&"-style patterns in the subject are not expanded.
  return prompt.replace('{}', () => subject);
}
