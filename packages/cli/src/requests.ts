/**
 * Edit requests from the command line (`--prompt/--subject/--target`, with `--paraphrase` and
 * `--neighbour` prompts to check) or a file (`--requests`): JSONL of `{prompt, subject,
 * target_new}` lines, a JSON array of the same, or any dataset `@medit/data` reads (CounterFact,
 * zsRE, KnowEdit), whose cases bring their paraphrase and neighbourhood prompts along.
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

/** Reads a requests file (.json or .jsonl) as cases; errors name the file, record and field. */
export function readRequestsFile(file: string): EditCase[] {
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
  cases.forEach((c, i) => validateRequest(caseRequest(c), i));
  return cases;
}

/**
 * The edits of `medit edit` as cases: either the three flags (plus `--paraphrase` /
 * `--neighbour` prompts, checked before and after) or `--requests FILE`.
 */
export function editCasesFromArgs(io: CliIO, args: Args): EditCase[] {
  const file = args.string('requests');
  const single = ['prompt', 'subject', 'target', 'target-true', 'paraphrase', 'neighbour'].filter((f) => args.has(f));
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
  const targetTrue = args.string('target-true');
  if (targetTrue !== undefined && targetTrue.trim() === '') throw new ArgumentError('--target-true is empty: give the answer the model gives now, or leave the flag out');
  const request: EditRequest = targetTrue === undefined ? { prompt: template, subject, targetNew: target } : { prompt: template, subject, targetNew: target, targetTrue };
  validateRequest(request, 0);
  for (const f of ['paraphrase', 'neighbour']) {
    if (args.list(f).some((p) => p.trim() === '')) throw new ArgumentError(`--${f} is empty: give a full prompt, e.g. --${f} "${f === 'paraphrase' ? `${subject} holds the citizenship of` : 'Rakem Boskre is a citizen of'}"`);
  }
  return [
    {
      id: '0',
      request,
      rephrasePrompts: args.list('paraphrase'),
      // the neighbours' answers are whatever the model answers before the edit
      localityPrompts: args.list('neighbour').map((p) => ({ prompt: p, answer: '' })),
      portabilityPrompts: [],
      generationPrompts: [],
      source: { format: 'jsonl', file: '(command line)', index: 0 },
    },
  ];
}
