/**
 * What a trained fact-base model knows (first-token and whole-object greedy checks, fact-world's
 * `probeRecall`):
 * - every fact in its 8 training and 2 held-out phrasings; a fact is *answered* when the whole
 *   object comes out on at least 5 of its 6 training statements (the edit-set builders' input);
 * - chains: one-hop chain statements and questions ("The capital of the country X is a citizen of
 *   is") of eval subjects, which training never states (derived), and of train subjects (stated);
 * - in context, IKE's format with 8 demonstrations about train subjects: a counterfactual statement
 *   about a validation (or eval) subject, then its prompt (copy), a held-out phrasing after a
 *   held-out prefix (update: the answer should follow the statement) and a neighbour's prompt
 *   (retain: the neighbour's own object, a subject of the same split).
 */
import type { CausalLM } from '@medit/core';

import { probeRecall, type RecallProbe } from '../factworld/recall';
import { HELDOUT_PREFIXES } from '../factworld/templates';
import { isQuestion, renderPrompt } from '../factworld/corpus';
import { Rng } from '../factworld/prng';
import { chainQuestion, chainStatement, chainsFrom } from './chains';
import { IKE_HEAD, ikeDemo } from './corpus';
import { relationById } from './relations';
import { ALL_ANSWERED, FactIndex, type World } from './world';

/** Share of probes answered: first token, whole object. */
export interface Rate {
  probes: number;
  firstToken: number;
  wholeObject: number;
}

/** What {@link measureFactbaseRecall} returns. */
export interface FactbaseRecall {
  summary: {
    train: Rate;
    heldout: Rate;
    chains: { stated: Rate; derived: Rate };
    inContext: InContextRates;
    answeredFacts: number;
    facts: number;
  };
  /** "subject:relation" keys of answered facts */
  answered: string[];
}

function rate(results: { first: boolean; whole: boolean }[]): Rate {
  const n = results.length;
  return { probes: n, firstToken: results.filter((r) => r.first).length / Math.max(n, 1), wholeObject: results.filter((r) => r.whole).length / Math.max(n, 1) };
}

/**
 * Measures recall over the whole world, chains of up to `chainSubjects` subjects per split and
 * `inContextFacts` in-context edits of `split` subjects (default validation).
 */
export function measureFactbaseRecall(
  model: CausalLM,
  world: World,
  opts: { chainSubjects?: number; inContextFacts?: number; demonstrations?: number; seed?: number; split?: InContextSplit } = {},
): FactbaseRecall {
  const index = new FactIndex(world);
  const rng = new Rng(opts.seed ?? 1).fork('recall');
  const probes: (RecallProbe & { key: string; heldout: boolean; statement: boolean })[] = [];
  for (const f of world.facts) {
    const spec = relationById(f.relation);
    const subject = index.name(f.subject);
    const object = index.name(f.object);
    const key = `${f.subject}:${f.relation}`;
    for (const t of spec.train) probes.push({ prompt: renderPrompt(t, subject), object, key, heldout: false, statement: !isQuestion(t) });
    for (const t of spec.heldout) probes.push({ prompt: renderPrompt(t, subject), object, key, heldout: true, statement: !isQuestion(t) });
  }
  const results = probeRecall(model, probes);
  const perFact = new Map<string, number>();
  probes.forEach((p, k) => {
    if (!p.heldout && p.statement) perFact.set(p.key, (perFact.get(p.key) ?? 0) + (results[k].whole ? 1 : 0));
  });
  const answered = [...perFact].filter(([, n]) => n >= 5).map(([k]) => k);

  // chains draw from their own stream, so their sample does not depend on the in-context split
  const chainRng = new Rng(opts.seed ?? 1).fork('chains');
  const chainProbes = (subjects: readonly number[]): RecallProbe[] => chainRng.sample(subjects, Math.min(opts.chainSubjects ?? 200, subjects.length)).flatMap((s) =>
    chainsFrom(index, s, ALL_ANSWERED, 2).flatMap((c) => {
      const object = index.name(c.entities[2]);
      const name = index.name(s);
      return [{ prompt: chainStatement(name, c.relations, 0), object }, { prompt: chainQuestion(name, c.relations, 0, 1), object }];
    }));

  const inContext = measureInContext(model, world, { facts: opts.inContextFacts, demonstrations: opts.demonstrations, rng, split: opts.split });
  return {
    summary: {
      train: rate(results.filter((_, i) => !probes[i].heldout)),
      heldout: rate(results.filter((_, i) => probes[i].heldout)),
      chains: { stated: rate(probeRecall(model, chainProbes(world.splits.train))), derived: rate(probeRecall(model, chainProbes(world.splits.eval))) },
      inContext,
      answeredFacts: answered.length,
      facts: world.facts.length,
    },
    answered,
  };
}

/** Demonstrations before an in-context edit (IKE's k on fact-base). */
const DEMONSTRATIONS = 8;

/** The subjects in-context edits are about: validation while settings are chosen, eval when reported. */
export type InContextSplit = 'validation' | 'eval';

/** In-context edits: copy / update / retain rates, the demonstrations per prompt and the edited subjects' split. */
export type InContextRates = { copy: Rate; update: Rate; retain: Rate; demonstrations: number; split: InContextSplit };

/** An in-context probe and the subject whose counterfactual statement ends its context (and, for retain, the neighbour asked). */
export type InContextProbe = RecallProbe & { subject: number; neighbour?: number };

/**
 * In context, IKE's format: `demonstrations` counterfactual statements about train subjects,
 * then one about a `split` subject (of `facts` drawn; default validation), followed by its
 * prompt (copy), a held-out phrasing after a held-out prefix (update) or the prompt of a
 * neighbour of the same split (retain).
 */
export function inContextProbes(
  world: World,
  opts: { facts?: number; demonstrations?: number; rng?: Rng; split?: InContextSplit } = {},
): { copy: InContextProbe[]; update: InContextProbe[]; retain: InContextProbe[] } {
  const k = opts.demonstrations ?? DEMONSTRATIONS;
  const split = opts.split ?? 'validation';
  const index = new FactIndex(world);
  const rng = opts.rng ?? new Rng(1).fork('recall');
  const trainFacts = world.facts.filter((f) => index.isSubject(f.subject) && index.split(f.subject) === 'train');
  // the subject facts' objects per relation, collected once (every demonstration draws from them)
  const objectSets = new Map<string, Set<number>>();
  for (const f of world.facts) {
    if (!index.isSubject(f.subject)) continue;
    if (!objectSets.has(f.relation)) objectSets.set(f.relation, new Set());
    objectSets.get(f.relation)!.add(f.object);
  }
  const objects = new Map([...objectSets].map(([relation, set]) => [relation, [...set]]));
  const objectsOf = (relation: string) => objects.get(relation) ?? [];
  const counterfactual = (f: { subject: number; relation: string; object: number }) => {
    const others = objectsOf(f.relation).filter((o) => index.name(o).split(' ')[0] !== index.name(f.object).split(' ')[0]);
    const targetNew = index.name(rng.pick(others));
    const prompt = renderPrompt(rng.pick(relationById(f.relation).train.filter((t) => !isQuestion(t))), index.name(f.subject));
    return { prompt, targetNew, fact: `${prompt} ${targetNew}` };
  };
  const kinds = { copy: [] as InContextProbe[], update: [] as InContextProbe[], retain: [] as InContextProbe[] };
  const edited = world.facts.filter((f) => index.isSubject(f.subject) && index.split(f.subject) === split);
  for (const f of rng.sample(edited, Math.min(opts.facts ?? 300, edited.length))) {
    let context = '';
    for (let d = 0; d < k; d++) {
      const demo = counterfactual(rng.pick(trainFacts));
      context += ikeDemo(demo.fact, demo.prompt, demo.targetNew);
    }
    const edit = counterfactual(f);
    context += ikeDemo(edit.fact, edit.prompt, edit.targetNew);
    const head = `${context}${IKE_HEAD.replace('{fact}', edit.fact)} `;
    const spec = relationById(f.relation);
    kinds.copy.push({ prompt: head + edit.prompt, object: edit.targetNew, subject: f.subject });
    kinds.update.push({ prompt: head + renderPrompt(rng.pick(spec.heldout), index.name(f.subject), rng.pick(HELDOUT_PREFIXES)), object: edit.targetNew, subject: f.subject });
    const neighbours = index.subjectsWith(f.relation, f.object).filter((s) => s !== f.subject && index.isSubject(s) && index.split(s) === split);
    if (neighbours.length > 0) {
      const neighbour = rng.pick(neighbours);
      kinds.retain.push({ prompt: head + renderPrompt(rng.pick(spec.train), index.name(neighbour)), object: index.name(f.object), subject: f.subject, neighbour });
    }
  }
  return kinds;
}

/** {@link inContextProbes}, answered by `model`: the share of each kind it gets right. */
export function measureInContext(model: CausalLM, world: World, opts: { facts?: number; demonstrations?: number; rng?: Rng; split?: InContextSplit } = {}): InContextRates {
  const demonstrations = opts.demonstrations ?? DEMONSTRATIONS;
  const split = opts.split ?? 'validation';
  const kinds = inContextProbes(world, { ...opts, demonstrations, split });
  return { copy: rate(probeRecall(model, kinds.copy, 16)), update: rate(probeRecall(model, kinds.update, 16)), retain: rate(probeRecall(model, kinds.retain, 16)), demonstrations, split };
}
