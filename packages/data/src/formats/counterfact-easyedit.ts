/**
 * EasyEdit's flattened CounterFact (`counterfact-edit.json` in EasyEdit's "editing-data" bundle).
 *
 * Record: `{case_id, prompt, target_new, subject, ground_truth, rephrase_prompt, locality_prompt,
 * locality_ground_truth}`; all strings except `case_id`; the prompt has the subject substituted.
 *
 * Mapping to {@link EditCase}:
 * - `request.prompt` = `prompt` with the subject's first occurrence replaced by `{}` (a subject
 *   missing from its prompt is a schema error on `subject`).
 * - `targetNew` = `target_new`, `targetTrue` = `ground_truth`.
 * - `rephrasePrompts` = `[rephrase_prompt]` (optional field).
 * - `localityPrompts` = `[{prompt: locality_prompt, answer: locality_ground_truth, kind: "neighborhood"}]`
 *   (optional pair: both or neither).
 */
import type { EditCase } from '../types';
import { RecordContext, templateFromPrompt } from '../validate';

/** @internal */
export function counterFactEasyEditLooksLike(rec: Record<string, unknown>): boolean {
  return (
    'prompt' in rec &&
    'subject' in rec &&
    typeof rec.target_new === 'string' &&
    ('locality_prompt' in rec || 'rephrase_prompt' in rec) &&
    !('locality' in rec) &&
    !('requested_rewrite' in rec)
  );
}

/** @internal Map one EasyEdit CounterFact record. */
export function mapCounterFactEasyEdit(raw: unknown, ctx: RecordContext): EditCase {
  const rec = ctx.object(raw, '');
  const subject = ctx.string(rec, 'subject', 'subject');
  const fullPrompt = ctx.string(rec, 'prompt', 'prompt');
  const prompt = templateFromPrompt(ctx, fullPrompt, subject, 'prompt', 'subject');
  const targetNew = ctx.string(rec, 'target_new', 'target_new');
  const targetTrue = ctx.optionalString(rec, 'ground_truth', 'ground_truth');
  const rephrase = ctx.optionalString(rec, 'rephrase_prompt', 'rephrase_prompt');
  const locPrompt = ctx.optionalString(rec, 'locality_prompt', 'locality_prompt');
  const locAnswer = ctx.optionalString(rec, 'locality_ground_truth', 'locality_ground_truth');
  if ((locPrompt === undefined) !== (locAnswer === undefined)) {
    ctx.fail(locPrompt === undefined ? 'locality_prompt' : 'locality_ground_truth', 'locality_prompt and locality_ground_truth must be given together');
  }
  const out: EditCase = {
    id: ctx.id(rec, 'case_id', 'case_id') ?? String(ctx.index),
    request: { prompt, subject, targetNew },
    rephrasePrompts: rephrase === undefined ? [] : [rephrase],
    localityPrompts: locPrompt === undefined ? [] : [{ prompt: locPrompt, answer: locAnswer as string, kind: 'neighborhood' }],
    portabilityPrompts: [],
    generationPrompts: [],
    source: { format: 'counterfact-easyedit', file: ctx.file, index: ctx.index },
  };
  if (targetTrue !== undefined) out.request.targetTrue = targetTrue;
  return out;
}
