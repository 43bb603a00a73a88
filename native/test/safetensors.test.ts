/**
 * safetensors reader/writer (src/io/safetensors.cpp) through the binding: round trips for
 * every engine dtype, real Hugging Face files, every malformed-file rule of the format
 * README (https://github.com/huggingface/safetensors), and atomic saves.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DTYPE_CODES, loadBinding, type NativeHandle } from '@medit/native';

const b = loadBinding();
const FIXTURES = path.resolve(__dirname, '../../test-fixtures/safetensors');
const GPT2 = path.join(FIXTURES, 'gpt2-tiny.safetensors');
const GPT2_EXPECTED = path.join(FIXTURES, 'gpt2-expected.safetensors');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-st-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let fileCounter = 0;
function tmpFile(name = 'x'): string {
  fileCounter += 1;
  return path.join(dir, `${name}-${fileCounter}.safetensors`);
}

/** Raw safetensors bytes: u64 LE header length (or `headerLen` to lie about it), header, data. */
function rawBytes(header: object | string, data: Buffer = Buffer.alloc(0), headerLen?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLen ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

function writeRaw(header: object | string, data?: Buffer, headerLen?: bigint): string {
  const file = tmpFile('raw');
  fs.writeFileSync(file, rawBytes(header, data, headerLen));
  return file;
}

/** Both the sync header reader and the async loader must reject `file` with MEDIT_E_IO naming it. */
async function expectIoError(file: string, fragment: string | RegExp, opts: { headerOk?: boolean } = {}): Promise<void> {
  const check = (err: unknown): void => {
    const e = err as Error & { code?: string };
    // native errors come from Node's realm, not jest's sandbox, so check the brand instead of instanceof
    expect(Object.prototype.toString.call(e)).toBe('[object Error]');
    expect(e.code).toBe('MEDIT_E_IO');
    expect(e.message).toContain(file);
    if (typeof fragment === 'string') expect(e.message).toContain(fragment);
    else expect(e.message).toMatch(fragment);
  };
  if (!opts.headerOk) {
    let thrown: unknown;
    try {
      b.safetensorsReadHeader(file);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeDefined();
    check(thrown);
  }
  let rejected: unknown;
  try {
    const r = await b.safetensorsLoad(file, null, false);
    Object.values(r.tensors).forEach((h) => b.dispose(h));
  } catch (err) {
    rejected = err;
  }
  expect(rejected).toBeDefined();
  check(rejected);
}

const f32 = (n: number): Buffer => Buffer.alloc(4 * n);

describe('round trip', () => {
  const before = b.memory();
  afterAll(() => {
    // ≤: native buffers of earlier test files in this worker may be finalised meanwhile
    expect(b.memory().liveBytes).toBeLessThanOrEqual(before.liveBytes);
  });

  const cases: Array<{ dtype: keyof typeof DTYPE_CODES; file: string; data: ArrayBufferView; shape: number[] }> = [
    { dtype: 'float32', file: 'F32', data: new Float32Array([1.5, -2.25, 0, 3e-8, 1e30, -Infinity]), shape: [2, 3] },
    { dtype: 'float64', file: 'F64', data: new Float64Array([Math.PI, -1e300, 5e-324, 0]), shape: [4] },
    { dtype: 'int32', file: 'I32', data: new Int32Array([-2147483648, 2147483647, 0, 7, -1, 3]), shape: [3, 2] },
    { dtype: 'int64', file: 'I64', data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 5n]), shape: [3, 1] },
    // f16 bits of 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0
    { dtype: 'float16', file: 'F16', data: new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000]), shape: [6] },
    // bf16 bits of 1, -2, 0.5, 3.140625, 2^-133 (subnormal), 3.3895e38 (max)
    { dtype: 'bfloat16', file: 'BF16', data: new Uint16Array([0x3f80, 0xc000, 0x3f00, 0x4049, 0x0001, 0x7f7f]), shape: [2, 3] },
  ];
  const floatOf: Record<string, number[]> = {
    float16: [1, -2, 0.5, 65504, 2 ** -24, -0],
    bfloat16: [1, -2, 0.5, 3.140625, 2 ** -133, 3.3895313892515355e38],
  };

  test.each(cases)('$file keeps its bits with keepDtype and its values without', async ({ dtype, file: fileDtype, data, shape }) => {
    const file = tmpFile(fileDtype);
    const h = b.fromTypedArray(data, shape, DTYPE_CODES[dtype]);
    await b.safetensorsSave(file, { t: h }, {});
    b.dispose(h);

    const header = b.safetensorsReadHeader(file);
    expect(header.tensors).toEqual([{ name: 't', dtype: fileDtype, shape, begin: 0, end: data.byteLength }]);
    expect(header.metadata).toEqual({});

    const kept = await b.safetensorsLoad(file, null, true);
    expect(b.dtype(kept.tensors.t)).toBe(DTYPE_CODES[dtype]);
    expect(b.shape(kept.tensors.t)).toEqual(shape);
    expect(Array.from(b.read(kept.tensors.t) as ArrayLike<number | bigint>)).toEqual(Array.from(data as unknown as ArrayLike<number | bigint>));
    b.dispose(kept.tensors.t);

    const loaded = await b.safetensorsLoad(file, null, false);
    const t = loaded.tensors.t;
    if (dtype === 'float16' || dtype === 'bfloat16') {
      expect(b.dtype(t)).toBe(DTYPE_CODES.float32);
      expect(Array.from(b.read(t) as Float32Array)).toEqual(floatOf[dtype]);
    } else {
      // F64, I64 and I32 are never converted.
      expect(b.dtype(t)).toBe(DTYPE_CODES[dtype]);
    }
    expect(b.shape(t)).toEqual(shape);
    b.dispose(t);
  });

  test('several dtypes in one file: sorted keys, aligned data, space-padded header, metadata', async () => {
    const file = tmpFile('mixed');
    const handles: Record<string, NativeHandle> = {
      'z.half': b.fromTypedArray(new Uint16Array([0x3c00, 0x4000, 0x4200]), [3], DTYPE_CODES.float16),
      'a.long': b.fromTypedArray(new BigInt64Array([1n, -2n]), [2], DTYPE_CODES.int64),
      'm.float': b.fromTypedArray(new Float32Array([0.25]), [1], DTYPE_CODES.float32),
      scalar: b.fromTypedArray(new Float64Array([42]), [], DTYPE_CODES.float64),
      empty: b.fromTypedArray(new Float32Array(0), [0, 3], DTYPE_CODES.float32),
    };
    const metadata = { format: 'pt', note: 'quote " backslash \\ newline \n tab \t \u0001 ünï 😀' };
    await b.safetensorsSave(file, handles, metadata);
    Object.values(handles).forEach((h) => b.dispose(h));

    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const text = bytes.subarray(8, 8 + n).toString('utf8');
    expect(text).toMatch(/^\{.*\} *$/s);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['__metadata__', 'a.long', 'empty', 'm.float', 'scalar', 'z.half']);
    expect(parsed.__metadata__).toEqual(metadata);

    const header = b.safetensorsReadHeader(file);
    expect(header.metadata).toEqual(metadata);
    const size: Record<string, number> = { F64: 8, I64: 8, F32: 4, F16: 2 };
    for (const e of header.tensors) expect(e.begin % size[e.dtype]).toBe(0);
    // the entries tile the data section
    const spans = header.tensors.map((e) => [e.begin, e.end]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let cursor = 0;
    for (const [s, e] of spans) {
      expect(s).toBe(cursor);
      cursor = e;
    }
    expect(8 + n + cursor).toBe(bytes.length);

    const r = await b.safetensorsLoad(file, null, false);
    expect(Object.keys(r.tensors).sort()).toEqual(['a.long', 'empty', 'm.float', 'scalar', 'z.half']);
    expect(Array.from(b.read(r.tensors['z.half']) as Float32Array)).toEqual([1, 2, 3]);
    expect(Array.from(b.read(r.tensors['a.long']) as BigInt64Array)).toEqual([1n, -2n]);
    expect(b.shape(r.tensors.scalar)).toEqual([]);
    expect(Array.from(b.read(r.tensors.scalar) as Float64Array)).toEqual([42]);
    expect(b.shape(r.tensors.empty)).toEqual([0, 3]);
    expect(r.metadata).toEqual(metadata);
    Object.values(r.tensors).forEach((h) => b.dispose(h));
  });

  test('names with escapes and non-ASCII round trip; \\u escapes in files are decoded', async () => {
    const file = tmpFile('names');
    const name = 'layer."0"\\wé😀\n';
    const h = b.fromTypedArray(new Float32Array([7]), [1], DTYPE_CODES.float32);
    await b.safetensorsSave(file, { [name]: h }, {});
    b.dispose(h);
    expect(b.safetensorsReadHeader(file).tensors.map((e) => e.name)).toEqual([name]);

    // "__proto__" is a legal tensor name and metadata key; inherited properties are not saved
    const proto = tmpFile('proto');
    const p = b.fromTypedArray(new Float32Array([5]), [1], DTYPE_CODES.float32);
    const q = b.fromTypedArray(new Float32Array([6]), [1], DTYPE_CODES.float32);
    const tensors = Object.create({ inherited: q }) as Record<string, NativeHandle>;
    Object.defineProperty(tensors, '__proto__', { value: p, enumerable: true });
    await b.safetensorsSave(proto, tensors, JSON.parse('{"__proto__": "m"}') as Record<string, string>);
    b.dispose(p);
    b.dispose(q);
    const loadedProto = await b.safetensorsLoad(proto, null, false);
    expect(Object.keys(loadedProto.tensors)).toEqual(['__proto__']);
    expect(Array.from(b.read(Object.getOwnPropertyDescriptor(loadedProto.tensors, '__proto__')!.value as NativeHandle) as Float32Array)).toEqual([5]);
    expect(Object.getOwnPropertyDescriptor(loadedProto.metadata, '__proto__')?.value).toBe('m');
    b.dispose(Object.getOwnPropertyDescriptor(loadedProto.tensors, '__proto__')!.value as NativeHandle);

    const escaped = writeRaw('{"w\\u00e9\\ud83d\\ude00\\/x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   ', f32(1));
    expect(b.safetensorsReadHeader(escaped).tensors[0].name).toBe('wé😀/x');
  });

  test('names selects a subset (duplicates load once); an unknown name is an error naming it', async () => {
    const file = tmpFile('subset');
    const a = b.fromTypedArray(new Float32Array([1, 2]), [2], DTYPE_CODES.float32);
    const c = b.fromTypedArray(new Int32Array([3]), [1], DTYPE_CODES.int32);
    await b.safetensorsSave(file, { a, c }, { k: 'v' });
    b.dispose(a);
    b.dispose(c);
    const r = await b.safetensorsLoad(file, ['c', 'c'], false);
    expect(Object.keys(r.tensors)).toEqual(['c']);
    expect(Array.from(b.read(r.tensors.c) as Int32Array)).toEqual([3]);
    b.dispose(r.tensors.c);
    await expect(b.safetensorsLoad(file, ['a', 'missing.weight'], false)).rejects.toMatchObject({
      code: 'MEDIT_E_IO',
      message: expect.stringMatching(/missing\.weight/),
    });
  });
});

describe('Hugging Face files', () => {
  test('gpt2-tiny model.safetensors: header, shapes and values match an independent decode', async () => {
    const header = b.safetensorsReadHeader(GPT2);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.tensors).toHaveLength(28);
    const byName = new Map(header.tensors.map((e) => [e.name, e]));
    expect(byName.get('transformer.wte.weight')?.shape).toEqual([1000, 64]);
    expect(byName.get('transformer.wpe.weight')?.shape).toEqual([64, 64]);
    expect(byName.get('transformer.h.0.attn.c_attn.weight')?.shape).toEqual([64, 192]);
    expect(byName.get('transformer.h.1.mlp.c_proj.weight')?.shape).toEqual([256, 64]);

    const r = await b.safetensorsLoad(GPT2, ['transformer.wte.weight', 'transformer.h.0.ln_1.weight'], false);
    const bytes = fs.readFileSync(GPT2);
    const start = 8 + Number(bytes.readBigUInt64LE(0));
    for (const name of ['transformer.wte.weight', 'transformer.h.0.ln_1.weight']) {
      const e = byName.get(name)!;
      const slice = bytes.subarray(start + e.begin, start + e.end);
      const want = new Float32Array(slice.buffer.slice(slice.byteOffset, slice.byteOffset + slice.length));
      expect(b.shape(r.tensors[name])).toEqual(e.shape);
      expect(Array.from(b.read(r.tensors[name]) as Float32Array)).toEqual(Array.from(want));
      b.dispose(r.tensors[name]);
    }
  });

  test('gpt2 expected.safetensors: I64 ids load as int64 with the values HF wrote', async () => {
    const r = await b.safetensorsLoad(GPT2_EXPECTED, ['input_ids', 'logits'], false);
    expect(r.metadata).toEqual({ source: 'make_parity.py' });
    expect(b.dtype(r.tensors.input_ids)).toBe(DTYPE_CODES.int64);
    expect(b.shape(r.tensors.input_ids)).toEqual([2, 12]);
    const ids = Array.from(b.read(r.tensors.input_ids) as BigInt64Array).map(Number);
    // row 0 from expected.json's inputs.input_ids
    expect(ids.slice(0, 12)).toEqual([818, 726, 297, 56, 207, 375, 667, 658, 692, 282, 236, 157]);
    expect(b.shape(r.tensors.logits)).toEqual([2, 12, 1000]);
    Object.values(r.tensors).forEach((h) => b.dispose(h));
  });
});

describe('malformed files are rejected with MEDIT_E_IO naming the file', () => {
  const entry = (over: object = {}): object => ({ dtype: 'F32', shape: [2], data_offsets: [0, 8], ...over });

  test('file shorter than 8 bytes (and empty)', async () => {
    const short = tmpFile('short');
    fs.writeFileSync(short, Buffer.from([1, 2, 3, 4, 5]));
    await expectIoError(short, 'shorter than the 8-byte');
    const empty = tmpFile('empty');
    fs.writeFileSync(empty, Buffer.alloc(0));
    await expectIoError(empty, '0 bytes');
  });

  test('missing file and directories', async () => {
    await expectIoError(path.join(dir, 'does-not-exist.safetensors'), 'cannot open');
    await expectIoError(dir, 'not a regular file');
    // a FIFO must be refused, not block the reader waiting for a writer
    const fifo = path.join(dir, 'fifo.safetensors');
    if (spawnSync('mkfifo', [fifo]).status === 0) {
      await expectIoError(fifo, 'not a regular file');
      fs.rmSync(fifo);
    }
  });

  test('header length past the end of the file, and absurdly large', async () => {
    await expectIoError(writeRaw({ t: entry() }, f32(2), 4096n), 'runs past the end of the file');
    await expectIoError(writeRaw({ t: entry() }, f32(2), 2n ** 62n), 'absurdly large');
    await expectIoError(writeRaw({ t: entry() }, f32(2), 2n ** 64n - 1n), 'absurdly large');
  });

  test('header that is not JSON or not an object', async () => {
    await expectIoError(writeRaw('{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]'), 'not valid JSON');
    await expectIoError(writeRaw('[1, 2]'), "does not start with '{'");
    await expectIoError(writeRaw(''), "does not start with '{'");
    await expectIoError(writeRaw('{} trailing'), 'not valid JSON');
    await expectIoError(writeRaw("{'t': 1}"), 'not valid JSON');
    await expectIoError(writeRaw('{"t": tru}'), 'not valid JSON');
    await expectIoError(writeRaw('{"a": "x", "a": "y"}'), 'duplicate key');
    await expectIoError(writeRaw('{"t\u0001": {}}'), 'control character');
    // {"<bytes>":{}} with a stray byte, a bad continuation, an overlong '/' and a UTF-8-encoded surrogate
    for (const bad of [[0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) {
      const file = tmpFile('utf8');
      const hdr = Buffer.from([0x7b, 0x22, ...bad, 0x22, 0x3a, 0x7b, 0x7d, 0x7d]);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(hdr.length));
      fs.writeFileSync(file, Buffer.concat([len, hdr]));
      await expectIoError(file, 'invalid UTF-8');
    }
    await expectIoError(writeRaw('{"\\ud800": {}}'), 'surrogate');
    await expectIoError(writeRaw('{"\\q": {}}'), 'invalid escape');
    await expectIoError(writeRaw(`{"__metadata__": {"a": ${'['.repeat(5000)}${']'.repeat(5000)}}}`), 'nesting deeper');
  });

  test('entries missing dtype, shape or data_offsets, or not objects', async () => {
    await expectIoError(writeRaw({ t: { shape: [2], data_offsets: [0, 8] } }, f32(2)), 'tensor "t": missing "dtype"');
    await expectIoError(writeRaw({ t: { dtype: 'F32', data_offsets: [0, 8] } }, f32(2)), 'tensor "t": missing "shape"');
    await expectIoError(writeRaw({ t: { dtype: 'F32', shape: [2] } }, f32(2)), 'tensor "t": missing "data_offsets"');
    await expectIoError(writeRaw({ t: [1, 2] }, f32(2)), 'tensor "t": entry is an array');
    await expectIoError(writeRaw({ t: entry({ dtype: 32 }) }, f32(2)), '"dtype" is a number');
  });

  test('unknown and unsupported dtypes', async () => {
    await expectIoError(writeRaw({ t: entry({ dtype: 'F31' }) }, f32(2)), 'unknown dtype "F31"');
    // U8 is a real safetensors dtype: the header reads, loading says it is unsupported
    const u8 = writeRaw({ t: { dtype: 'U8', shape: [8], data_offsets: [0, 8] } }, Buffer.alloc(8));
    expect(b.safetensorsReadHeader(u8).tensors[0].dtype).toBe('U8');
    await expectIoError(u8, 'U8, which medit cannot load', { headerOk: true });
    for (const dt of ['BOOL', 'I8', 'I16', 'F8_E4M3', 'F8_E5M2']) {
      const size = dt === 'I16' ? 2 : 1;
      await expectIoError(writeRaw({ t: { dtype: dt, shape: [2], data_offsets: [0, 2 * size] } }, Buffer.alloc(2 * size)), `${dt}, which medit cannot load`, {
        headerOk: true,
      });
    }
  });

  test('bad shapes', async () => {
    await expectIoError(writeRaw({ t: entry({ shape: [-2] }) }, f32(2)), 'shape dim 0 is negative');
    await expectIoError(writeRaw('{"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', f32(2)), 'shape dim 0 is 2.0');
    await expectIoError(writeRaw('{"t":{"dtype":"F32","shape":[1,2e0],"data_offsets":[0,8]}}', f32(2)), 'shape dim 1 is 2e0');
    await expectIoError(writeRaw({ t: entry({ shape: ['2'] }) }, f32(2)), 'shape dim 0 is a string');
    await expectIoError(writeRaw({ t: entry({ shape: 2 }) }, f32(2)), '"shape" is a number');
    await expectIoError(writeRaw('{"t":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}', f32(2)), 'too large');
    await expectIoError(writeRaw({ t: entry({ shape: [2 ** 31, 2 ** 31, 2 ** 31] }) }, f32(2)), 'too many elements');
  });

  test('bad data_offsets', async () => {
    await expectIoError(writeRaw({ t: entry({ data_offsets: [0] }) }, f32(2)), '[begin, end]');
    await expectIoError(writeRaw({ t: entry({ data_offsets: [0, 8, 8] }) }, f32(2)), '[begin, end]');
    await expectIoError(writeRaw({ t: entry({ data_offsets: { begin: 0 } }) }, f32(2)), '[begin, end]');
    await expectIoError(writeRaw({ t: entry({ data_offsets: [8, 0] }) }, f32(2)), 'begin > end');
    await expectIoError(writeRaw({ t: entry({ data_offsets: [-8, 0] }) }, f32(2)), 'data_offsets begin is negative');
    await expectIoError(writeRaw({ t: entry({ data_offsets: [8, 16] }) }, f32(2)), 'run past the end of the data section');
  });

  test('shape/size mismatch', async () => {
    await expectIoError(writeRaw({ t: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, f32(3)), 'shape/size mismatch');
    await expectIoError(writeRaw({ t: { dtype: 'F16', shape: [3], data_offsets: [0, 8] } }, f32(2)), 'needs 6 bytes');
  });

  test('overlapping tensors, holes and trailing bytes', async () => {
    await expectIoError(writeRaw({ a: entry({ data_offsets: [0, 8] }), b: entry({ data_offsets: [4, 12] }) }, f32(3)), 'overlapping tensors');
    await expectIoError(writeRaw({ a: entry({ data_offsets: [0, 8] }), b: entry({ data_offsets: [0, 8] }) }, f32(2)), 'overlaps');
    await expectIoError(writeRaw({ a: entry({ data_offsets: [4, 12] }) }, f32(3)), 'belong to no tensor');
    await expectIoError(writeRaw({ a: entry() }, f32(3)), '4 trailing bytes');
  });

  test('truncated data section', async () => {
    const file = tmpFile('trunc');
    const h = b.fromTypedArray(new Float32Array(16), [4, 4], DTYPE_CODES.float32);
    await b.safetensorsSave(file, { t: h }, {});
    b.dispose(h);
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 5));
    await expectIoError(file, /run past the end of the data section.*truncated/);
  });

  test('__metadata__ must be an object of strings', async () => {
    await expectIoError(writeRaw({ __metadata__: { n: 1 }, t: entry() }, f32(2)), '"__metadata__" value for key "n" is a number');
    await expectIoError(writeRaw({ __metadata__: ['x'], t: entry() }, f32(2)), '"__metadata__" is an array');
  });
});

describe('safetensorsSave', () => {
  const listTemps = (d: string): string[] => fs.readdirSync(d).filter((f) => f.includes('.tmp-'));

  test('into a missing directory: rejects with MEDIT_E_IO, writes nothing', async () => {
    const h = b.fromTypedArray(new Float32Array([1]), [1], DTYPE_CODES.float32);
    const target = path.join(dir, 'no-such-dir', 'out.safetensors');
    await expect(b.safetensorsSave(target, { t: h }, {})).rejects.toMatchObject({
      code: 'MEDIT_E_IO',
      message: expect.stringContaining(target),
    });
    b.dispose(h);
    expect(fs.existsSync(path.dirname(target))).toBe(false);
    expect(listTemps(dir)).toEqual([]);
  });

  test('a failing rename (target is a directory) removes the temporary file', async () => {
    const target = path.join(dir, 'is-a-dir.safetensors');
    fs.mkdirSync(target);
    const h = b.fromTypedArray(new Float32Array([1]), [1], DTYPE_CODES.float32);
    await expect(b.safetensorsSave(target, { t: h }, {})).rejects.toMatchObject({ code: 'MEDIT_E_IO', message: expect.stringContaining('cannot rename') });
    b.dispose(h);
    expect(fs.statSync(target).isDirectory()).toBe(true);
    expect(listTemps(dir)).toEqual([]);
  });

  test('saving over an existing file replaces it atomically and never edits it in place', async () => {
    const target = tmpFile('replace');
    const a = b.fromTypedArray(new Float32Array([1, 2, 3]), [3], DTYPE_CODES.float32);
    await b.safetensorsSave(target, { a }, { v: 'old' });
    const oldBytes = fs.readFileSync(target);
    // An open descriptor keeps the old inode: if the writer edited in place it would see new bytes.
    const fd = fs.openSync(target, 'r');
    try {
      const c = b.fromTypedArray(new Float64Array([9, 8]), [2], DTYPE_CODES.float64);
      await b.safetensorsSave(target, { c }, { v: 'new' });
      b.dispose(c);
      const seen = Buffer.alloc(oldBytes.length + 16);
      const n = fs.readSync(fd, seen, 0, seen.length, 0);
      expect(seen.subarray(0, n)).toEqual(oldBytes);
    } finally {
      fs.closeSync(fd);
    }
    b.dispose(a);
    const r = await b.safetensorsLoad(target, null, false);
    expect(Object.keys(r.tensors)).toEqual(['c']);
    expect(Array.from(b.read(r.tensors.c) as Float64Array)).toEqual([9, 8]);
    expect(r.metadata).toEqual({ v: 'new' });
    b.dispose(r.tensors.c);
    expect(listTemps(dir)).toEqual([]);
  });

  test('argument errors: reserved name, non-string metadata, non-tensors, disposed tensors', async () => {
    const file = tmpFile('args');
    const h = b.fromTypedArray(new Float32Array([1]), [1], DTYPE_CODES.float32);
    await expect(b.safetensorsSave(file, { __metadata__: h }, {})).rejects.toMatchObject({ code: 'MEDIT_E_IO', message: expect.stringContaining('reserved') });
    expect(() => b.safetensorsSave(file, { t: h }, { n: 1 as unknown as string })).toThrow(/metadata value for key "n" must be a string/);
    expect(() => b.safetensorsSave(file, { t: {} as NativeHandle }, {})).toThrow(/expected a tensor for tensors\[t\]/);
    b.dispose(h);
    expect(() => b.safetensorsSave(file, { t: h }, {})).toThrow(/disposed/);
    expect(fs.existsSync(file)).toBe(false);
    expect(listTemps(dir)).toEqual([]);
  });
});
