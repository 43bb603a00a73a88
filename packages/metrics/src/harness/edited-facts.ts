/**
 * Locality prompts that ask a fact the same run edits.
 *
 * When several edits are in place at once (a batch, or a sequential stream), a locality prompt of
 * one case can ask exactly the fact another case of the run rewrites: CounterFact neighbourhood
 * prompts are other subjects with the same relation and true object, and one of those subjects may
 * itself be edited on that relation. Once that edit is in place the right answer to such a prompt
 * is the *new* object, so counting it as a locality failure (NS, EasyEdit locality, T-Patcher's
 * TestR) punishes the editor for getting the other edit right (MEMIT's MultiCounterFact, Meng et
 * al. 2023, drops records that conflict within a batch for a related reason). Here the records
 * stay, and at each measurement the locality prompts whose fact is edited by then are left out of
 * their case, counted in the report's protocol. In a sequential stream that is only the edits made
 * at or before the measurement: a prompt about a fact edited later is still a locality prompt
 * when the case is measured right after its own edit.
 *
 * The same pass records the neighbourhood prompts that name a subject another edit of the run
 * rewrites on another relation: they stay in, and reports break neighbourhood locality down by
 * them (relation specificity).
 * @internal
 */
import { fillTemplate } from '@medit/core';
import type { EditCase, LabeledPrompt } from '@medit/data';

/** Locality kind of CounterFact neighbourhood prompts (CounterFact readers file them so). */
export const NEIGHBORHOOD = 'neighborhood';

const WORD_CHAR = /[\p{L}\p{N}]/u;
/** A word that continues a proper name: capitalised, or a number ("Lamke Arc 6"). */
const NAME_WORD = /^[\p{Lu}\p{N}]/u;

/**
 * `text` names `name` exactly: `name` occurs as whole words and is not part of a longer proper
 * name — the next word is not capitalised or a number ("Lamke Arc" is not named by "Lamke Arc 6
 * is made by", nor "Zodra Luzun" by "Zodra Luzun Fefi plays"), and the previous word is not a
 * capitalised word inside a sentence ("Ana Lamke Arc"; a sentence's first word, as in "In Lamke
 * Arc, ...", is capitalised anyway and does not count).
 */
export function namesExactly(text: string, name: string): boolean {
  if (name.length === 0) return false;
  for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1)) {
    const end = at + name.length;
    if ((at > 0 && WORD_CHAR.test(text[at - 1])) || (end < text.length && WORD_CHAR.test(text[end]))) continue;
    const next = text[end] === ' ' ? text.slice(end + 1).split(' ', 1)[0] : '';
    if (NAME_WORD.test(next)) continue;
    const before = text[at - 1] === ' ' ? text.slice(0, at - 1).split(' ') : [];
    const prev = before[before.length - 1] ?? '';
    const prevStartsSentence = before.length < 2 || /[.!?:;]$/.test(before[before.length - 2]);
    if (NAME_WORD.test(prev) && !/[.!?:;,]$/.test(prev) && !prevStartsSentence) continue;
    return true;
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

/** `p` is a neighbourhood prompt that names `edit`'s subject exactly. */
function namesSubject(p: LabeledPrompt, edit: EditCase): boolean {
  return p.kind === NEIGHBORHOOD && namesExactly(p.prompt, edit.request.subject);
}

/** {@link asksEditedFact}, given whether `p` names the edit's subject ({@link namesSubject}, computed once by the caller). */
function asks(p: LabeledPrompt, owner: EditCase, { edit, prompts }: EditedFact, named: boolean): boolean {
  if (prompts.has(p.prompt)) return true;
  const r = edit.request;
  return named && r.relationId !== undefined && owner.request.relationId === r.relationId;
}

/**
 * Whether locality prompt `p` of case `owner` asks the fact that case `edit` rewrites: it is one of
 * the edit's own prompts (rewrite or rephrase), or — with Wikidata relation ids (CounterFact) — a
 * neighbourhood prompt of the edit's relation that names the edit's subject exactly
 * ({@link namesExactly}).
 */
export function asksEditedFact(p: LabeledPrompt, owner: EditCase, edit: EditCase): boolean {
  return asks(p, owner, editedFact(edit), namesSubject(p, edit));
}

/** How one locality prompt relates to the other edits of its run (by case index). */
export interface LocalityLinks {
  /** the cases whose edited fact the prompt asks ({@link asksEditedFact}): once in place, the prompt is left out */
  askedBy: number[];
  /**
   * Neighbourhood prompts only: the other cases whose subject the prompt names exactly
   * ({@link namesExactly}), other than those in `askedBy` — the prompt asks about a subject that
   * another edit of the run rewrites on another relation. Such prompts stay locality prompts,
   * but an editor that rewrites a subject's other facts along with the edited one (relation
   * specificity, KnowEdit's `Relation_Specificity`) changes their answers.
   */
  subjectEditedBy: number[];
}

/**
 * For every case and each of its locality prompts, its links to the other cases of the same group:
 * `[case][prompt] → {@link LocalityLinks}`. `groups` are the sets of case indices whose edits can
 * be in place together (batch mode: each batch; sequential mode: the whole stream); a case in no
 * group of two or more gets undefined (no other edit is ever in place beside it). With
 * `keepEditedFacts` no prompt is left out (`askedBy` stays empty), so a neighbourhood prompt that
 * asks an edit's fact and names its subject counts in `subjectEditedBy`. Only cases with an index
 * below `measured` (default all) get links: the rest are load edits, edited beside the measured
 * cases but never measured themselves, so only their facts and subjects matter.
 */
export function localityLinks(cases: readonly EditCase[], groups: readonly (readonly number[])[], keepEditedFacts = false, measured = cases.length): (LocalityLinks[] | undefined)[] {
  const out: (LocalityLinks[] | undefined)[] = cases.map(() => undefined);
  for (const group of groups) {
    if (group.length < 2) continue;
    // each edit's prompt set once per group, not once per (locality prompt, edit) pair
    const facts = group.map((j) => ({ j, fact: editedFact(cases[j]) }));
    for (const i of group) {
      if (i >= measured) continue;
      const owner = cases[i];
      const caseLinks = owner.localityPrompts.map((): LocalityLinks => ({ askedBy: [], subjectEditedBy: [] }));
      out[i] = caseLinks;
      owner.localityPrompts.forEach((p, k) => {
        const links = caseLinks[k];
        for (const { j, fact } of facts) {
          if (j === i) continue;
          const named = namesSubject(p, fact.edit);
          if (!keepEditedFacts && asks(p, owner, fact, named)) links.askedBy.push(j);
          else if (named) links.subjectEditedBy.push(j);
        }
      });
    }
  }
  return out;
}
