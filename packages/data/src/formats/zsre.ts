/**
 * zsRE in the MEND evaluation format (`zsre_mend_eval.json`, De Cao et al. 2021 / Mitchell et al.
 * 2022), as read by ROME (`dsets/zsre.py`) and EasyEdit (`easyeditor/dataset/zsre.py`).
 *
 * Record: `{subject, src, pred, rephrase, alt, answers[], loc, loc_ans, cond}`, optionally with
 * EasyEdit's `portability{"Recalled Relation", "New Question", "New Answer"}`.
 *
 * Mapping to {@link EditCase}:
 * - `request.prompt` = `src` with the subject's first occurrence replaced by `{}` (a subject missing
 *   from `src` is a schema error on `subject`).
 * - Target, by {@link ZsreTargetConvention}:
 *   - `'alt'` (default; EasyEdit and MEND): `targetNew = alt`, `targetTrue = answers[0]`. Records with
 *     an empty `alt` are skipped (as EasyEdit does) and listed in `EditDataset.skipped`.
 *   - `'answers'` (ROME/MEMIT): `targetNew = answers[0]`, no `targetTrue` (ROME uses the dummy
 *     `"<|endoftext|>"`, which medit leaves to the harness).
 * - `rephrasePrompts` = `[rephrase]` (a string, or an array of strings in some exports).
 * - `localityPrompts` = `[{prompt: loc, answer: loc_ans, kind: "nq"}]`. `loc` is kept verbatim
 *   (`"nq question: ..."`); ROME appends `"?"` before the answer, EasyEdit does not.
 * - `portabilityPrompts` from `portability` (kind `one_hop`) when present.
 * - `id` = record index; `pred`, `cond` and (when more than one) `answers` go to `meta`.
 */
import type { EditCase, LabeledPrompt } from '../types';
import { RecordContext, templateFromPrompt } from '../validate';

/** Which zsRE field is the edit target; see the module comment. */
export type ZsreTargetConvention = 'alt' | 'answers';

/** @internal */
export function zsreLooksLike(rec: Record<string, unknown>): boolean {
  return 'src' in rec && 'answers' in rec && ('alt' in rec || 'loc' in rec);
}

/** @internal Map one zsRE record; returns a string reason when the record is skipped. */
export function mapZsre(raw: unknown, ctx: RecordContext, target: ZsreTargetConvention = 'alt'): EditCase | string {
  const rec = ctx.object(raw, '');
  const subject = ctx.string(rec, 'subject', 'subject');
  const src = ctx.string(rec, 'src', 'src');
  const prompt = templateFromPrompt(ctx, src, subject, 'src', 'subject');
  const answers = ctx.stringArray(rec, 'answers', 'answers', 1);
  const alt = rec.alt === undefined ? undefined : ctx.string(rec, 'alt', 'alt', false);
  let targetNew: string;
  let targetTrue: string | undefined;
  if (target === 'alt') {
    if (alt === undefined) ctx.fail('alt', 'missing required field');
    if (alt.trim() === '') return 'empty "alt" (no edit target; EasyEdit skips these records)';
    targetNew = alt;
    targetTrue = answers[0];
  } else {
    targetNew = answers[0];
  }

  let rephrasePrompts: string[] = [];
  if (Array.isArray(rec.rephrase)) rephrasePrompts = ctx.stringArray(rec, 'rephrase', 'rephrase');
  else if (rec.rephrase !== undefined) rephrasePrompts = [ctx.string(rec, 'rephrase', 'rephrase')];

  const localityPrompts: LabeledPrompt[] = [];
  if (rec.loc !== undefined || rec.loc_ans !== undefined) {
    localityPrompts.push({ prompt: ctx.string(rec, 'loc', 'loc'), answer: ctx.string(rec, 'loc_ans', 'loc_ans'), kind: 'nq' });
  }

  const meta: Record<string, string | number | string[]> = {};
  const pred = ctx.optionalString(rec, 'pred', 'pred');
  if (pred !== undefined) meta.pred = pred;
  const cond = ctx.optionalString(rec, 'cond', 'cond');
  if (cond !== undefined) meta.cond = cond;

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
    id: String(ctx.index),
    request: { prompt, subject, targetNew },
    rephrasePrompts,
    localityPrompts,
    portabilityPrompts,
    generationPrompts: [],
    source: { format: 'zsre', file: ctx.file, index: ctx.index },
  };
  if (targetTrue !== undefined) out.request.targetTrue = targetTrue;
  if (answers.length > 1) meta.answers = answers;
  if (Object.keys(meta).length > 0) out.meta = meta;
  return out;
}
