/**
 * Training text for the fact world: one line per example, each a fact sentence (optionally after a
 * context prefix) ending with the object and a period, mixed with filler lines.
 *
 * A corpus file is one epoch: every fact once with each of its relation's 8 training phrasings,
 * plus the filler lines, shuffled. Trainers treat each line as a document (join with
 * `<|endoftext|>` and pack into fixed-length rows).
 */
import { Rng } from './prng';
import { RELATIONS, TRAIN_PREFIXES, HELDOUT_PREFIXES, NQ_PREFIX, relationById } from './templates';
import type { Fact, World } from './world';

/**
 * Texts that evaluation shows the model and training never does (fact-world's and fact-base's):
 * the held-out prefixes, then per relation with a fact, rendered with the subject of its first
 * fact, each held-out phrasing and generation prompt bare and after the first held-out prefix,
 * the zsRE `loc` form of its question ("nq question: ...") and `more(spec, fact)`.
 * @param more - a world's own evaluation texts of a relation (default none)
 */
export function heldoutEvalTexts<R extends { id: string; train: readonly string[]; heldout: readonly string[]; generation: readonly string[] }>(
  relations: readonly R[], facts: readonly Fact[], name: (id: number) => string, more: (spec: R, fact: Fact) => string[] = () => [],
): string[] {
  const out: string[] = [...HELDOUT_PREFIXES];
  for (const spec of relations) {
    const fact = facts.find((f) => f.relation === spec.id);
    if (!fact) continue;
    const subject = name(fact.subject);
    for (const t of [...spec.heldout, ...spec.generation]) out.push(renderPrompt(t, subject), renderPrompt(t, subject, HELDOUT_PREFIXES[0]));
    out.push(`${NQ_PREFIX} ${renderPrompt(spec.train.find((t) => t.endsWith('?'))!, subject)}`, ...more(spec, fact));
  }
  return out;
}

/**
 * Puts a subject into a phrasing, optionally after a context prefix.
 * @param template phrasing with exactly one `{}`
 * @example renderPrompt('{} plays the', 'Varn Oltega', 'The rain stopped by noon.')
 * // 'The rain stopped by noon. Varn Oltega plays the'
 */
export function renderPrompt(template: string, subject: string, prefix?: string): string {
  const parts = template.split('{}');
  if (parts.length !== 2) throw new Error(`Expected exactly one "{}" in template "${template}"`);
  const body = parts[0] + subject + parts[1];
  return prefix ? `${prefix} ${body}` : body;
}

/** A training line: the prompt, a space, the object, a period. */
export function factLine(prompt: string, object: string): string {
  return `${prompt} ${object}.`;
}

/** Whether a phrasing is a question (its answer follows the "?" or a trailing "The answer is"). */
export function isQuestion(template: string): boolean {
  return template.includes('?');
}

/**
 * Regexes that match any rendering of a held-out phrasing, whatever the subject.
 * @param relations whose held-out phrasings (default: the fact world's)
 * @internal
 */
export function heldoutMatchers(relations: readonly { heldout: readonly string[] }[] = RELATIONS): RegExp[] {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // An empty piece (template starting or ending with "{}") adds nothing to match, and a leading
  // ".+?" would make the search quadratic in the line length.
  return relations.flatMap((r) => r.heldout.map((t) => {
    const [before, after] = t.split('{}').map(esc);
    return new RegExp(before && after ? `${before}.+?${after}` : before || after);
  }));
}

/** True when a line contains held-out wording (a held-out phrasing or prefix). */
export function containsHeldout(line: string, matchers: RegExp[] = heldoutMatchers()): boolean {
  return HELDOUT_PREFIXES.some((p) => line.includes(p)) || matchers.some((m) => m.test(line));
}

/**
 * Builds one epoch of training lines for `facts` with the training phrasings, mixed with `filler`.
 * A fraction `prefixRate` of fact lines start with a training context prefix; a quarter of the
 * prefixed questions use the zsRE locality prefix "nq question:" instead.
 * @throws when a generated line contains held-out wording (a template bug)
 */
export function buildCorpus(world: World, facts: readonly Fact[], filler: readonly string[], rng: Rng): string[] {
  const names = world.entities;
  const matchers = heldoutMatchers();
  const lines: string[] = [];
  for (const f of facts) {
    const spec = relationById(f.relation);
    for (const t of spec.train) {
      let prefix: string | undefined;
      if (rng.chance(world.config.prefixRate)) prefix = isQuestion(t) && rng.chance(0.25) ? NQ_PREFIX : rng.pick(TRAIN_PREFIXES);
      const line = factLine(renderPrompt(t, names[f.subject].name, prefix), names[f.object].name);
      if (containsHeldout(line, matchers)) throw new Error(`Training line contains held-out wording: "${line}"`);
      lines.push(line);
    }
  }
  return rng.shuffle([...lines, ...filler]);
}
