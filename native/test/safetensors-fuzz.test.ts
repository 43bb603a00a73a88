/**
 * Seeded mutation fuzzing of the safetensors reader: small valid files get bit flips, byte
 * overwrites (header and data), truncations, header-length tampering, insertions and
 * deletions. Every load must either succeed with shapes/dtypes consistent with the header
 * and file size, or reject with MEDIT_E_IO naming the file. A crash fails the whole suite.
 * MEDIT_FUZZ_DUMP=<dir> also writes every mutant there (to replay them under ASan).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DTYPE_CODES, loadBinding, type NativeHandle, type SafetensorsHeaderInfo } from '@medit/native';

const b = loadBinding();
const ITERATIONS = 1500;
const SEED = 0x5afe7e45;

/** mulberry32: a tiny seeded PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ELEM: Record<string, number> = { F32: 4, F64: 8, I32: 4, I64: 8, F16: 2, BF16: 2 };
const LOADED_AS: Record<string, number> = {
  F32: DTYPE_CODES.float32,
  F64: DTYPE_CODES.float64,
  I32: DTYPE_CODES.int32,
  I64: DTYPE_CODES.int64,
  F16: DTYPE_CODES.float32,
  BF16: DTYPE_CODES.float32,
};
// bytes the JSON grammar cares about, so overwrites often yield almost-valid headers
const INTERESTING = Buffer.from('{}[]":,-0123456789e.\\ u"F16BF');

let dir: string;
let seeds: Buffer[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-st-fuzz-'));
  const make = async (tensors: Record<string, NativeHandle>, metadata: Record<string, string>): Promise<void> => {
    const file = path.join(dir, `seed-${seeds.length}.safetensors`);
    await b.safetensorsSave(file, tensors, metadata);
    Object.values(tensors).forEach((h) => b.dispose(h));
    seeds.push(fs.readFileSync(file));
  };
  await make(
    {
      w: b.fromTypedArray(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], DTYPE_CODES.float32),
      h: b.fromTypedArray(new Uint16Array([0x3c00, 0x4000, 0x7c00]), [3], DTYPE_CODES.float16),
      ids: b.fromTypedArray(new BigInt64Array([1n, 2n]), [2], DTYPE_CODES.int64),
    },
    { format: 'pt' },
  );
  await make(
    {
      'a.bf': b.fromTypedArray(new Uint16Array([0x3f80, 0xbf80, 0, 1]), [2, 2], DTYPE_CODES.bfloat16),
      s: b.fromTypedArray(new Float64Array([2.5]), [], DTYPE_CODES.float64),
      i: b.fromTypedArray(new Int32Array([7, -7, 0]), [3, 1], DTYPE_CODES.int32),
      e: b.fromTypedArray(new Float32Array(0), [0], DTYPE_CODES.float32),
    },
    {},
  );
  // handwritten: escapes, extra whitespace, padding
  const json = Buffer.from('{ "__metadata__" : {"k\\u00e9y":"v\\n"} , "x\\"y" : {"dtype":"F32","shape":[2],"data_offsets":[0,8]} }    ');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  seeds.push(Buffer.concat([len, json, Buffer.from(new Float32Array([1, -1]).buffer)]));
  for (const s of seeds) expect(s.length).toBeLessThan(600);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function mutate(src: Buffer, r: () => number): Buffer {
  let buf = Buffer.from(src);
  const headerEnd = () => Math.min(buf.length, 8 + Number(src.readBigUInt64LE(0)));
  const pos = (inHeader: boolean): number => {
    if (buf.length === 0) return 0;
    const he = headerEnd();
    if (inHeader && he > 8) return 8 + Math.floor(r() * (he - 8));
    if (!inHeader && he < buf.length) return he + Math.floor(r() * (buf.length - he));  // data section
    return Math.floor(r() * buf.length);
  };
  const rounds = r() < 0.6 ? 1 : 2 + Math.floor(r() * 2);
  for (let k = 0; k < rounds; ++k) {
    const kind = Math.floor(r() * 7);
    const inHeader = r() < 0.7;
    if (buf.length === 0 && kind !== 4) continue;
    switch (kind) {
      case 0: {  // bit flip
        const p = pos(inHeader);
        buf[p] ^= 1 << Math.floor(r() * 8);
        break;
      }
      case 1: {  // overwrite with a random byte
        buf[pos(inHeader)] = Math.floor(r() * 256);
        break;
      }
      case 2: {  // overwrite with a JSON-significant byte
        buf[pos(inHeader)] = INTERESTING[Math.floor(r() * INTERESTING.length)];
        break;
      }
      case 3: {  // truncate
        buf = buf.subarray(0, Math.floor(r() * buf.length));
        break;
      }
      case 4: {  // insert 1-8 bytes
        const p = pos(inHeader);
        const ins = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 8) }, () => (r() < 0.5 ? INTERESTING[Math.floor(r() * INTERESTING.length)] : Math.floor(r() * 256))));
        buf = Buffer.concat([buf.subarray(0, p), ins, buf.subarray(p)]);
        break;
      }
      case 5: {  // delete 1-8 bytes
        const p = pos(inHeader);
        buf = Buffer.concat([buf.subarray(0, p), buf.subarray(p + 1 + Math.floor(r() * 8))]);
        break;
      }
      case 6: {  // tamper with the header length
        if (buf.length < 8) break;
        const n = buf.readBigUInt64LE(0);
        const choice = Math.floor(r() * 4);
        const v =
          choice === 0 ? n + BigInt(Math.floor(r() * 17) - 8)
          : choice === 1 ? BigInt(Math.floor(r() * buf.length))
          : choice === 2 ? (1n << BigInt(Math.floor(r() * 64))) - 1n
          : BigInt(Math.floor(r() * 2 ** 32));
        buf.writeBigUInt64LE(BigInt.asUintN(64, v), 0);
        break;
      }
    }
  }
  return buf;
}

function checkIoError(err: unknown, file: string): void {
  const e = err as { code?: string; message?: string };
  if (e?.code !== 'MEDIT_E_IO' || !e.message?.includes(file)) {
    throw new Error(`expected a MEDIT_E_IO error naming ${file}, got ${String(e?.code)}: ${String(e?.message)}`);
  }
}

/** A header the reader accepted must obey the format's invariants against the file size. */
function checkHeader(h: SafetensorsHeaderInfo, fileSize: number, headerLen: number): void {
  const spans: Array<[number, number]> = [];
  for (const e of h.tensors) {
    const numel = e.shape.reduce((a, d) => a * d, 1);
    expect(e.shape.every((d) => Number.isInteger(d) && d >= 0)).toBe(true);
    if (ELEM[e.dtype] !== undefined) expect(e.end - e.begin).toBe(numel * ELEM[e.dtype]);
    spans.push([e.begin, e.end]);
  }
  spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let cursor = 0;
  for (const [s, e] of spans) {
    expect(s).toBe(cursor);
    cursor = e;
  }
  expect(8 + headerLen + cursor).toBe(fileSize);
  for (const v of Object.values(h.metadata)) expect(typeof v).toBe('string');
}

test(`${ITERATIONS} seeded mutations: every load succeeds consistently or rejects with MEDIT_E_IO`, async () => {
  const r = rng(SEED);
  const before = b.memory().liveBytes;
  const file = path.join(dir, 'mutant.safetensors');
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < ITERATIONS; ++i) {
    const bytes = mutate(seeds[i % seeds.length], r);
    fs.writeFileSync(file, bytes);
    if (process.env.MEDIT_FUZZ_DUMP) fs.writeFileSync(path.join(process.env.MEDIT_FUZZ_DUMP, `m${i}.st`), bytes);

    let header: SafetensorsHeaderInfo | undefined;
    try {
      header = b.safetensorsReadHeader(file);
      checkHeader(header, bytes.length, Number(bytes.readBigUInt64LE(0)));
    } catch (err) {
      if (header) throw err;  // an invariant failed on an accepted header
      checkIoError(err, file);
    }

    let loaded: Awaited<ReturnType<typeof b.safetensorsLoad>> | undefined;
    try {
      loaded = await b.safetensorsLoad(file, null, false);
    } catch (err) {
      checkIoError(err, file);
    }
    // The async loader and the sync header reader must agree on validity.
    if (loaded && !header) throw new Error(`mutation ${i}: load succeeded but readHeader failed`);
    if (loaded && header) {
      accepted += 1;
      expect(Object.keys(loaded.tensors).sort()).toEqual(header.tensors.map((e) => e.name).sort());
      for (const e of header.tensors) {
        const t = loaded.tensors[e.name];
        expect(b.shape(t)).toEqual(e.shape);
        expect(b.dtype(t)).toBe(LOADED_AS[e.dtype]);
        expect(b.read(t).length).toBe(e.shape.reduce((a, d) => a * d, 1));
        b.dispose(t);
      }
    } else {
      rejected += 1;
      // a header of an unsupported-but-known dtype may parse yet fail to load
      if (header) expect(header.tensors.some((e) => ELEM[e.dtype] === undefined)).toBe(true);
    }
  }
  if (process.env.MEDIT_FUZZ_DUMP) console.log({ accepted, rejected });
  // the mutations must exercise both outcomes, or the fuzzer is not testing anything
  expect(accepted).toBeGreaterThan(ITERATIONS / 20);
  expect(rejected).toBeGreaterThan(ITERATIONS / 2);
  expect(b.memory().liveBytes).toBeLessThanOrEqual(before); // earlier files' buffers may be finalised meanwhile
});
