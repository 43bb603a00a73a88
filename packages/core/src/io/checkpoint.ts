/**
 * Hugging Face checkpoint files: a single `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` (`{"metadata": {...}, "weight_map": {tensor: shard file}}`,
 * the layout `transformers`' `save_pretrained` writes with `max_shard_size`). Reading and
 * writing the files themselves is native (src/io/safetensors.cpp); this module resolves
 * the layout, checks the index against the shards' headers before anything is loaded, and
 * maps native errors to typed ones.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { loadBinding, type NativeHandle } from '@medit/native';

import { ArgumentError, IOError, fromNative } from '../errors';
import { removeStaleTemps } from './atomic-write';

/** File name of a single-file checkpoint. */
export const SAFETENSORS_FILE = 'model.safetensors';
/** File name of the index of a sharded checkpoint. */
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

export interface ReadCheckpointOptions {
  /** Keep F16/BF16 tensors in their file dtype instead of converting them to float32. */
  keepDtype?: boolean;
  /** Load only these tensors (each must exist); default: every tensor. */
  names?: string[];
  /** Read this one safetensors file in `dir` (e.g. a cache or delta file) instead of the
   *  standard `model.safetensors` / index layout. A bare file name, not a path. */
  file?: string;
}

export interface Checkpoint {
  /** Native tensor handles by checkpoint name; the caller owns (and disposes) them. */
  tensors: Map<string, NativeHandle>;
  /** The `__metadata__` of the file, or of all shards merged in shard-name order. */
  metadata: Record<string, string>;
  /** The safetensors files read, in the order they were loaded. */
  files: string[];
  /** The file each tensor was read from (for messages that name it). */
  sources: Map<string, string>;
}

const quote = (s: string): string => JSON.stringify(s);

function disposeAll(handles: Iterable<NativeHandle>): void {
  const b = loadBinding();
  for (const h of handles) b.dispose(h);
}

function checkNames(names: unknown): string[] | undefined {
  if (names === undefined) return undefined;
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
    throw new ArgumentError(`Expected an array of strings for opts.names but received ${JSON.stringify(names)}`);
  }
  return [...new Set(names as string[])];
}

/** Parses and checks the index: a `weight_map` of tensor name → shard file in `dir`. */
function readIndex(indexFile: string): Map<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (err) {
    throw new IOError(`${indexFile}: cannot read the checkpoint index (${(err as Error).message})`);
  }
  const weightMap = (raw as { weight_map?: unknown } | null)?.weight_map;
  if (typeof raw !== 'object' || raw === null || typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new IOError(`${indexFile}: expected an object with a "weight_map" object of tensor name → shard file`);
  }
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string') throw new IOError(`${indexFile}: weight_map entry ${quote(name)} is ${JSON.stringify(shard)}, expected a shard file name`);
    // Shards are siblings of the index; anything else could read files outside the checkpoint.
    if (shard === '' || shard === '.' || shard === '..' || shard.includes('/') || shard.includes('\\')) {
      throw new IOError(`${indexFile}: weight_map entry ${quote(name)} names ${quote(shard)}, which is not a file in the checkpoint directory`);
    }
    map.set(name, shard);
  }
  return map;
}

async function readSharded(dir: string, indexFile: string, names: string[] | undefined, keepDtype: boolean): Promise<Checkpoint> {
  const b = loadBinding();
  const weightMap = readIndex(indexFile);
  const wanted = names ?? [...weightMap.keys()];
  // shard file → tensor names, shards in sorted order (model-00001-of-0000N first)
  const byShard = new Map<string, string[]>();
  for (const name of wanted) {
    const shard = weightMap.get(name);
    if (shard === undefined) throw new IOError(`${indexFile}: no tensor named ${quote(name)} in weight_map`);
    const list = byShard.get(shard) ?? [];
    list.push(name);
    byShard.set(shard, list);
  }
  const shards = [...byShard.keys()].sort();

  // Check every shard's header against the index before allocating any tensor.
  for (const shard of shards) {
    const file = path.join(dir, shard);
    const listed = byShard.get(shard)!;
    if (!fs.existsSync(file)) {
      throw new IOError(`${indexFile}: shard ${quote(shard)} (holding ${listed.length} tensor(s), e.g. ${quote(listed[0])}) is missing from ${dir}`);
    }
    let present: Set<string>;
    try {
      present = new Set(b.safetensorsReadHeader(file).tensors.map((e) => e.name));
    } catch (err) {
      throw fromNative(err);
    }
    const absent = listed.filter((n) => !present.has(n));
    if (absent.length > 0) {
      throw new IOError(
        `${indexFile}: tensor ${quote(absent[0])}${absent.length > 1 ? ` (and ${absent.length - 1} more)` : ''} is mapped to shard ${quote(shard)}, which does not contain it`,
      );
    }
  }

  const tensors = new Map<string, NativeHandle>();
  const metadata: Record<string, string> = {};
  const files: string[] = [];
  const sources = new Map<string, string>();
  try {
    for (const shard of shards) {
      const file = path.join(dir, shard);
      let loaded: Awaited<ReturnType<typeof b.safetensorsLoad>>;
      try {
        loaded = await b.safetensorsLoad(file, byShard.get(shard)!, keepDtype);
      } catch (err) {
        throw fromNative(err);
      }
      for (const [name, h] of Object.entries(loaded.tensors)) {
        tensors.set(name, h);
        sources.set(name, file);
      }
      Object.assign(metadata, loaded.metadata);
      files.push(file);
    }
  } catch (err) {
    disposeAll(tensors.values());
    throw err;
  }
  return { tensors: ordered(tensors, wanted), metadata, files, sources };
}

/** `tensors` re-keyed in `order` (the index's or the caller's order). */
function ordered(tensors: Map<string, NativeHandle>, order: string[]): Map<string, NativeHandle> {
  const out = new Map<string, NativeHandle>();
  for (const name of order) {
    const h = tensors.get(name);
    if (h) out.set(name, h);
  }
  return out;
}

/**
 * Reads the safetensors checkpoint of a Hugging Face model directory: the shards listed by
 * `model.safetensors.index.json` when it exists, else `model.safetensors` (or `opts.file`
 * when given). F16/BF16 tensors load as float32 unless `keepDtype`.
 *
 * @param dir - the model directory
 * @param opts - `names` to load a subset, `keepDtype` to keep half-precision storage, `file`
 *   to read one named file in `dir`
 * @returns handles by name (the caller disposes them), merged metadata and the files read
 * @throws IOError when there is no checkpoint, the index is malformed, a shard is missing, a
 *   listed or requested tensor is absent, or a file is malformed (the message names the file)
 * @throws ArgumentError for malformed options
 * @example
 * const { tensors } = await readCheckpoint('test-fixtures/models/gpt2-tiny');
 * const wte = tensors.get('transformer.wte.weight');
 */
export async function readCheckpoint(dir: string, opts: ReadCheckpointOptions = {}): Promise<Checkpoint> {
  if (typeof dir !== 'string' || dir === '') throw new ArgumentError(`Expected a directory path for dir but received ${JSON.stringify(dir)}`);
  const names = checkNames(opts.names);
  const keepDtype = opts.keepDtype ?? false;
  if (typeof keepDtype !== 'boolean') throw new ArgumentError(`Expected a boolean for opts.keepDtype but received ${JSON.stringify(keepDtype)}`);

  if (opts.file !== undefined) {
    if (typeof opts.file !== 'string' || opts.file === '' || opts.file !== path.basename(opts.file)) {
      throw new ArgumentError(`Expected a file name (no directories) for opts.file but received ${JSON.stringify(opts.file)}`);
    }
    const file = path.join(dir, opts.file);
    if (!fs.existsSync(file)) throw new IOError(`no safetensors file ${file}`);
    return readSingle(file, names, keepDtype);
  }

  const indexFile = path.join(dir, SAFETENSORS_INDEX_FILE);
  if (fs.existsSync(indexFile)) return readSharded(dir, indexFile, names, keepDtype);

  const single = path.join(dir, SAFETENSORS_FILE);
  if (!fs.existsSync(single)) {
    const why = fs.existsSync(dir) ? `expected ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE}` : 'the directory does not exist';
    throw new IOError(`no safetensors checkpoint in ${dir} (${why})`);
  }
  return readSingle(single, names, keepDtype);
}

async function readSingle(file: string, names: string[] | undefined, keepDtype: boolean): Promise<Checkpoint> {
  const b = loadBinding();
  let loaded: Awaited<ReturnType<typeof b.safetensorsLoad>>;
  try {
    loaded = await b.safetensorsLoad(file, names ?? null, keepDtype);
  } catch (err) {
    throw fromNative(err);
  }
  const tensors = new Map(Object.entries(loaded.tensors));
  return {
    tensors: names ? ordered(tensors, names) : tensors,
    metadata: { ...loaded.metadata },
    files: [file],
    sources: new Map([...tensors.keys()].map((name) => [name, file])),
  };
}

/**
 * Writes one safetensors file atomically (a temporary sibling is fsynced and renamed over
 * `file`, so readers never see a partial file and a failed save leaves `file` untouched).
 * Temporaries that killed saves left in the folder are removed first. Header keys are
 * sorted; data keeps each tensor's dtype.
 *
 * @param file - the output path (its directory must exist)
 * @param tensors - handles by name, as a Map or a plain object
 * @param metadata - string key/values stored in `__metadata__` (e.g. `{ format: 'pt' }`)
 * @throws IOError when the file cannot be written; ArgumentError for non-string metadata
 *   values, non-tensor values or disposed tensors
 * @example await writeCheckpointFile('out/model.safetensors', new Map([['w', w.handle()]]), { format: 'pt' });
 */
export async function writeCheckpointFile(
  file: string,
  tensors: Map<string, NativeHandle> | Record<string, NativeHandle>,
  metadata: Record<string, string> = {},
): Promise<void> {
  if (typeof file !== 'string' || file === '') throw new ArgumentError(`Expected a file path for file but received ${JSON.stringify(file)}`);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new ArgumentError(`Expected a string for metadata.${k} but received ${JSON.stringify(v)}`);
  }
  // Object.fromEntries defines own properties, so even a tensor named "__proto__" survives.
  const record = tensors instanceof Map ? Object.fromEntries(tensors) : tensors;
  removeStaleTemps(path.dirname(path.resolve(file)));
  try {
    await loadBinding().safetensorsSave(file, record, metadata);
  } catch (err) {
    throw fromNative(err);
  }
}
