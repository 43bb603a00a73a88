/**
 * readCheckpoint / writeCheckpointFile: single-file and sharded (index.json) Hugging Face
 * layouts, subsets, keepDtype, and every index inconsistency named in the error.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DTYPE_CODES, loadBinding, type NativeHandle } from '@medit/native';

import { ArgumentError, IOError } from '../src/errors';
import { readCheckpoint, writeCheckpointFile, SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE } from '../src/io/checkpoint';

const b = loadBinding();
const GPT2 = path.resolve(__dirname, '../../../test-fixtures/safetensors/gpt2-tiny.safetensors');

let root: string;
let counter = 0;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-ckpt-'));
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function newDir(): string {
  counter += 1;
  const d = path.join(root, `ckpt-${counter}`);
  fs.mkdirSync(d);
  return d;
}

const f32 = (values: number[], shape: number[]): NativeHandle => b.fromTypedArray(new Float32Array(values), shape, DTYPE_CODES.float32);
const values = (h: NativeHandle): number[] => Array.from(b.read(h) as Float32Array);
const disposeAll = (m: Map<string, NativeHandle>): void => m.forEach((h) => b.dispose(h));

/** Two shards (a, b | c, h) and their index, written with the native writer. */
async function writeSharded(dir: string, weightMap?: Record<string, string>): Promise<void> {
  const shard1 = new Map([
    ['a', f32([1, 2, 3, 4], [2, 2])],
    ['b', f32([5], [1])],
  ]);
  const shard2: Record<string, NativeHandle> = {
    c: f32([6, 7, 8], [3]),
    h: b.fromTypedArray(new Uint16Array([0x3c00, 0xc000]), [2], DTYPE_CODES.float16),
  };
  await writeCheckpointFile(path.join(dir, 'model-00001-of-00002.safetensors'), shard1, { format: 'pt', shard: '1' });
  await writeCheckpointFile(path.join(dir, 'model-00002-of-00002.safetensors'), shard2, { format: 'pt', shard: '2' });
  disposeAll(shard1);
  Object.values(shard2).forEach((h) => b.dispose(h));
  const map = weightMap ?? {
    a: 'model-00001-of-00002.safetensors',
    b: 'model-00001-of-00002.safetensors',
    c: 'model-00002-of-00002.safetensors',
    h: 'model-00002-of-00002.safetensors',
  };
  fs.writeFileSync(path.join(dir, SAFETENSORS_INDEX_FILE), JSON.stringify({ metadata: { total_size: 36 }, weight_map: map }, null, 2));
}

async function expectIo(p: Promise<unknown>, ...fragments: string[]): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(IOError);
  expect((caught as IOError).code).toBe('MEDIT_E_IO');
  for (const f of fragments) expect((caught as Error).message).toContain(f);
}

let liveBefore = 0;
beforeEach(() => {
  liveBefore = b.memory().liveBytes;
});
afterEach(() => {
  // every test disposes what it loads, including on error paths inside readCheckpoint
  expect(b.memory().liveBytes).toBeLessThanOrEqual(liveBefore); // earlier files' buffers may be finalised meanwhile
});

describe('sharded checkpoints', () => {
  test('two shards and an index load as one map, with merged metadata and the files read', async () => {
    const dir = newDir();
    await writeSharded(dir);
    const ckpt = await readCheckpoint(dir);
    expect([...ckpt.tensors.keys()]).toEqual(['a', 'b', 'c', 'h']);
    expect(b.shape(ckpt.tensors.get('a')!)).toEqual([2, 2]);
    expect(values(ckpt.tensors.get('a')!)).toEqual([1, 2, 3, 4]);
    expect(values(ckpt.tensors.get('b')!)).toEqual([5]);
    expect(values(ckpt.tensors.get('c')!)).toEqual([6, 7, 8]);
    expect(b.dtype(ckpt.tensors.get('h')!)).toBe(DTYPE_CODES.float32);
    expect(values(ckpt.tensors.get('h')!)).toEqual([1, -2]);
    expect(ckpt.metadata).toEqual({ format: 'pt', shard: '2' });
    expect(ckpt.files).toEqual([path.join(dir, 'model-00001-of-00002.safetensors'), path.join(dir, 'model-00002-of-00002.safetensors')]);
    disposeAll(ckpt.tensors);
  });

  test('names loads a subset and reads only the shards that hold it; keepDtype keeps f16', async () => {
    const dir = newDir();
    await writeSharded(dir);
    const ckpt = await readCheckpoint(dir, { names: ['h', 'c'], keepDtype: true });
    expect([...ckpt.tensors.keys()]).toEqual(['h', 'c']);
    expect(b.dtype(ckpt.tensors.get('h')!)).toBe(DTYPE_CODES.float16);
    expect(Array.from(b.read(ckpt.tensors.get('h')!) as Uint16Array)).toEqual([0x3c00, 0xc000]);
    expect(ckpt.files).toEqual([path.join(dir, 'model-00002-of-00002.safetensors')]);
    disposeAll(ckpt.tensors);
  });

  test('a missing shard is an error naming the index file and the shard', async () => {
    const dir = newDir();
    await writeSharded(dir);
    fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
    await expectIo(readCheckpoint(dir), path.join(dir, SAFETENSORS_INDEX_FILE), '"model-00002-of-00002.safetensors"', 'is missing');
  });

  test('a tensor listed in weight_map but absent from its shard is an error naming the index file', async () => {
    const dir = newDir();
    await writeSharded(dir, {
      a: 'model-00001-of-00002.safetensors',
      b: 'model-00001-of-00002.safetensors',
      c: 'model-00001-of-00002.safetensors', // actually in shard 2
      h: 'model-00002-of-00002.safetensors',
    });
    await expectIo(readCheckpoint(dir), path.join(dir, SAFETENSORS_INDEX_FILE), 'tensor "c"', 'does not contain it');
  });

  test('a requested name missing from weight_map is an error naming it', async () => {
    const dir = newDir();
    await writeSharded(dir);
    await expectIo(readCheckpoint(dir, { names: ['a', 'lm_head.weight'] }), SAFETENSORS_INDEX_FILE, '"lm_head.weight"');
  });

  test('malformed index files', async () => {
    const dir = newDir();
    await writeSharded(dir);
    const index = path.join(dir, SAFETENSORS_INDEX_FILE);
    fs.writeFileSync(index, '{"weight_map": ');
    await expectIo(readCheckpoint(dir), index, 'cannot read the checkpoint index');
    fs.writeFileSync(index, JSON.stringify({ weight_map: ['a'] }));
    await expectIo(readCheckpoint(dir), index, '"weight_map"');
    fs.writeFileSync(index, JSON.stringify({ weight_map: { a: 3 } }));
    await expectIo(readCheckpoint(dir), index, 'weight_map entry "a"');
    fs.writeFileSync(index, JSON.stringify({ weight_map: { a: '../model-00001-of-00002.safetensors' } }));
    await expectIo(readCheckpoint(dir), index, 'not a file in the checkpoint directory');
  });

  test('a corrupt shard fails naming the shard file', async () => {
    const dir = newDir();
    await writeSharded(dir);
    const shard2 = path.join(dir, 'model-00002-of-00002.safetensors');
    const bytes = fs.readFileSync(shard2);
    fs.writeFileSync(shard2, bytes.subarray(0, bytes.length - 2));
    await expectIo(readCheckpoint(dir), shard2, 'truncated');
  });

  test('a shard that fails after others loaded disposes what was already loaded', async () => {
    const dir = newDir();
    await writeSharded(dir, {
      a: 'model-00001-of-00002.safetensors',
      b: 'model-00001-of-00002.safetensors',
      u: 'model-00002-of-00002.safetensors',
    });
    // shard 2 replaced by a valid file whose U8 tensor passes the header check but cannot load
    const shard2 = path.join(dir, 'model-00002-of-00002.safetensors');
    const json = Buffer.from(JSON.stringify({ u: { dtype: 'U8', shape: [8], data_offsets: [0, 8] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    fs.writeFileSync(shard2, Buffer.concat([len, json, Buffer.alloc(8)]));
    // afterEach asserts live native bytes are back to where they were
    await expectIo(readCheckpoint(dir), shard2, 'U8, which medit cannot load');
  });
});

describe('single-file checkpoints', () => {
  test('model.safetensors from Hugging Face loads with its names and shapes', async () => {
    const dir = newDir();
    fs.copyFileSync(GPT2, path.join(dir, SAFETENSORS_FILE));
    const ckpt = await readCheckpoint(dir);
    expect(ckpt.tensors.size).toBe(28);
    expect(b.shape(ckpt.tensors.get('transformer.wte.weight')!)).toEqual([1000, 64]);
    expect(b.shape(ckpt.tensors.get('transformer.h.1.attn.c_attn.weight')!)).toEqual([64, 192]);
    expect(ckpt.metadata).toEqual({ format: 'pt' });
    expect(ckpt.files).toEqual([path.join(dir, SAFETENSORS_FILE)]);
    disposeAll(ckpt.tensors);

    const some = await readCheckpoint(dir, { names: ['transformer.ln_f.weight'] });
    expect([...some.tensors.keys()]).toEqual(['transformer.ln_f.weight']);
    disposeAll(some.tensors);
    await expectIo(readCheckpoint(dir, { names: ['nope.weight'] }), path.join(dir, SAFETENSORS_FILE), '"nope.weight"');
  });

  test('writeCheckpointFile then readCheckpoint round-trips every dtype and replaces files', async () => {
    const dir = newDir();
    const file = path.join(dir, SAFETENSORS_FILE);
    const tensors = new Map<string, NativeHandle>([
      ['f32', f32([0.5, -1], [2])],
      ['f64', b.fromTypedArray(new Float64Array([Math.E]), [1], DTYPE_CODES.float64)],
      ['i32', b.fromTypedArray(new Int32Array([-3]), [1], DTYPE_CODES.int32)],
      ['i64', b.fromTypedArray(new BigInt64Array([2n ** 40n]), [1], DTYPE_CODES.int64)],
      ['bf16', b.fromTypedArray(new Uint16Array([0x4040]), [1], DTYPE_CODES.bfloat16)],
    ]);
    const old = f32([1], [1]);
    await writeCheckpointFile(file, { old }, {});
    b.dispose(old);
    await writeCheckpointFile(file, tensors, { format: 'pt' });
    disposeAll(tensors);
    const ckpt = await readCheckpoint(dir);
    expect([...ckpt.tensors.keys()].sort()).toEqual(['bf16', 'f32', 'f64', 'i32', 'i64']);
    expect(b.dtype(ckpt.tensors.get('f64')!)).toBe(DTYPE_CODES.float64);
    expect(Array.from(b.read(ckpt.tensors.get('f64')!) as Float64Array)).toEqual([Math.E]);
    expect(Array.from(b.read(ckpt.tensors.get('i32')!) as Int32Array)).toEqual([-3]);
    expect(Array.from(b.read(ckpt.tensors.get('i64')!) as BigInt64Array)).toEqual([2n ** 40n]);
    expect(values(ckpt.tensors.get('bf16')!)).toEqual([3]);
    expect(fs.readdirSync(dir)).toEqual([SAFETENSORS_FILE]);
    disposeAll(ckpt.tensors);
  });
});

describe('opts.file', () => {
  test('reads one named file in the directory instead of the standard layout', async () => {
    const dir = newDir();
    await writeSharded(dir);
    const ckpt = await readCheckpoint(dir, { file: 'model-00002-of-00002.safetensors', names: ['c'] });
    expect([...ckpt.tensors.keys()]).toEqual(['c']);
    expect(values(ckpt.tensors.get('c')!)).toEqual([6, 7, 8]);
    expect(ckpt.metadata).toEqual({ format: 'pt', shard: '2' });
    expect(ckpt.files).toEqual([path.join(dir, 'model-00002-of-00002.safetensors')]);
    disposeAll(ckpt.tensors);
    await expectIo(readCheckpoint(dir, { file: 'absent.safetensors' }), path.join(dir, 'absent.safetensors'));
    await expect(readCheckpoint(dir, { file: '../x.safetensors' })).rejects.toBeInstanceOf(ArgumentError);
  });
});

describe('errors', () => {
  test('no checkpoint in a directory, or no directory', async () => {
    const dir = newDir();
    await expectIo(readCheckpoint(dir), `no safetensors checkpoint in ${dir}`);
    await expectIo(readCheckpoint(path.join(dir, 'missing')), 'no safetensors checkpoint in', 'does not exist');
  });

  test('argument validation and native errors map to typed classes', async () => {
    const dir = newDir();
    await expect(readCheckpoint(dir, { names: 'a' as unknown as string[] })).rejects.toBeInstanceOf(ArgumentError);
    const h = f32([1], [1]);
    await expect(writeCheckpointFile(path.join(dir, 'x.safetensors'), { h }, { n: 1 as unknown as string })).rejects.toThrow(
      'Expected a string for metadata.n but received 1',
    );
    await expectIo(writeCheckpointFile(path.join(dir, 'no', 'x.safetensors'), { h }), path.join(dir, 'no', 'x.safetensors'));
    b.dispose(h);
    await expect(writeCheckpointFile(path.join(dir, 'x.safetensors'), { h })).rejects.toBeInstanceOf(ArgumentError);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
