/**
 * Locality prompts that ask a fact the same run edits.
 *
 * When several edits are in place at once (a batch, or a sequential stream), a locality prompt of
 * one case can ask exactly the fact another case of the run rewrites: CounterFact neighbourhood
 * prompts are other subjects with the same relation and true object, and one of those subjects may
 * itself be edited on that relation. After the run the right answer to such a prompt is the *new*
 * object, so counting it as a locality failure (NS, EasyEdit locality, T-Patcher's TestR) punishes
 * the editor for getting the other edit right (MEMIT's MultiCounterFact, Meng et al. 2023, drops
 * records that conflict within a batch for a related reason). Here the records stay and the
 * in-scope locality prompts are left out of their case, counted in the report's protocol.
 * @internal
 */
import { fillTemplate } from '@medit/core';
import type { EditCase, LabeledPrompt } from '@medit/data';

/** `text` contains `phrase` as whole words (no letter or digit on either side). */
function containsPhrase(text: string, phrase: string): boolean {
  const wordChar = /[\p{L}\p{N}]/u;
  for (let at = text.indexOf(phrase); at >= 0; at = text.indexOf(phrase, at + 1)) {
    const before = at > 0 ? text[at - 1] : '';
    const after = text[at + phrase.length] ?? '';
    if (!wordChar.test(before) && !wordChar.test(after)) return true;
  }
  return false;
}

/** What a locality prompt is checked against for one edit: its own prompts, relation and subject. */
interface EditedFact {
  edit: EditCase;
  /** the filled rewrite prompt and the rephrase prompts */
  prompts: ReadonlySet<string>;
}

function editedFact(edit: EditCase): EditedFact {
  const r = edit.request;
  return { edit, prompts: new Set([fillTemplate(r.prompt, r.subject), ...edit.rephrasePrompts]) };
}

function asks(p: LabeledPrompt, owner: EditCase, { edit, prompts }: EditedFact): boolean {
  if (prompts.has(p.prompt)) return true;
  const r = edit.request;
  return p.kind === 'neighborhood' && r.relationId !== undefined && owner.request.relationId === r.relationId && containsPhrase(p.prompt, r.subject);
}

/**
 * Whether locality prompt `p` of case `owner` asks the fact that case `edit` rewrites: it is one of
 * the edit's own prompts (rewrite or rephrase), or — with Wikidata relation ids (CounterFact) — a
 * neighbourhood prompt of the edit's relation that names the edit's subject.
 */
export function asksEditedFact(p: LabeledPrompt, owner: EditCase, edit: EditCase): boolean {
  return asks(p, owner, editedFact(edit));
}

/**
 * The cases with every locality prompt that asks a fact edited in the same group removed.
 * `groups` are the sets of case indices whose edits are in place together (batch mode: each
 * batch; sequential mode: the whole stream); cases outside every group are returned unchanged.
 */
export function withoutEditedFacts(cases: readonly EditCase[], groups: readonly (readonly number[])[]): { cases: EditCase[]; excluded: number } {
  const out = [...cases];
  let excluded = 0;
  for (const group of groups) {
    if (group.length < 2) continue;
    // each edit's prompt set once per group, not once per (locality prompt, edit) pair
    const facts = group.map((j) => editedFact(cases[j]));
    for (const i of group) {
      const owner = cases[i];
      const kept = owner.localityPrompts.filter((p) => !facts.some((f) => f.edit !== owner && asks(p, owner, f)));
      if (kept.length === owner.localityPrompts.length) continue;
      excluded += owner.localityPrompts.length - kept.length;
      out[i] = { ...owner, localityPrompts: kept };
    }
  }
  return { cases: out, excluded };
}
