/**
 * Plain edit requests, one JSON object per line (medit's own interchange format).
 *
 * Line: `{prompt, subject, target_new, target_true?, case_id?, relation_id?}`; `target_new` /
 * `target_true` may be strings or CounterFact-style `{str, id?}` objects. Blank lines are ignored
 * (they do not count as records).
 *
 * Mapping to {@link EditCase}:
 * - A `prompt` holding exactly one `{}` is the template as given. A prompt without `{}` must contain
 *   the subject; its first occurrence becomes `{}`. Two or more `{}` is a schema error.
 * - No rephrase / locality / portability / generation prompts (empty arrays).
 * - `id` = `case_id` when present, else the record index.
 */
import type { EditCase } from '../types';
import { countPlaceholders, JsonObject, RecordContext, templateFromPrompt } from '../validate';

function target(rec: JsonObject, key: string, ctx: RecordContext, required: boolean): { str?: string; id?: string } {
  const v = rec[key];
  if (v === undefined || v === null) {
    if (required) ctx.fail(key, 'missing required field');
    return {};
  }
  if (typeof v === 'string') return { str: ctx.string(rec, key, key) };
  const o = ctx.object(v, key);
  return { str: ctx.string(o, 'str', `${key}.str`), id: ctx.id(o, 'id', `${key}.id`) };
}

/** @internal Map one JSONL edit request. */
export function mapJsonlRequest(raw: unknown, ctx: RecordContext): EditCase {
  const rec = ctx.object(raw, '');
  const subject = ctx.string(rec, 'subject', 'subject');
  const given = ctx.string(rec, 'prompt', 'prompt');
  const n = countPlaceholders(given);
  if (n > 1) ctx.fail('prompt', `expected a template with exactly one "{}" but found ${n}: "${given}"`);
  const prompt = n === 1 ? given : templateFromPrompt(ctx, given, subject, 'prompt', 'subject');
  const tn = target(rec, 'target_new', ctx, true);
  const tt = target(rec, 'target_true', ctx, false);
  const out: EditCase = {
    id: ctx.id(rec, 'case_id', 'case_id') ?? String(ctx.index),
    request: { prompt, subject, targetNew: tn.str as string },
    rephrasePrompts: [],
    localityPrompts: [],
    portabilityPrompts: [],
    generationPrompts: [],
    source: { format: 'jsonl', file: ctx.file, index: ctx.index },
  };
  if (tn.id !== undefined) out.request.targetNewId = tn.id;
  if (tt.str !== undefined) out.request.targetTrue = tt.str;
  if (tt.id !== undefined) out.request.targetTrueId = tt.id;
  const rel = ctx.optionalString(rec, 'relation_id', 'relation_id');
  if (rel !== undefined) out.request.relationId = rel;
  return out;
}
