/**
 * Reads a hyperparameter file — JSON, or YAML as EasyEdit ships them — into a plain mapping,
 * for every method's `read*Hparams` to validate. YAML is read with the core schema (no
 * timestamps or other implicit types: a value either is a YAML 1.2 scalar or stays a string).
 */
import * as fs from 'node:fs';

import * as yaml from 'js-yaml';

import { IOError } from '../errors';

/**
 * @throws IOError naming the file when it cannot be read or parsed, or does not hold a mapping
 */
export function readHparamsMapping(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    const text = fs.readFileSync(file, 'utf8');
    raw = file.endsWith('.json') ? JSON.parse(text) : yaml.load(text, { schema: yaml.CORE_SCHEMA });
  } catch (err) {
    throw new IOError(`${file}: cannot read hyperparameters (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new IOError(`${file}: expected a mapping of hyperparameters`);
  return raw as Record<string, unknown>;
}
