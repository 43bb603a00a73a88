/**
 * Subject location for MEMIT's templates. `locateSubject` of @medit/core counts the prefix
 * with its trailing space ("Some text. {} makes" → tokens of "Some text. "), which under a
 * GPT-2 byte-level or word-level tokenizer adds a lone-space token: the subject's first
 * index is then one too far, and a one-token subject ("Toyota") is rejected as
 * "tokenisation merges across its boundary". MEMIT's generated templates always put the
 * subject after ". ", so this module counts the prefix as the references do (ROME:
 * rome/repr_tools.py strips the prefix's trailing space and gives it to the subject), and
 * defers to the core function when the counts do not line up.
 */
import { type FactToken, type LocatedPrompt, type Tokenizer, ArgumentError, fillTemplate, locateSubject } from '@medit/core';

/** Like core's `locateSubject`, with the subject's leading space counted as part of it. */
export function locateSubjectToken(tok: Tokenizer, template: string, subject: string, factToken: FactToken): LocatedPrompt {
  const at = template.indexOf('{}');
  if (at < 0) throw new ArgumentError(`template ${JSON.stringify(template)} has no "{}"`);
  const prefix = template.slice(0, at);
  if (!prefix.endsWith(' ')) return locateSubject(tok, template, subject, factToken);
  const ids = tok.encode(fillTemplate(template, subject));
  const head = tok.encode(prefix.slice(0, -1));
  const withSubject = tok.encode(prefix + subject);
  const sameHead = (a: number[]) => a.every((id, i) => ids[i] === id);
  if (!sameHead(head) || !sameHead(withSubject) || withSubject.length <= head.length) return locateSubject(tok, template, subject, factToken);
  const first = head.length;
  const last = withSubject.length - 1;
  let index: number;
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
