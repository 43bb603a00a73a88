/**
 * CounterFact in the ROME/MEMIT format (`kmeng01/rome` `dsets/counterfact.py`; Meng et al. 2022).
 *
 * Record: `{case_id, pararel_idx, requested_rewrite{prompt, relation_id, target_new{str,id},
 * target_true{str,id}, subject}, paraphrase_prompts, neighborhood_prompts, attribute_prompts,
 * generation_prompts}`, optionally with EasyEdit's `portability{"Recalled Relation",
 * "New Question", "New Answer"}` (the "counterfact_portability" bundle).
 *
 * Mapping to {@link EditCase}:
 * - `id` = `case_id`; `request.prompt` = `requested_rewrite.prompt` (must hold exactly one `{}`);
 *   `relationId`, `targetNewId`, `targetTrueId` from `relation_id` / `target_*.id`.
 * - `rephrasePrompts` = `paraphrase_prompts`.
 * - `localityPrompts` = `neighborhood_prompts` with `answer = target_true.str`, kind `neighborhood`:
 *   ROME's Neighbourhood Score asks that these subjects still prefer the true object.
 * - `attributePrompts` = `attribute_prompts` with `answer = target_new.str` (ROME computes but does
 *   not summarise them).
 * - `portabilityPrompts` = `[{prompt: "New Question", answer: "New Answer", kind: "one_hop"}]` when
 *   present; `Recalled Relation` goes to `meta.recalledRelation`.
 * - `generationPrompts` = `generation_prompts`; `pararel_idx` goes to `meta`.
 */
import type { EditCase, LabeledPrompt } from '../types';
import { checkTemplate, RecordContext } from '../validate';

/** @internal */
export function counterFactLooksLike(rec: Record<string, unknown>): boolean {
  return 'requested_rewrite' in rec;
}

/** @internal Map one ROME CounterFact record. */
export function mapCounterFact(raw: unknown, ctx: RecordContext): EditCase {
  const rec = ctx.object(raw, '');
  const id = ctx.id(rec, 'case_id', 'case_id');
  if (id === undefined) ctx.fail('case_id', 'missing required field');
  const rr = ctx.object(rec.requested_rewrite, 'requested_rewrite');
  const prompt = checkTemplate(ctx, ctx.string(rr, 'prompt', 'requested_rewrite.prompt'), 'requested_rewrite.prompt');
  const subject = ctx.string(rr, 'subject', 'requested_rewrite.subject');
  if (rr.target_new === undefined) ctx.fail('requested_rewrite.target_new', 'missing required field');
  const tn = ctx.object(rr.target_new, 'requested_rewrite.target_new');
  if (rr.target_true === undefined) ctx.fail('requested_rewrite.target_true', 'missing required field');
  const tt = ctx.object(rr.target_true, 'requested_rewrite.target_true');
  const targetNew = ctx.string(tn, 'str', 'requested_rewrite.target_new.str');
  const targetTrue = ctx.string(tt, 'str', 'requested_rewrite.target_true.str');
  const relationId = ctx.optionalString(rr, 'relation_id', 'requested_rewrite.relation_id');
  const targetNewId = ctx.id(tn, 'id', 'requested_rewrite.target_new.id');
  const targetTrueId = ctx.id(tt, 'id', 'requested_rewrite.target_true.id');

  const paraphrases = ctx.stringArray(rec, 'paraphrase_prompts', 'paraphrase_prompts');
  const neighborhood = ctx.stringArray(rec, 'neighborhood_prompts', 'neighborhood_prompts');
  const attribute = ctx.optionalStringArray(rec, 'attribute_prompts', 'attribute_prompts');
  const generation = ctx.optionalStringArray(rec, 'generation_prompts', 'generation_prompts') ?? [];

  const meta: Record<string, string | number | string[]> = {};
  const pararel = rec.pararel_idx;
  if (pararel !== undefined) {
    if (typeof pararel !== 'number') ctx.expected('pararel_idx', 'a number', pararel);
    meta.pararelIdx = pararel;
  }

  const portabilityPrompts: LabeledPrompt[] = [];
  if (rec.portability !== undefined) {
    const p = ctx.object(rec.portability, 'portability');
    portabilityPrompts.push({
      prompt: ctx.string(p, 'New Question', 'portability.New Question'),
      answer: ctx.string(p, 'New Answer', 'portability.New Answer'),
      kind: 'one_hop',
    });
    const recalled = ctx.optionalString(p, 'Recalled Relation', 'portability.Recalled Relation');
    if (recalled !== undefined) meta.recalledRelation = recalled;
  }

  const out: EditCase = {
    id,
    request: { prompt, subject, targetNew, targetTrue },
    rephrasePrompts: paraphrases,
    localityPrompts: neighborhood.map((p) => ({ prompt: p, answer: targetTrue, kind: 'neighborhood' })),
    portabilityPrompts,
    generationPrompts: generation,
    source: { format: 'counterfact', file: ctx.file, index: ctx.index },
  };
  if (relationId !== undefined) out.request.relationId = relationId;
  if (targetNewId !== undefined) out.request.targetNewId = targetNewId;
  if (targetTrueId !== undefined) out.request.targetTrueId = targetTrueId;
  if (attribute !== undefined) out.attributePrompts = attribute.map((p) => ({ prompt: p, answer: targetNew }));
  if (Object.keys(meta).length > 0) out.meta = meta;
  return out;
}
