/**
 * EasyEdit's `edit()` arguments as medit edit cases. The shapes follow
 * `easyeditor/editors/utils.py::_prepare_requests`: `prompts` and `target_new` (a string or a
 * list, one per edit), `ground_truth`, `subject`, `rephrase_prompts` one per edit, and
 * `locality_inputs` / `portability_inputs` as `{ <kind>: { prompt: [...], ground_truth: [...] } }`
 * with one entry per edit (a string, a list of prompts, or null for none). medit's requests
 * name the subject inside the prompt, so `subject` is required (EasyEdit's ROME and MEMIT need
 * it too).
 */
import { ArgumentError, templateFromPrompt } from '@medit/core';
import type { EditCase, LabeledPrompt } from '@medit/data';

/** One per edit: a prompt, several, or none (null). */
export type PerEdit<T> = T | readonly T[] | null;

/**
 * Locality or portability prompts of one kind: `prompt[i]` and `ground_truth[i]` belong to edit
 * i. A ground truth may be a list of aliases (KnowEdit's `["East Nuthand"]`); the first is
 * scored, as `@medit/data` reads KnowEdit.
 */
export interface EasyEditPromptSet {
  prompt: string | readonly PerEdit<string>[];
  ground_truth: string | readonly PerEdit<string | readonly string[]>[];
}

/** The arguments of {@link BaseEditor.edit}, named as EasyEdit's `BaseEditor.edit` names them. */
export interface EasyEditArgs {
  prompts: string | readonly string[];
  target_new: string | readonly string[];
  /** the answer the model gives now (KN edits its neurons; EasyEdit fills "<|endoftext|>" when absent) */
  ground_truth?: string | readonly (string | readonly string[] | null)[] | null;
  /** the subject of each prompt (it must occur in the prompt) */
  subject?: string | readonly string[];
  /** other phrasings, one per edit (a string or a list of strings) */
  rephrase_prompts?: string | readonly PerEdit<string>[];
  locality_inputs?: Readonly<Record<string, EasyEditPromptSet>>;
  portability_inputs?: Readonly<Record<string, EasyEditPromptSet>>;
  /** keep each edit in place while the next is made (EasyEdit `sequential_edit`; default false: each edit is measured on the unedited model and reverted) */
  sequential_edit?: boolean;
  /** IKE: the records demonstrations are drawn from (EasyEdit's `train_ds`): edit cases of `@medit/data`, or a dataset file it reads */
  train_ds?: readonly EditCase[] | string;
  /** also generate from each rewrite prompt and report `fluency: { ngram_entropy }` (EasyEdit's `test_generation`) */
  test_generation?: boolean;
  /** accepted for EasyEdit's signature; medit does not log per edit */
  verbose?: boolean;
}

/** The arguments {@link prepareRequests} reads; EasyEdit's others (`target_neg`, `eval_metric`, `pre_edit`, ...) are refused by name. */
const KNOWN_ARGS = ['prompts', 'target_new', 'ground_truth', 'subject', 'rephrase_prompts', 'locality_inputs', 'portability_inputs', 'sequential_edit', 'train_ds', 'test_generation', 'verbose'];

/** A prompt and its ground truth as EasyEdit records them in `requested_rewrite`. */
export interface EasyEditPromptRecord {
  prompt: string | string[];
  ground_truth: string | string[];
}

/** One edit as EasyEdit's `requested_rewrite` records it. */
export interface EasyEditRequest {
  prompt: string;
  target_new: string;
  ground_truth: string | null;
  subject: string;
  rephrase_prompt?: string | string[];
  locality: Record<string, EasyEditPromptRecord>;
  portability: Record<string, EasyEditPromptRecord>;
}

function list<T>(v: T | readonly T[], n: number, name: string): T[] {
  const xs = Array.isArray(v) ? [...(v as readonly T[])] : [v as T];
  if (xs.length !== n) throw new ArgumentError(`Expected ${n} entries for ${name} (one per prompt) but received ${xs.length}`);
  return xs;
}

const first = (g: string | readonly string[]): string => (typeof g === 'string' ? g : g[0]);

/** The prompts of one kind for edit i, with their ground truths (empty when the entry is null). */
function promptsOf(set: EasyEditPromptSet, i: number, n: number, name: string): { prompts: string[]; answers: (string | readonly string[])[] } {
  const ps = list(set.prompt as PerEdit<string> | readonly PerEdit<string>[], n, `${name}.prompt`)[i];
  const gs = list(set.ground_truth as PerEdit<string | readonly string[]> | readonly PerEdit<string | readonly string[]>[], n, `${name}.ground_truth`)[i];
  if (ps === null || ps === undefined) return { prompts: [], answers: [] };
  const prompts = typeof ps === 'string' ? [ps] : [...(ps as readonly string[])];
  // One prompt's aliases (["A", "B"]) or one answer per prompt.
  const answers = typeof gs === 'string' ? [gs] : prompts.length === 1 && Array.isArray(gs) && gs.every((g) => typeof g === 'string') ? [gs as readonly string[]] : [...((gs ?? []) as readonly (string | readonly string[])[])];
  if (answers.length !== prompts.length) throw new ArgumentError(`Expected ${prompts.length} ground truths for ${name}.ground_truth[${i}] (one per prompt) but received ${answers.length}`);
  prompts.forEach((p, j) => {
    if (typeof p !== 'string' || p === '') throw new ArgumentError(`Expected a prompt for ${name}.prompt[${i}]${prompts.length > 1 ? `[${j}]` : ''} but received ${JSON.stringify(p)}`);
    const a = answers[j];
    if (typeof first(a) !== 'string' || first(a) === '') throw new ArgumentError(`Expected a ground truth for ${name}.ground_truth[${i}]${prompts.length > 1 ? `[${j}]` : ''} but received ${JSON.stringify(a)}`);
  });
  return { prompts, answers };
}

function labeled(sets: Readonly<Record<string, EasyEditPromptSet>> | undefined, i: number, n: number, name: string): { prompts: LabeledPrompt[]; record: Record<string, EasyEditPromptRecord> } {
  const prompts: LabeledPrompt[] = [];
  const record: Record<string, EasyEditPromptRecord> = {};
  for (const [kind, set] of Object.entries(sets ?? {})) {
    const { prompts: ps, answers } = promptsOf(set, i, n, `${name}.${kind}`);
    if (ps.length === 0) continue;
    ps.forEach((p, j) => prompts.push({ prompt: p, answer: first(answers[j]), kind }));
    record[kind] = ps.length === 1 ? { prompt: ps[0], ground_truth: first(answers[0]) } : { prompt: ps, ground_truth: answers.map(first) };
  }
  return { prompts, record };
}

/**
 * The edits of EasyEdit-style arguments as medit cases (id = the edit's index) and as EasyEdit
 * records them (`requested_rewrite`).
 * @throws ArgumentError naming the argument and entry that is missing, of the wrong length, or
 *   whose subject does not occur in its prompt, and arguments of EasyEdit's medit does not take
 */
export function prepareRequests(args: EasyEditArgs): { cases: EditCase[]; requests: EasyEditRequest[] } {
  const unknown = Object.keys(args).filter((k) => !KNOWN_ARGS.includes(k));
  if (unknown.length > 0) throw new ArgumentError(`edit() argument${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} not supported by medit's EasyEdit API (supported: ${KNOWN_ARGS.join(', ')})`);
  if (args.prompts === undefined || args.target_new === undefined) throw new ArgumentError('Expected prompts and target_new (EasyEdit edit() arguments)');
  const prompts = typeof args.prompts === 'string' ? [args.prompts] : [...args.prompts];
  const n = prompts.length;
  if (n === 0) throw new ArgumentError('Expected at least one prompt in prompts');
  const targets = list(args.target_new, n, 'target_new');
  if (args.subject === undefined) {
    throw new ArgumentError('subject is required: medit locates each edit at its subject inside the prompt (pass subject: one per prompt, as EasyEdit\'s ROME and MEMIT examples do)');
  }
  const subjects = list(args.subject, n, 'subject');
  const truths = args.ground_truth === undefined || args.ground_truth === null ? prompts.map(() => null) : list(args.ground_truth, n, 'ground_truth');
  const rephrases = args.rephrase_prompts === undefined ? prompts.map(() => null) : list(args.rephrase_prompts as PerEdit<string> | readonly PerEdit<string>[], n, 'rephrase_prompts');
  const cases: EditCase[] = [];
  const requests: EasyEditRequest[] = [];
  for (let i = 0; i < n; i++) {
    const [prompt, subject, target] = [prompts[i], subjects[i], targets[i]];
    if (typeof prompt !== 'string' || prompt === '') throw new ArgumentError(`Expected a prompt for prompts[${i}] but received ${JSON.stringify(prompt)}`);
    if (typeof target !== 'string' || target.trim() === '') throw new ArgumentError(`Expected a target for target_new[${i}] but received ${JSON.stringify(target)}`);
    if (typeof subject !== 'string' || subject.trim() === '') throw new ArgumentError(`Expected a subject for subject[${i}] but received ${JSON.stringify(subject)}`);
    if (!prompt.includes(subject)) throw new ArgumentError(`subject[${i}] ${JSON.stringify(subject)} does not occur in prompts[${i}] ${JSON.stringify(prompt)}`);
    const truth = truths[i] === null ? null : first(truths[i] as string | readonly string[]);
    const rephrase = rephrases[i];
    const rephrasePrompts = rephrase === null || rephrase === undefined ? [] : typeof rephrase === 'string' ? [rephrase] : [...(rephrase as readonly string[])];
    rephrasePrompts.forEach((p, j) => {
      if (typeof p !== 'string' || p === '') throw new ArgumentError(`Expected a prompt for rephrase_prompts[${i}]${rephrasePrompts.length > 1 ? `[${j}]` : ''} but received ${JSON.stringify(p)}`);
    });
    const locality = labeled(args.locality_inputs, i, n, 'locality_inputs');
    const portability = labeled(args.portability_inputs, i, n, 'portability_inputs');
    cases.push({
      id: String(i),
      request: { prompt: templateFromPrompt(prompt, subject), subject, targetNew: target, ...(truth !== null ? { targetTrue: truth } : {}) },
      rephrasePrompts,
      localityPrompts: locality.prompts,
      portabilityPrompts: portability.prompts,
      generationPrompts: [],
      source: { format: 'jsonl', file: '(edit() arguments)', index: i },
    });
    requests.push({
      prompt,
      target_new: target,
      ground_truth: truth,
      subject,
      ...(rephrasePrompts.length > 0 ? { rephrase_prompt: rephrasePrompts.length === 1 ? rephrasePrompts[0] : rephrasePrompts } : {}),
      locality: locality.record,
      portability: portability.record,
    });
  }
  return { cases, requests };
}
