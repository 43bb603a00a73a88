/**
 * Edit requests and the token bookkeeping every editor shares: validating a request,
 * filling its template, and locating the subject's tokens inside the tokenised prompt.
 */
import { ArgumentError, UnknownTokenError } from '../errors';
import type { Tokenizer } from '../tokenizer';

/** "Make the model complete `prompt` (with `subject` in `{}`) with `targetNew`." */
export interface EditRequest {
  /** Template with exactly one `{}` for the subject, e.g. `"{} plays the sport of"`. */
  prompt: string;
  subject: string;
  targetNew: string;
  /** The answer before the edit (used by KN and by evaluation). */
  targetTrue?: string;
}

/**
 * Throws an ArgumentError naming the problem with a request. Given the model's tokenizer, also
 * refuses a subject (as tokenized in the request's prompt) or target with words the tokenizer
 * maps to its unknown token ({@link checkKnownWords}); every editor validates its requests so.
 * @example requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
 */
export function validateRequest(r: EditRequest, index = 0, tok?: Tokenizer): void {
  const where = `edit request ${index}`;
  if (typeof r.prompt !== 'string' || typeof r.subject !== 'string' || typeof r.targetNew !== 'string') {
    throw new ArgumentError(`${where}: expected string prompt, subject and targetNew`);
  }
  const holes = r.prompt.split('{}').length - 1;
  if (holes !== 1) throw new ArgumentError(`${where}: prompt template must contain exactly one "{}" for the subject but has ${holes}: ${JSON.stringify(r.prompt)}`);
  if (r.subject.trim() === '') throw new ArgumentError(`${where}: subject is empty`);
  if (r.targetNew.trim() === '') throw new ArgumentError(`${where}: targetNew is empty`);
  if (!tok) return;
  const prefix = r.prompt.slice(0, r.prompt.indexOf('{}'));
  checkKnownWords(tok, `${where}: subject`, r.subject, prefix + r.subject, prefix.length);
  checkKnownWords(tok, `${where}: target`, r.targetNew, r.targetNew.startsWith(' ') ? r.targetNew : ` ${r.targetNew}`);
}

/**
 * Refuses a subject or target with words the tokenizer maps to its unknown token: editing it
 * would retrain the unknown token (moving the answers for every unknown word) instead of the
 * fact. Throws {@link UnknownTokenError} naming the words, or hands the error to
 * `tok.onUnknownToken` when set (which may warn and let the edit go on).
 * @param what - "subject" or "target", for the message
 * @param value - the subject or target
 * @param context - the text it is tokenized in, with `value` starting at character `at`
 *   (default: `value` alone)
 */
export function checkKnownWords(tok: Tokenizer, what: string, value: string, context = value, at = 0): void {
  const words = tok.unknownWords(context, at);
  if (words.length === 0) return;
  const unk = tok.idToToken(tok.unknownTokenId!);
  const err = new UnknownTokenError(
    `${what} ${JSON.stringify(value)} has ${words.length === 1 ? 'a word' : 'words'} the tokenizer does not know: ${words.map((w) => JSON.stringify(w)).join(', ')} ` +
      `(tokenized as the unknown token ${JSON.stringify(unk)}); editing it would change the answers for every unknown word, not this fact`,
    words,
  );
  if (tok.onUnknownToken) tok.onUnknownToken(err);
  else throw err;
}

/** Builds a template from a full prompt containing the subject (replaces its first occurrence). */
export function templateFromPrompt(prompt: string, subject: string): string {
  const at = prompt.indexOf(subject);
  if (at < 0) throw new ArgumentError(`subject ${JSON.stringify(subject)} does not occur in prompt ${JSON.stringify(prompt)}`);
  return prompt.slice(0, at) + '{}' + prompt.slice(at + subject.length);
}

/** The prompt with the subject filled in. */
export function fillTemplate(template: string, subject: string): string {
  return template.replace('{}', subject);
}

/** ROME's `fact_token` strategies: which token represents the subject. */
export type FactTokenName = 'subject_last' | 'subject_first' | 'subject_first_after_last' | 'last';

/**
 * A {@link FactTokenName}, or an offset into the subject's own tokens (0 = its first, −1 =
 * its last), as chosen per fact by ROME's `subject_search`.
 */
export type FactToken = FactTokenName | number;

/**
 * `fact_token: subject_search` (ROME, MEMIT): the target vector is optimised at the subject's
 * last token, and at its other tokens too only when the target's probability (mean over the
 * context templates) stays below this.
 */
export const SUBJECT_SEARCH_MIN_PROB = 0.5;

export interface LocatedPrompt {
  ids: number[];
  /** index of the chosen token in `ids` */
  index: number;
  /** [first, last] subject token indices */
  subjectSpan: [number, number];
}

/**
 * Tokenises `template` filled with `subject` and finds the subject's tokens by
 * tokenising cumulatively (prefix, prefix+subject), so BOS and boundary merges are
 * counted the same way as in the full prompt (EasyEdit's method, §1.3 of the spec).
 * @throws ArgumentError when the subject's tokens cannot be found in the prompt's tokens
 */
export function locateSubject(tok: Tokenizer, template: string, subject: string, factToken: FactToken = 'subject_last'): LocatedPrompt {
  const at = template.indexOf('{}');
  if (at < 0) throw new ArgumentError(`template ${JSON.stringify(template)} has no "{}"`);
  const prefix = template.slice(0, at);
  const full = fillTemplate(template, subject);
  const ids = tok.encode(full);
  // The space before the subject belongs to the subject's first token (byte-level BPE and
  // word-level tokenizers attach it there; tokenising "The " alone would count it apart).
  const bare = prefix.endsWith(' ') ? prefix.slice(0, -1) : prefix;
  const nPrefix = bare === '' ? (prefix === '' ? 0 : tok.encode('').length) : tok.encode(bare).length;
  const nWithSubject = tok.encode(prefix + subject).length;
  const first = Math.min(nPrefix, ids.length - 1);
  const last = nWithSubject - 1;
  const sameHead = tok.encode(prefix + subject).every((id, i) => ids[i] === id);
  if (last < first || last >= ids.length || !sameHead) {
    throw new ArgumentError(`cannot locate subject ${JSON.stringify(subject)} in the tokens of ${JSON.stringify(full)} (tokenisation merges across its boundary)`);
  }
  let index: number;
  if (typeof factToken === 'number') {
    const n = last - first + 1;
    const offset = factToken < 0 ? n + factToken : factToken;
    if (!Number.isInteger(factToken) || offset < 0 || offset >= n) {
      throw new ArgumentError(`fact token offset ${factToken} is outside subject ${JSON.stringify(subject)}'s ${n} tokens`);
    }
    return { ids, index: first + offset, subjectSpan: [first, last] };
  }
  switch (factToken) {
    case 'subject_last':
      index = last;
      break;
    case 'subject_first':
      index = first;
      break;
    case 'subject_first_after_last':
      index = Math.min(last + 1, ids.length - 1);
      break;
    case 'last':
      index = ids.length - 1;
      break;
    default:
      throw new ArgumentError(`unknown fact_token ${JSON.stringify(factToken)}`);
  }
  return { ids, index, subjectSpan: [first, last] };
}

/**
 * Target token ids with a leading space (ROME/MEMIT normalise once at the boundary: a
 * space is prepended unless the target already starts with one), without special tokens.
 */
export function targetIds(tok: Tokenizer, target: string): number[] {
  const text = target.startsWith(' ') ? target : ` ${target}`;
  const ids = tok.encode(text, { addSpecialTokens: false });
  if (ids.length === 0) throw new ArgumentError(`target ${JSON.stringify(target)} tokenises to nothing`);
  return ids;
}

/**
 * Pads token rows on the right with `pad` and returns them with their attention mask
 * (1 = token). Editors batch right-padded, as ROME/MEMIT's index arithmetic assumes (spec §1.3).
 */
export function rightPad(rows: number[][], pad: number): { ids: number[][]; mask: number[][] } {
  const width = Math.max(...rows.map((r) => r.length));
  return {
    ids: rows.map((r) => [...r, ...Array(width - r.length).fill(pad)]),
    mask: rows.map((r) => Array.from({ length: width }, (_, t) => (t < r.length ? 1 : 0))),
  };
}
