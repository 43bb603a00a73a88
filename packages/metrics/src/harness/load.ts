/**
 * Load edits: requests edited in the same editor calls as the measured cases but never measured
 * themselves. Tuning a mass editor for a batch of 1,000 edits on a validation split of a few
 * hundred records needs the batch filled up to that size: how much room the edited layers have
 * left depends on how many edits share them (MEMIT, Meng et al. 2023, §5.2: efficacy falls as the
 * batch grows). Load edits are "edits of the run" for the locality rule of `edited-facts.ts`.
 */
import { ArgumentError } from '@medit/core';
import type { EditCase } from '@medit/data';

/** One fact of a case: its subject and relation (the prompt template when it has no relation id). */
const factKey = (c: EditCase): string => `${c.request.subject}\u0000${c.request.relationId ?? c.request.prompt}`;

/** How a case is named in an error: its id and, when known, its file. */
const named = (c: EditCase): string => `${JSON.stringify(c.id)}${c.source?.file ? ` (${c.source.file})` : ''}`;

/** At most `max` items of a list, with how many more there are. */
function listed(items: readonly string[], max = 5): string {
  return items.slice(0, max).join('; ') + (items.length > max ? `; and ${items.length - max} more` : '');
}

/**
 * Refuses load edits that would blur what the measured cases measure: a load case on a subject a
 * measured case edits (a batch of N edits on distinct subjects is the question), and two load
 * cases that rewrite the same fact (same subject and relation, or same prompt template without
 * relation ids) — a duplicate, or two targets for one fact.
 * @throws ArgumentError naming the cases (ids and files)
 * @example checkLoadEdits(validationCases, trainCases.slice(0, 601)); // throws if a subject repeats
 */
export function checkLoadEdits(cases: readonly EditCase[], load: readonly EditCase[]): void {
  const measuredBySubject = new Map<string, EditCase>();
  for (const c of cases) if (!measuredBySubject.has(c.request.subject)) measuredBySubject.set(c.request.subject, c);
  const overlap = load.flatMap((l) => {
    const c = measuredBySubject.get(l.request.subject);
    return c ? [`load case ${named(l)} and case ${named(c)} both edit ${JSON.stringify(l.request.subject)}`] : [];
  });
  if (overlap.length > 0) {
    throw new ArgumentError(`load: ${overlap.length} load case${overlap.length === 1 ? '' : 's'} edit a subject the measured cases edit (${listed(overlap)}); load edits must be on other subjects (e.g. the train split's)`);
  }
  const seen = new Map<string, EditCase>();
  const duplicates: string[] = [];
  for (const l of load) {
    const first = seen.get(factKey(l));
    if (first) duplicates.push(`${named(first)} and ${named(l)} (${JSON.stringify(l.request.subject)}, ${l.request.relationId ?? JSON.stringify(l.request.prompt)})`);
    else seen.set(factKey(l), l);
  }
  if (duplicates.length > 0) throw new ArgumentError(`load: ${duplicates.length} load case${duplicates.length === 1 ? '' : 's'} rewrite a fact another load case rewrites: ${listed(duplicates)}`);
}

/**
 * The editor calls of a run with load edits: `batches` of measured-case indices, with load edits
 * `first` … `first + count − 1` spread over them in order — batch b gets the contiguous share
 * [⌊b·count/B⌋, ⌊(b+1)·count/B⌋) of B batches, so shares differ by at most one. Within a call the
 * load edits are interleaved evenly among the batch's cases (the k-th of s cases sits at
 * (k + ½)/s, the k-th of l load edits at (k + ½)/l, a case first on a tie), so an editor that
 * applies a call's requests one after another puts neither all cases nor all load edits last.
 * @internal
 */
export function spreadLoad(batches: readonly (readonly number[])[], first: number, count: number): number[][] {
  const B = batches.length;
  return batches.map((batch, b) => {
    const from = Math.floor((b * count) / B);
    const share = Array.from({ length: Math.floor(((b + 1) * count) / B) - from }, (_, k) => first + from + k);
    const at = (k: number, of: number) => (k + 0.5) / of;
    const call: number[] = [];
    let i = 0;
    let j = 0;
    while (i < batch.length || j < share.length) {
      if (j >= share.length || (i < batch.length && at(i, batch.length) <= at(j, share.length))) call.push(batch[i++]);
      else call.push(share[j++]);
    }
    return call;
  });
}
