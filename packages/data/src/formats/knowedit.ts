/**
 * KnowEdit (Zhang et al. 2024, "A Comprehensive Study of Knowledge Editing for LLMs"; HF
 * `zjunlp/KnowEdit`, read by EasyEdit `easyeditor/dataset/knowedit.py`). Four sub-formats share
 * the `locality` / `portability` blocks:
 *
 * | file | fields |
 * |---|---|
 * | ZsRE | `subject, prompt, target_new, ground_truth[str], rephrase_prompt, cond, locality, portability` |
 * | WikiData_counterfact | `subject, prompt, target_new, ground_truth: str, locality, portability` |
 * | WikiData_recent | `subject, prompt, target_new, locality, portability` (answers `[[alias...]...]`) |
 * | WikiBio | `text, labels, concept, locality` |
 *
 * Mapping to {@link EditCase}:
 * - `request.prompt` = `prompt` (WikiBio: `text`) with the subject's (WikiBio: `concept`'s) first
 *   occurrence replaced by `{}`; `targetNew` = `target_new` (WikiBio: `labels`).
 * - `targetTrue` = first answer of `ground_truth` when present (string, `[str]` or `[[str]]`).
 * - `rephrasePrompts` = `[rephrase_prompt]` when present.
 * - `locality.<Kind>[i]` → `localityPrompts` entries with `kind = <Kind>` (`Relation_Specificity`,
 *   `Forgetfulness`); `portability.<Kind>[i]` → `portabilityPrompts` (`Reasoning`,
 *   `Subject_Aliasing`, `Logical_Generalization`). EasyEdit scores each kind separately.
 * - Answers: a string is one answer; `[str]` is one answer with aliases; `[[str]]` is several answers,
 *   each with aliases. `answer` is the first alias of the first answer (what EasyEdit's KnowEdit
 *   collate uses); all of them are kept in `answers` when there is more than one string.
 * - A `prompt` given as an array of strings yields one entry per prompt with the same answers.
 * - `id` = record index; `cond` goes to `meta`.
 */
import type { EditCase, LabeledPrompt } from '../types';
import { JsonObject, RecordContext, templateFromPrompt } from '../validate';

/** @internal */
export function knowEditLooksLike(rec: Record<string, unknown>): boolean {
  const loc = rec.locality;
  if (typeof loc !== 'object' || loc === null || Array.isArray(loc)) return false;
  return ('prompt' in rec && 'target_new' in rec && 'subject' in rec) || ('text' in rec && 'labels' in rec && 'concept' in rec);
}

/** @internal Normalise a KnowEdit ground truth into answer groups (outer: answers, inner: aliases). */
export function answerGroups(v: unknown, ctx: RecordContext, path: string): string[][] {
  const bad = (): never => ctx.expected(path, 'a string, an array of strings or an array of string arrays', v);
  if (typeof v === 'string') {
    if (v.trim() === '') ctx.fail(path, 'expected a non-empty answer but received ""');
    return [[v]];
  }
  if (!Array.isArray(v) || v.length === 0) return bad();
  if (v.every((x) => typeof x === 'string')) {
    v.forEach((s, i) => {
      if ((s as string).trim() === '') ctx.fail(`${path}[${i}]`, 'expected a non-empty answer but received ""');
    });
    return [v as string[]];
  }
  return v.map((group, i) => {
    if (!Array.isArray(group) || group.length === 0) return ctx.expected(`${path}[${i}]`, 'a non-empty array of alias strings', group);
    group.forEach((s, j) => {
      if (typeof s !== 'string' || s.trim() === '') ctx.expected(`${path}[${i}][${j}]`, 'a non-empty string', s);
    });
    return group as string[];
  });
}

function labeledBlock(rec: JsonObject, key: 'locality' | 'portability', ctx: RecordContext): LabeledPrompt[] {
  if (rec[key] === undefined || rec[key] === null) return [];
  const block = ctx.object(rec[key], key);
  const out: LabeledPrompt[] = [];
  for (const kind of Object.keys(block)) {
    const entries = block[kind];
    const kpath = `${key}.${kind}`;
    if (!Array.isArray(entries)) ctx.expected(kpath, 'an array of {prompt, ground_truth}', entries);
    entries.forEach((e, i) => {
      const epath = `${kpath}[${i}]`;
      const entry = ctx.object(e, epath);
      const prompts = Array.isArray(entry.prompt)
        ? ctx.stringArray(entry, 'prompt', `${epath}.prompt`, 1)
        : [ctx.string(entry, 'prompt', `${epath}.prompt`)];
      if (entry.ground_truth === undefined) ctx.fail(`${epath}.ground_truth`, 'missing required field');
      const groups = answerGroups(entry.ground_truth, ctx, `${epath}.ground_truth`);
      const many = groups.length > 1 || groups[0].length > 1;
      for (const prompt of prompts) {
        const lp: LabeledPrompt = { prompt, answer: groups[0][0], kind };
        if (many) lp.answers = groups.map((g) => [...g]);
        out.push(lp);
      }
    });
  }
  return out;
}

/** @internal Map one KnowEdit record (any of the four sub-formats). */
export function mapKnowEdit(raw: unknown, ctx: RecordContext): EditCase {
  const rec = ctx.object(raw, '');
  const isBio = !('prompt' in rec) && 'text' in rec;
  const [promptKey, subjectKey, targetKey] = isBio ? ['text', 'concept', 'labels'] : ['prompt', 'subject', 'target_new'];
  const subject = ctx.string(rec, subjectKey, subjectKey);
  const full = ctx.string(rec, promptKey, promptKey);
  const prompt = templateFromPrompt(ctx, full, subject, promptKey, subjectKey);
  const targetNew = ctx.string(rec, targetKey, targetKey);

  const out: EditCase = {
    id: String(ctx.index),
    request: { prompt, subject, targetNew },
    rephrasePrompts: [],
    localityPrompts: labeledBlock(rec, 'locality', ctx),
    portabilityPrompts: labeledBlock(rec, 'portability', ctx),
    generationPrompts: [],
    source: { format: 'knowedit', file: ctx.file, index: ctx.index },
  };
  if (rec.ground_truth !== undefined && rec.ground_truth !== null) {
    out.request.targetTrue = answerGroups(rec.ground_truth, ctx, 'ground_truth')[0][0];
  }
  if (rec.rephrase_prompt !== undefined && rec.rephrase_prompt !== null) {
    out.rephrasePrompts = Array.isArray(rec.rephrase_prompt)
      ? ctx.stringArray(rec, 'rephrase_prompt', 'rephrase_prompt')
      : [ctx.string(rec, 'rephrase_prompt', 'rephrase_prompt')];
  }
  const cond = ctx.optionalString(rec, 'cond', 'cond');
  if (cond !== undefined) out.meta = { cond };
  return out;
}
