/**
 * Reads a hyperparameter file — JSON, or YAML as EasyEdit ships them — into a plain mapping,
 * for every method's `read*Hparams` to validate. YAML is read with the core schema (no
 * timestamps or other implicit types: a value either is a YAML 1.2 scalar or stays a string).
 * Given the fields a method knows, any other field is an error naming the closest known one
 * (a typo such as `layerz` must not leave `layers` at its default without a word).
 */
import * as fs from 'node:fs';

import * as yaml from 'js-yaml';

import { IOError, UnknownFieldError } from '../errors';

/**
 * Fields of EasyEdit's hyperparameter files that say where things are (model paths, devices,
 * module-name templates, precision) rather than how a method edits: every reader accepts them,
 * and medit finds the same things from the model itself.
 */
export const EASYEDIT_INFRA_FIELDS: readonly string[] = [
  'alg_name',
  'model_name',
  'model_class',
  'tokenizer_class',
  'tokenizer_name',
  'device',
  'model_parallel',
  'fp16',
  'half',
  'stats_dir',
  'results_dir',
  'archive',
  'rewrite_module_tmp',
  'rewrite_module_tmps',
  'layer_module_tmp',
  'mlp_module_tmp',
  'attn_module_tmp',
  'ln_f_module',
  'lm_head_module',
  'layer_selection',
  'max_length',
  'batch_size',
];

/**
 * The provenance block a tuned file carries (`medit tune` writes it: what the values were chosen
 * on — split, cases, grid, metric): every reader accepts it and no method reads it.
 */
const PROVENANCE_FIELDS: readonly string[] = ['tuned'];

/** Which fields a method reads and which it accepts without reading. */
export interface HparamsFields {
  /** the fields the method reads */
  known: Iterable<string>;
  /** fields accepted and ignored besides {@link EASYEDIT_INFRA_FIELDS} (e.g. EasyEdit options medit does not implement) */
  ignored?: Iterable<string>;
}

/** Levenshtein distance (insertions, deletions, substitutions), for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** The known field closest to `field` when it is close enough to be a typo of it. */
function closest(field: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(field.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(field.length / 3)) ? best : undefined;
}

/**
 * Throws {@link UnknownFieldError} for the first field of `given` that is neither known, ignored,
 * an EasyEdit infrastructure field, the `tuned` provenance block, nor a comment (a key starting with `_`).
 * @param source - the file (or "hparams"), for the message
 * @example checkHparamsFields({ layerz: [5] }, { known: ['layers'] }, 'rome.yaml'); // throws: did you mean "layers"?
 */
export function checkHparamsFields(given: Record<string, unknown>, fields: HparamsFields, source: string): void {
  const known = [...fields.known];
  const accepted = new Set([...known, ...(fields.ignored ?? []), ...EASYEDIT_INFRA_FIELDS, ...PROVENANCE_FIELDS]);
  for (const field of Object.keys(given)) {
    if (accepted.has(field) || field.startsWith('_')) continue;
    const suggestion = closest(field, known);
    throw new UnknownFieldError(
      `${source}: unknown hyperparameter ${JSON.stringify(field)}${suggestion ? ` (did you mean ${JSON.stringify(suggestion)}?)` : ''}; ` +
        `the fields this method reads are ${known.sort().join(', ')}`,
      field,
      suggestion,
    );
  }
}

/**
 * Parses the text of a hyperparameter file named `file` (JSON when it ends in .json, YAML
 * otherwise) into a mapping.
 * @param fields - when given, fields outside them are an error ({@link checkHparamsFields})
 * @throws IOError naming the file when the text cannot be parsed or does not hold a mapping
 * @throws UnknownFieldError naming the file, the field and the closest known field
 */
export function parseHparamsText(text: string, file: string, fields?: HparamsFields): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : yaml.load(text, { schema: yaml.CORE_SCHEMA });
  } catch (err) {
    throw new IOError(`${file}: cannot read hyperparameters (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new IOError(`${file}: expected a mapping of hyperparameters`);
  if (fields) checkHparamsFields(raw as Record<string, unknown>, fields, file);
  return raw as Record<string, unknown>;
}

/**
 * Reads a hyperparameter file (JSON or YAML) into a mapping.
 * @param fields - when given, fields outside them are an error ({@link checkHparamsFields})
 * @throws IOError naming the file when it cannot be read or parsed, or does not hold a mapping
 * @throws UnknownFieldError naming the file, the field and the closest known field
 */
export function readHparamsMapping(file: string, fields?: HparamsFields): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new IOError(`${file}: cannot read hyperparameters (${(err as Error).message})`);
  }
  return parseHparamsText(text, file, fields);
}
