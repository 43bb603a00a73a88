/**
 * A safetensors file that carries its own description: a JSON document stored as one string
 * value of the header's `__metadata__` (safetensors metadata values must be strings). Tensors
 * and description are one file written by one rename, so a save killed at any moment leaves
 * the previous file or the new one — never one save's tensors beside another save's
 * description. Files from before (`<file>` plus a `<file>.json` sidecar) are still read; the
 * caller checks that such a pair belongs together.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { loadBinding, type NativeHandle } from '@medit/native';

import { IOError } from '../errors';
import { readCheckpoint, writeCheckpointFile } from './checkpoint';

/** The `__metadata__` key holding the JSON document. */
export const DOCUMENT_KEY = 'medit_document';

/** What {@link readTensorDocument} returns; the caller owns (and disposes) the handles. */
export interface TensorDocument {
  tensors: Map<string, NativeHandle>;
  /** the parsed JSON document */
  document: Record<string, unknown>;
  /** the file's other `__metadata__` entries */
  metadata: Record<string, string>;
  /** true when the document came from a `<file>.json` sidecar (the two-file format) */
  sidecar: boolean;
}

/**
 * Writes `tensors` and `document` to `file` atomically (temporary sibling + rename), with
 * `format` in `__metadata__.format`. A sidecar `<file>.json` left by the two-file format is
 * removed, since it would describe the previous tensors.
 * @throws IOError when the file cannot be written
 */
export async function writeTensorDocument(file: string, tensors: ReadonlyMap<string, NativeHandle>, format: string, document: object): Promise<void> {
  await writeCheckpointFile(file, new Map(tensors), { format, [DOCUMENT_KEY]: JSON.stringify(document) });
  fs.rmSync(`${file}.json`, { force: true });
}

/**
 * Reads a file written by {@link writeTensorDocument} (or a two-file pair).
 * @param what - what the file holds, for messages ("edit delta", "trained editor")
 * @throws IOError naming the file when it is missing, malformed, of another format, or has no
 *   document (neither embedded nor a sidecar)
 */
export async function readTensorDocument(file: string, format: string, what: string): Promise<TensorDocument> {
  if (!fs.existsSync(file)) throw new IOError(`${what} not found: ${file}`);
  const ckpt = await readCheckpoint(path.dirname(path.resolve(file)), { file: path.basename(file) });
  const dispose = () => {
    for (const h of ckpt.tensors.values()) loadBinding().dispose(h);
  };
  try {
    const { [DOCUMENT_KEY]: embedded, ...metadata } = ckpt.metadata;
    if (metadata.format !== format) throw new IOError(`${file}: not a medit ${what} file (format ${JSON.stringify(metadata.format ?? null)}, expected ${JSON.stringify(format)})`);
    let text: string;
    let source: string;
    if (embedded !== undefined) {
      text = embedded;
      source = `${file}: __metadata__.${DOCUMENT_KEY}`;
    } else {
      source = `${file}.json`;
      try {
        text = fs.readFileSync(source, 'utf8');
      } catch (err) {
        throw new IOError(`${file}: the ${what}'s description is missing (no __metadata__.${DOCUMENT_KEY} and no ${path.basename(source)} sidecar: ${(err as Error).message})`);
      }
    }
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (err) {
      throw new IOError(`${source}: invalid JSON (${(err as Error).message})`);
    }
    if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new IOError(`${source}: expected a JSON object describing the ${what}`);
    return { tensors: ckpt.tensors, document: document as Record<string, unknown>, metadata, sidecar: embedded === undefined };
  } catch (err) {
    dispose();
    throw err;
  }
}
