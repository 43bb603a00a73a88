/**
 * The fields of an EasyEdit hparams file that name files on the machine it was written for —
 * `model_name: ./hugging_cache/gpt2-xl`, `archive: ./results/models/MEND/gpt2-xl`,
 * `sentence_model_name`, `stats_dir`, `mom2_dataset: wikipedia` — mapped to local paths. A value
 * resolves to, in order: an explicit option (e.g. `modelDir`), its entry in the `paths` option,
 * its entry in a paths file, or itself when it names an existing path (relative to `cwd`, as
 * EasyEdit resolves it). Errors name the file, the field and the value.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ArgumentError, readHparamsMapping } from '@medit/core';

/** EasyEdit values (as written in hparams files) → local paths. */
export interface PathMapping {
  /** value → path; relative paths resolve against `base` */
  entries: Record<string, string>;
  base: string;
  /** where the mapping came from, named in errors */
  source: string;
}

/**
 * Reads a paths file: a JSON or YAML mapping of EasyEdit values to local paths, relative to
 * the file's own directory, e.g. `./hugging_cache/gpt2-xl: ../models/fact-small`.
 * @throws IOError / ArgumentError naming the file and the entry that is not a string
 */
export function readPathMapping(file: string): PathMapping {
  const raw = readHparamsMapping(file);
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string' || v === '') throw new ArgumentError(`${file}: expected a path for ${JSON.stringify(k)} but received ${JSON.stringify(v)}`);
  }
  return { entries: raw as Record<string, string>, base: path.dirname(path.resolve(file)), source: file };
}

/** How one path field is looked up. */
export interface PathLookup {
  /** the hparams file (named in errors) */
  file: string;
  field: string;
  value: unknown;
  /** an explicit local path for this field (an option), which wins */
  override?: string;
  /** the option it comes from, suggested in the error */
  overrideOption: string;
  mappings: readonly PathMapping[];
  cwd: string;
}

/** The local path of a field per {@link PathLookup}, or undefined when nothing maps it and it names no existing path. */
export function lookupPath(l: PathLookup): string | undefined {
  if (l.override !== undefined) return path.resolve(l.cwd, l.override);
  if (typeof l.value !== 'string' || l.value === '') return undefined;
  for (const m of l.mappings) if (Object.prototype.hasOwnProperty.call(m.entries, l.value)) return path.resolve(m.base, m.entries[l.value]);
  const asIs = path.resolve(l.cwd, l.value);
  return fs.existsSync(asIs) ? asIs : undefined;
}

/**
 * {@link lookupPath}, required.
 * @throws ArgumentError naming the file, the field, its value and how to map it
 */
export function requirePath(l: PathLookup, what: string): string {
  const p = lookupPath(l);
  if (p !== undefined) return p;
  if (typeof l.value !== 'string' || l.value === '') {
    throw new ArgumentError(`${l.file}: ${l.field} is missing (${what}); set it, or pass { ${l.overrideOption} }`);
  }
  const mapped = l.mappings.map((m) => m.source).join(', ');
  throw new ArgumentError(
    `${l.file}: ${l.field} ${JSON.stringify(l.value)} does not resolve to a local path (${what}): no such path under ${l.cwd}` +
      `${mapped ? ` and no entry for it in ${mapped}` : ''}; pass { ${l.overrideOption} } or map ${JSON.stringify(l.value)} in { paths } or a paths file`,
  );
}
