/** Text files written whole or not at all. */
import * as fs from 'node:fs';
import * as path from 'node:path';

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
