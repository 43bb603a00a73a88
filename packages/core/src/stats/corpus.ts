/** Local text corpora for statistics jobs: .txt (one document per non-empty line) or .jsonl ({"text": ...}). */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

import { IOError } from '../errors';

export interface Corpus {
  /** documents in corpus order */
  docs: string[];
  /** sha256 of the documents (identifies the corpus in caches) */
  hash: string;
  /** where it came from */
  source: string;
}

/** A corpus from in-memory texts. */
export function corpusFromTexts(docs: string[], source = 'memory'): Corpus {
  const h = createHash('sha256');
  for (const d of docs) h.update(d).update('\n\u0000');
  return { docs, hash: h.digest('hex'), source };
}

/** Reads a .txt or .jsonl corpus file; errors name the file and line. */
export function readCorpus(file: string): Corpus {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new IOError(`cannot read corpus ${file}: ${(err as Error).message}`);
  }
  const lines = text.split(/\r?\n/);
  const docs: string[] = [];
  if (file.endsWith('.jsonl')) {
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch (err) {
        throw new IOError(`${file}:${i + 1}: invalid JSON (${(err as Error).message})`);
      }
      const t = (rec as { text?: unknown })?.text;
      if (typeof t !== 'string') throw new IOError(`${file}:${i + 1}: expected a string field "text"`);
      docs.push(t);
    });
  } else {
    for (const line of lines) if (line.trim()) docs.push(line);
  }
  if (docs.length === 0) throw new IOError(`${file}: the corpus has no documents`);
  return { ...corpusFromTexts(docs, file), source: file };
}
