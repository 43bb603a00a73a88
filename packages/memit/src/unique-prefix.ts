/**
 * `fact_token: subject_unique` (medit): per request, the first subject token at which the
 * subject's tokens so far are shared by no other subject of the batch. A key is read causally,
 * so two subjects with the same first tokens ("Kastan Vetrork …", "Kastan Braka …") have the
 * same key there (for prompts that open with them), and a batch would have to send one key to
 * two z's; the last token (ROME's) is unique but, in names ending in a common word
 * ("… Castle"), its key barely differs from other subjects'.
 */
import { type EditRequest, type Tokenizer, locateSubject } from '@medit/core';

/** What the strategy reads of a request. */
export type SubjectPrompt = Pick<EditRequest, 'prompt' | 'subject'>;

/**
 * Subject-token offsets per request (−1: no unique prefix, the last token). `past`: requests of
 * earlier batches whose keys must keep their outputs (AlphaEdit's memory); their subjects count too.
 */
export function uniquePrefixTokens(tok: Tokenizer, requests: SubjectPrompt[], past: SubjectPrompt[] = []): number[] {
  // Per subject, its token prefixes as trimmed text: a first token differs with and without a
  // space before it ("Miles" opening a prompt, " Miles" after "The"), its meaning does not.
  const prefixesOf = new Map<string, string[]>();
  for (const r of [...requests, ...past]) {
    if (prefixesOf.has(r.subject)) continue;
    const at = locateSubject(tok, r.prompt, r.subject);
    const words = at.ids.slice(at.subjectSpan[0], at.subjectSpan[1] + 1).map((id) => tok.decode([id]).trim());
    prefixesOf.set(r.subject, words.map((_, t) => words.slice(0, t + 1).join('\u0000')));
  }
  const count = new Map<string, number>();
  for (const prefixes of prefixesOf.values()) for (const p of prefixes) count.set(p, (count.get(p) ?? 0) + 1);
  return requests.map((r) => prefixesOf.get(r.subject)!.findIndex((p) => count.get(p) === 1));
}
