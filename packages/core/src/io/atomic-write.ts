/** Files and directories written whole or not at all. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ArgumentError } from '../errors';

/**
 * Writes `text` to `file` through a temporary file in the same folder and a rename, so a reader
 * never sees a half-written file (creating the folder if needed).
 */
export function writeFileAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/**
 * Creates the directory `dir` whole or not at all: `fill` writes into a temporary sibling
 * directory, which is renamed to `dir` once `fill` returns (and removed if it throws), so an
 * interrupted write never leaves a directory that looks complete.
 * @param label - names the caller in the error for an existing `dir`
 * @throws ArgumentError when `dir` already exists (nothing is overwritten)
 * @example await writeDirectoryAtomic('out/adapter', async (tmp) => fs.writeFileSync(path.join(tmp, 'a.json'), '{}'));
 */
export async function writeDirectoryAtomic(dir: string, fill: (tmp: string) => Promise<void> | void, label = 'writeDirectoryAtomic'): Promise<void> {
  const target = path.resolve(dir);
  if (fs.existsSync(target)) throw new ArgumentError(`${label}: ${dir} already exists`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
