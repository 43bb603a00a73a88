/**
 * MMEdit's E-VQA and E-IC records (Cheng et al., EMNLP 2023; EasyEdit `dataset/vqa.py`,
 * `dataset/coco_caption.py`; specs/meta-and-memory.md §8.5):
 *
 *   {src, pred, alt, rephrase, image, image_rephrase, loc, loc_ans, m_loc, m_loc_q, m_loc_a}
 *
 * `src` is the question (E-VQA) or caption prompt (E-IC), `pred` the unedited model's answer,
 * `alt` the desired one, `rephrase` a rephrased `src`, `image_rephrase` a rephrased image (same
 * content drawn again), `loc` / `loc_ans` a text-only locality question and answer, `m_loc` /
 * `m_loc_q` / `m_loc_a` an image + question + answer for multimodal locality. Image fields are
 * paths, read relative to the JSON file's folder (MMEdit's are relative to its COCO image root).
 * Records with an empty string anywhere are skipped, as EasyEdit drops them; the reason is listed.
 * The edit's `cond` string (MEND / KE conditioning) is `"{pred} >> {alt} || {src}"`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { DatasetFormatError } from '../errors';
import type { EditRequest } from '../types';
import { parseJson } from '../json';
import { RecordContext } from '../validate';

/**
 * MMEdit's VQA prompt template (EasyEdit `dataset/vqa.py`), applied to the multimodal-locality
 * questions `m_loc_q`; the edit's `src` and `rephrase` are used as stored (spec §8.2).
 */
export const MMEDIT_VQA_TEMPLATE = 'Question: {} Short answer:';

/** `m_loc_q` as the model is asked it: in {@link MMEDIT_VQA_TEMPLATE}. */
export function mmeditLocalityPrompt(question: string): string {
  return MMEDIT_VQA_TEMPLATE.replace('{}', question);
}

/** The string fields of a record, in schema order. */
export const MMEDIT_FIELDS = ['src', 'pred', 'alt', 'rephrase', 'image', 'image_rephrase', 'loc', 'loc_ans', 'm_loc', 'm_loc_q', 'm_loc_a'] as const;

/**
 * One MMEdit case. Image fields are absolute paths as read (`I = string`); {@link withCaseImages}
 * turns them into decoded images.
 */
export interface MmeditCase<I = string> {
  /** record index, as a string */
  id: string;
  src: string;
  pred: string;
  alt: string;
  rephrase: string;
  image: I;
  imageRephrase: I;
  loc: string;
  locAns: string;
  mLoc: I;
  mLocQ: string;
  mLocA: string;
  /** `"{pred} >> {alt} || {src}"` */
  cond: string;
  source: { file: string; index: number };
}

/** Result of {@link readMmedit}. */
export interface MmeditDataset {
  file: string;
  cases: MmeditCase[];
  skipped: { index: number; reason: string }[];
}

/**
 * Reads an MMEdit JSON file (an array of records).
 * @throws DatasetParseError for malformed JSON; DatasetFormatError when the top level is not an
 *   array; DatasetSchemaError naming the record and field for a missing or non-string field
 * @example const { cases } = readMmedit('test-fixtures/imageworld/edits/vqa-eval.json');
 */
export function readMmedit(file: string): MmeditDataset {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new DatasetFormatError(file, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const data = parseJson(text, file);
  if (!Array.isArray(data)) throw new DatasetFormatError(file, 'expected a JSON array of MMEdit records');
  const dir = path.dirname(path.resolve(file));
  const cases: MmeditCase[] = [];
  const skipped: MmeditDataset['skipped'] = [];
  data.forEach((raw, index) => {
    const ctx = new RecordContext(file, index);
    const rec = ctx.object(raw, '');
    const v = Object.fromEntries(MMEDIT_FIELDS.map((f) => [f, ctx.string(rec, f, f, false)])) as Record<(typeof MMEDIT_FIELDS)[number], string>;
    const empty = MMEDIT_FIELDS.filter((f) => v[f].trim() === '');
    if (empty.length > 0) {
      skipped.push({ index, reason: `empty ${empty.map((f) => `"${f}"`).join(', ')} (EasyEdit drops records with an empty field)` });
      return;
    }
    cases.push({
      id: String(index),
      src: v.src,
      pred: v.pred,
      alt: v.alt,
      rephrase: v.rephrase,
      image: path.resolve(dir, v.image),
      imageRephrase: path.resolve(dir, v.image_rephrase),
      loc: v.loc,
      locAns: v.loc_ans,
      mLoc: path.resolve(dir, v.m_loc),
      mLocQ: v.m_loc_q,
      mLocA: v.m_loc_a,
      cond: `${v.pred} >> ${v.alt} || ${v.src}`,
      source: { file, index },
    });
  });
  return { file, cases, skipped };
}

/**
 * The case with its three images loaded by `load` (e.g. core's `readPng`), each path read once.
 * @example const c = withCaseImages(cases[0], readPng);
 */
export function withCaseImages<I>(c: MmeditCase, load: (file: string) => I): MmeditCase<I> {
  return { ...c, image: load(c.image), imageRephrase: load(c.imageRephrase), mLoc: load(c.mLoc) };
}

/**
 * The edit request of an MMEdit case: no subject span exists, so the whole `src` is the subject
 * and the template is `{}` (the filled prompt is `src`); `targetNew` = `alt`, `targetTrue` = `pred`.
 */
export function mmeditRequest(c: Pick<MmeditCase<unknown>, 'src' | 'alt' | 'pred'>): EditRequest {
  return { prompt: '{}', subject: c.src, targetNew: c.alt, targetTrue: c.pred };
}
