/**
 * The one record type every reader in `@medit/data` produces.
 *
 * Mapping rules per source format are documented on each reader (`formats/*.ts`) and summarised in
 * the package README section of `index.ts`.
 */

/** Dataset formats understood by {@link readDataset}. */
export type DatasetFormat = 'counterfact' | 'counterfact-easyedit' | 'zsre' | 'knowedit' | 'jsonl';

/** Every format name, in detection order. */
export const DATASET_FORMATS: readonly DatasetFormat[] = [
  'counterfact',
  'counterfact-easyedit',
  'zsre',
  'knowedit',
  'jsonl',
];

/** The edit itself: make the model complete `prompt` (with `subject` substituted) with `targetNew`. */
export interface EditRequest {
  /** Template with exactly one `{}` where the subject goes, e.g. `"{} plays the sport of"`. */
  prompt: string;
  /** Subject string substituted for `{}`. */
  subject: string;
  /** The new object the model should produce (no leading space added; tokenisers decide that). */
  targetNew: string;
  /** The object the unedited model is expected to produce, when the dataset gives one. */
  targetTrue?: string;
  /** Wikidata relation id (`P27`), CounterFact only. */
  relationId?: string;
  /** Wikidata entity id of `targetNew` (`Q334`), CounterFact only; keys ROME's consistency snippets. */
  targetNewId?: string;
  /** Wikidata entity id of `targetTrue`, CounterFact only. */
  targetTrueId?: string;
}

/** A prompt with the answer a metric compares against. */
export interface LabeledPrompt {
  /** Full prompt text (no `{}`; the subject, if any, is already in it). */
  prompt: string;
  /** Primary expected answer (first alias of the first answer group when the source lists several). */
  answer: string;
  /**
   * Sub-category the source files it under, e.g. KnowEdit's `Relation_Specificity`, `Forgetfulness`,
   * `Reasoning`, `Subject_Aliasing`; `neighborhood` for CounterFact; `nq` for zsRE; `one_hop` for
   * EasyEdit's portability extension. EasyEdit reports one locality/portability score per kind.
   */
  kind?: string;
  /**
   * All acceptable answers when the source lists more than `answer`: outer array = distinct answers,
   * inner array = aliases of one answer (KnowEdit WikiData_recent `[[str]]`). `answers[0][0] === answer`.
   */
  answers?: string[][];
}

/** Where a case came from, for error messages and report rows. */
export interface CaseSource {
  format: DatasetFormat;
  /** Path as given to the reader (or a label for in-memory text). */
  file: string;
  /** 0-based record index in the file (JSON array element, or non-blank JSONL line). */
  index: number;
}

/** One edit with everything needed to evaluate it. */
export interface EditCase {
  /** `case_id` when the source has one, else the record index; always a string. */
  id: string;
  request: EditRequest;
  /** Prompts that should now also produce `targetNew` (paraphrases / rephrases), full text. */
  rephrasePrompts: string[];
  /** Out-of-scope prompts whose answers must not change (neighbourhood / locality). */
  localityPrompts: LabeledPrompt[];
  /** Prompts whose answers should follow from the edit (multi-hop, aliasing, ...). */
  portabilityPrompts: LabeledPrompt[];
  /** Prompts to sample free text from for fluency / consistency (CounterFact). */
  generationPrompts: string[];
  /** CounterFact `attribute_prompts`: other subjects that truly have `targetNew` (answer = `targetNew`). */
  attributePrompts?: LabeledPrompt[];
  source: CaseSource;
  /** Source fields with no slot above, kept verbatim (`pararel_idx`, zsRE `pred`/`cond`, ...). */
  meta?: Record<string, string | number | string[]>;
}

/** Result of reading one file. */
export interface EditDataset {
  format: DatasetFormat;
  file: string;
  cases: EditCase[];
  /** Records deliberately not turned into cases, with the reason (e.g. zsRE records with empty `alt`). */
  skipped: { index: number; reason: string }[];
}
