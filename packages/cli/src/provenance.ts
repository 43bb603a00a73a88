/**
 * What a trained artefact (MEND / KE editor, SERAC classifier or counterfactual model) saw: each
 * dataset file with its role, content hash and the ids of the cases used, recorded in the
 * artefact's metadata so that a test can check that nothing of an eval split is in it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { EditCase } from '@medit/data';

import { REPO_ROOT } from './common';

/** One dataset file an artefact used. */
export interface DataUse {
  /** `train`: trained on (or stored); `validation`: early stopping or calibration */
  use: 'train' | 'validation';
  /** path relative to the repository root when inside it, else absolute */
  file: string;
  /** sha256 of the file's bytes when it was read */
  sha256: string;
  /** ids of the cases used, in file order (all of the file's usable cases, or the first `--limit`) */
  caseIds: string[];
}

/** The {@link DataUse} of `cases` read from `file`. */
export function dataUse(use: DataUse['use'], file: string, cases: readonly EditCase[]): DataUse {
  const rel = path.relative(REPO_ROOT, file);
  return {
    use,
    file: rel.startsWith('..') || path.isAbsolute(rel) ? file : rel.split(path.sep).join('/'),
    sha256: createHash('sha256').update(fs.readFileSync(file)).digest('hex'),
    caseIds: cases.map((c) => c.id),
  };
}

/** A shell word: as is when it is plain, else single-quoted. */
const shellWord = (w: string) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

/**
 * The command line of `medit <command> <argv>`, quoted for a POSIX shell: what a trained
 * artefact records so that it can be made again.
 * @example commandLine('train', ['serac', '--model', 'test-fixtures/models/fact-base']) // "medit train serac --model test-fixtures/models/fact-base"
 */
export function commandLine(command: string, argv: readonly string[]): string {
  return ['medit', command, ...argv].map(shellWord).join(' ');
}
