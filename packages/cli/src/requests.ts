/**
 * Edit requests from the command line (`--prompt/--subject/--target`) or a file
 * (`--requests`): JSONL of `{prompt, subject, target_new}` lines, a JSON array of the same,
 * or any dataset `@medit/data` reads (CounterFact, zsRE, KnowEdit), whose cases' requests are used.
 */
import * as fs from 'node:fs';

import { type EditRequest, ArgumentError, IOError, templateFromPrompt, validateRequest } from '@medit/core';
import { type EditCase, DatasetSchemaError, parseDataset, readDataset } from '@medit/data';

import { type Args, UsageError } from './args';
import { type CliIO } from './output';
import { requireFile, resolvePath } from './common';

/** The core request of a dataset case. */
export function caseRequest(c: EditCase): EditRequest {
  const { prompt, subject, targetNew, targetTrue } = c.request;
  return targetTrue === undefined ? { prompt, subject, targetNew } : { prompt, subject, targetNew, targetTrue };
}

function looksLikePlainRequest(rec: unknown): boolean {
  return typeof rec === 'object' && rec !== null && 'prompt' in rec && 'subject' in rec && ('target_new' in rec || 'targetNew' in rec);
}

/** Reads a requests file (.json or .jsonl); errors name the file, record and field. */
export function readRequestsFile(file: string): EditRequest[] {
  const text = fs.readFileSync(requireFile(file, 'requests file'), 'utf8');
  let cases: EditCase[];
  if (file.endsWith('.jsonl')) {
    cases = readDataset(file, { format: 'jsonl' }).cases;
  } else {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new IOError(`${file}: invalid JSON (${(err as Error).message})`);
    }
    const records = Array.isArray(raw) ? raw : [raw];
    if (records.length === 0) throw new ArgumentError(`${file}: no edit requests in the file`);
    if (looksLikePlainRequest(records[0])) {
      // medit's own request records (camelCase targetNew accepted too), validated by the JSONL reader.
      const lines = records.map((r) => {
        if (typeof r !== 'object' || r === null) return JSON.stringify(r);
        const { targetNew, targetTrue, ...rest } = r as Record<string, unknown>;
        return JSON.stringify({ ...rest, ...(targetNew !== undefined ? { target_new: targetNew } : {}), ...(targetTrue !== undefined ? { target_true: targetTrue } : {}) });
      });
      try {
        cases = parseDataset(lines.join('\n'), { format: 'jsonl', file }).cases;
      } catch (err) {
        // The records were re-serialised one per line: line numbers would point nowhere in the file.
        if (err instanceof DatasetSchemaError && err.line !== undefined) {
          const problem = err.message.slice(err.message.indexOf(`field "${err.field}": `) + `field "${err.field}": `.length);
          throw new DatasetSchemaError(file, err.index, err.field, problem);
        }
        throw err;
      }
    } else {
      cases = parseDataset(Array.isArray(raw) ? text : JSON.stringify([raw]), { file }).cases;
    }
  }
  if (cases.length === 0) throw new ArgumentError(`${file}: no edit requests in the file`);
  const requests = cases.map(caseRequest);
  requests.forEach((r, i) => validateRequest(r, i));
  return requests;
}

/** The requests of `medit edit`: either the three flags or `--requests FILE`. */
export function requestsFromArgs(io: CliIO, args: Args): EditRequest[] {
  const file = args.string('requests');
  const single = ['prompt', 'subject', 'target'].filter((f) => args.has(f));
  if (file !== undefined) {
    if (single.length > 0) throw new UsageError(`--requests cannot be combined with --${single[0]}`, 'edit');
    return readRequestsFile(resolvePath(io, file));
  }
  if (single.length === 0) throw new UsageError('give the edit with --prompt, --subject and --target, or a file with --requests', 'edit');
  const prompt = args.required('prompt', 'e.g. --prompt "{} is a citizen of"');
  const subject = args.string('subject');
  const target = args.string('target');
  if (subject === undefined) throw new UsageError('missing required option --subject (the entity the prompt is about)', 'edit');
  if (target === undefined) throw new UsageError('missing required option --target (the new answer)', 'edit');
  if (subject.trim() === '') throw new ArgumentError('--subject is empty');
  if (target.trim() === '') throw new ArgumentError('--target is empty: give the new answer, e.g. --target "Kesmira"');
  const holes = prompt.split('{}').length - 1;
  if (holes > 1) throw new ArgumentError(`--prompt must contain at most one "{}" (where the subject goes) but has ${holes}`);
  // A full prompt ("Varn Oltega is a citizen of") becomes a template around the subject.
  const template = holes === 1 ? prompt : templateFromPrompt(prompt, subject);
  const request: EditRequest = { prompt: template, subject, targetNew: target };
  validateRequest(request, 0);
  return [request];
}
