/**
 * CPU GEMM (src/cpu/gemm.cpp) through the binding's matmul / linearForward / linearBackward,
 * checked against a naive triple loop in JS for float32 and float64, on BOTH dispatch paths:
 * the system BLAS (when the build linked one) and the built-in blocked kernel
 * (`setGemmFallback(true)`). Shapes cover the fallback's edge tiles (1, 7, 17, 63, 65, 129,
 * 257 against its 6-row / 16..64-column tiles and 256-deep K blocks; the small-GEMM path's
 * 6-row / 4-vector and 4x4 dot-product tiles below 49 rows; the narrow path's N = 1..8 columns
 * with any M, on one and three threads, with alpha and beta), several row and
 * column blocks (threads split over rows, over columns, and more than one NC block), all
 * four transpose combinations and both batched forms. beta = 0 must never read the output
 * buffer: NaN left in recycled memory must not leak into a product.
 *
 * Error bound: |got - ref| <= rtol * Σ_k |a_ik·b_kj| (+ a tiny atol), the standard forward
 * error bound of a dot product (Higham, "Accuracy and Stability of Numerical Algorithms",
 * §3.1), so cancellation in a small entry does not need a loose tolerance.
 */
import { DTYPE_CODES, loadBinding, type NativeHandle } from '@medit/native';

const b = loadBinding();
// A module-local alias: inside jest's sandbox every `Math.x` lookup goes through the
// context's global object and runs ~100x slower in hot loops than a captured function.
const abs = Math.abs;
const fround = Math.fround;

type FloatDType = 'float32' | 'float64';
const DTYPES: FloatDType[] = ['float32', 'float64'];
const RTOL: Record<FloatDType, number> = { float32: 1e-4, float64: 1e-12 };
const ATOL = 1e-30;

/** mulberry32: a small seeded PRNG so every run checks the same numbers. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values in [-1, 1) rounded to float32, so one array feeds both dtypes exactly. */
function randomData(n: number, rand: () => number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; ++i) out[i] = fround(rand() * 2 - 1);
  return out;
}

function tensor(data: Float64Array, shape: number[], dtype: FloatDType): NativeHandle {
  const typed = dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data);
  return b.fromTypedArray(typed, shape, DTYPE_CODES[dtype]);
}

/** Reads and disposes `h`. */
function take(h: NativeHandle): Float64Array {
  const out = Float64Array.from(b.read(h) as Float32Array | Float64Array);
  b.dispose(h);
  return out;
}

interface Ref {
  value: Float64Array;
  /** Σ_k |a_ik b_kj|, the scale of each entry's rounding error */
  scale: Float64Array;
}

/**
 * op(A)[M,K] · op(B)[K,N] for row-major A (stored [M,K], or [K,M] when transA) and B
 * (stored [K,N], or [N,K] when transB); `aOff`/`bOff` select one matrix of a batch.
 */
function naiveGemm(
  a: Float64Array, b_: Float64Array, M: number, N: number, K: number, transA: boolean, transB: boolean,
  aOff = 0, bOff = 0,
): Ref {
  const value = new Float64Array(M * N);
  const scale = new Float64Array(M * N);
  for (let i = 0; i < M; ++i) {
    for (let j = 0; j < N; ++j) {
      let s = 0;
      let sumAbs = 0;
      for (let k = 0; k < K; ++k) {
        const x = a[aOff + (transA ? k * M + i : i * K + k)];
        const y = b_[bOff + (transB ? j * K + k : k * N + j)];
        s += x * y;
        sumAbs += abs(x * y);
      }
      value[i * N + j] = s;
      scale[i * N + j] = sumAbs;
    }
  }
  return { value, scale };
}

function concatRefs(refs: Ref[]): Ref {
  const n = refs.reduce((acc, r) => acc + r.value.length, 0);
  const value = new Float64Array(n);
  const scale = new Float64Array(n);
  let off = 0;
  for (const r of refs) {
    value.set(r.value, off);
    scale.set(r.scale, off);
    off += r.value.length;
  }
  return { value, scale };
}

/** Asserts every entry is within the dot-product error bound; reports the worst one. */
function expectClose(got: Float64Array, ref: Ref, dtype: FloatDType, what: string): void {
  expect(got.length).toBe(ref.value.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < got.length; ++i) {
    const bound = ATOL + RTOL[dtype] * ref.scale[i];
    const err = abs(got[i] - ref.value[i]);
    // `!(err <= bound)` also catches NaN
    if (!(err <= bound) && (worst < 0 || err / bound > worstExcess)) {
      worst = i;
      worstExcess = err / bound;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: entry ${worst} is ${got[worst]} but the naive loop gives ${ref.value[worst]} ` +
        `(error ${abs(got[worst] - ref.value[worst])}, bound ${ATOL + RTOL[dtype] * ref.scale[worst]})`,
    );
  }
}

const EDGE = [1, 7, 17, 63, 65, 129, 257];

interface Case {
  M: number;
  N: number;
  K: number;
}

// Every edge size in each of the three roles, plus shapes that reach the fallback's block
// structure: two K blocks with two row blocks (300x70x300), three row blocks on two threads
// (the threads also split the columns), more than one NC column block, a long-K dot product.
const CASES: Case[] = [
  ...EDGE.map((s) => ({ M: s, N: 17, K: 65 })),
  ...EDGE.map((s) => ({ M: 63, N: s, K: 7 })),
  ...EDGE.map((s) => ({ M: 65, N: 33, K: s })),
  { M: 300, N: 70, K: 300 },
  { M: 600, N: 130, K: 300 },
  { M: 7, N: 4500, K: 40 },
  { M: 1, N: 1, K: 1000 },
  // the small-GEMM path (M <= 48 rows): both sides of its boundary, row / column / k tails of
  // its tiles, and its column split over threads (>= 2e6 multiply-adds)
  { M: 48, N: 70, K: 33 },
  { M: 49, N: 70, K: 33 },
  { M: 5, N: 1001, K: 513 },
  { M: 33, N: 130, K: 300 },
];

const TRANSPOSES: Array<[boolean, boolean]> = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

// The narrow path (N <= 8 columns, M > 48 rows): every N, odd M and K, a K past the 2048-deep
// dot-product block, tiny K, products large enough to split over threads (>= 2e6
// multiply-adds), and the first width past it (the packed kernel again).
const NARROW: Case[] = [
  ...[1, 2, 3, 4, 5, 6, 7, 8].map((N) => ({ M: 301, N, K: 257 })),
  { M: 49, N: 3, K: 7 },
  { M: 50, N: 8, K: 1 },
  { M: 1001, N: 5, K: 2100 },
  { M: 4099, N: 2, K: 300 },
  { M: 65, N: 9, K: 65 },
];

interface Prepared extends Case {
  transA: boolean;
  transB: boolean;
  a: Float64Array;
  b: Float64Array;
  ref: Ref;
}

// References are computed once and shared by both dtypes and both paths.
function prepare(cases: Case[], seed: number): Prepared[] {
  const rand = rng(seed);
  const out: Prepared[] = [];
  for (const c of cases) {
    for (const [transA, transB] of TRANSPOSES) {
      const a = randomData(c.M * c.K, rand);
      const bData = randomData(c.K * c.N, rand);
      out.push({ ...c, transA, transB, a, b: bData, ref: naiveGemm(a, bData, c.M, c.N, c.K, transA, transB) });
    }
  }
  return out;
}
const PREPARED = prepare(CASES, 1234);
const PREPARED_NARROW = prepare(NARROW, 4321);

const initialBlasActive = b.buildInfo().blasActive;
afterAll(() => {
  b.setGemmFallback(!initialBlasActive);
});

function expectNoLeak(fn: () => void): void {
  const before = b.memory();
  fn();
  const after = b.memory();
  expect(after.liveBuffers).toBe(before.liveBuffers);
  expect(after.liveBytes).toBeLessThanOrEqual(before.liveBytes); // earlier files' buffers may be finalised meanwhile
}

test('setGemmFallback switches the dispatch that buildInfo reports', () => {
  const info = b.buildInfo();
  b.setGemmFallback(true);
  expect(b.buildInfo().blasActive).toBe(false);
  b.setGemmFallback(false);
  expect(b.buildInfo().blasActive).toBe(info.blas);
  b.setGemmFallback(!initialBlasActive);
});

const PATHS: Array<[string, boolean]> = [
  ['BLAS (or the fallback when no BLAS is linked)', false],
  ['built-in fallback', true],
];

describe.each(PATHS)('GEMM path: %s', (_name, forceFallback) => {
  beforeAll(() => b.setGemmFallback(forceFallback));
  afterAll(() => b.setGemmFallback(!initialBlasActive));

  test.each(DTYPES)('%s matmul matches the naive loop on edge shapes and all transposes', (dtype) => {
    expectNoLeak(() => {
      for (const p of PREPARED) {
        const ha = tensor(p.a, p.transA ? [p.K, p.M] : [p.M, p.K], dtype);
        const hb = tensor(p.b, p.transB ? [p.N, p.K] : [p.K, p.N], dtype);
        const hc = b.matmul(ha, hb, p.transA, p.transB);
        expect(b.shape(hc)).toEqual([p.M, p.N]);
        expectClose(take(hc), p.ref, dtype, `${dtype} ${p.M}x${p.N}x${p.K} transA=${p.transA} transB=${p.transB}`);
        b.dispose(ha);
        b.dispose(hb);
      }
    });
  });

  test.each(DTYPES)('%s narrow products (N <= 8): matmul on 1 and 3 threads, gemmInplace with alpha and beta', (dtype) => {
    const threads = b.buildInfo().threads;
    expectNoLeak(() => {
      for (const t of [1, 3]) {
        b.setNumThreads(t);
        for (const p of PREPARED_NARROW) {
          const label = `${dtype} ${p.M}x${p.N}x${p.K} transA=${p.transA} transB=${p.transB} on ${t} threads`;
          const ha = tensor(p.a, p.transA ? [p.K, p.M] : [p.M, p.K], dtype);
          const hb = tensor(p.b, p.transB ? [p.N, p.K] : [p.K, p.N], dtype);
          expectClose(take(b.matmul(ha, hb, p.transA, p.transB)), p.ref, dtype, label);
          // C = 0.5·op(A)·op(B) − 2·C over C = 1 + index/size
          const c0 = Float64Array.from({ length: p.M * p.N }, (_, i) => 1 + i / (p.M * p.N));
          const hc = tensor(c0, [p.M, p.N], dtype);
          b.gemmInplace(hc, ha, hb, p.transA, p.transB, 0.5, -2);
          const ref: Ref = { value: p.ref.value.map((v, i) => 0.5 * v - 2 * c0[i]), scale: p.ref.scale.map((s, i) => 0.5 * s + 2 * c0[i]) };
          expectClose(take(hc), ref, dtype, `${label} gemmInplace`);
          b.dispose(ha);
          b.dispose(hb);
        }
      }
    });
    b.setNumThreads(threads);
  });

  test.each(DTYPES)('%s batched matmul: 3-D @ 3-D, 3-D @ 2-D and 2-D @ 3-D', (dtype) => {
    const rand = rng(99);
    const NB = 3;
    const shapes: Case[] = [
      { M: 17, N: 65, K: 63 },
      { M: 129, N: 7, K: 257 },
    ];
    expectNoLeak(() => {
      for (const { M, N, K } of shapes) {
        for (const [transA, transB] of TRANSPOSES) {
          const aShape = transA ? [K, M] : [M, K];
          const bShape = transB ? [N, K] : [K, N];
          const a3 = randomData(NB * M * K, rand);
          const b3 = randomData(NB * K * N, rand);
          const a2 = a3.subarray(0, M * K);
          const b2 = b3.subarray(0, K * N);
          const label = `${dtype} [${NB},${M},${K}] transA=${transA} transB=${transB}`;
          const combos: Array<[string, Float64Array, number[], Float64Array, number[], boolean, boolean]> = [
            ['3-D @ 3-D', a3, [NB, ...aShape], b3, [NB, ...bShape], true, true],
            ['3-D @ 2-D', a3, [NB, ...aShape], b2, bShape, true, false],
            ['2-D @ 3-D', a2, aShape, b3, [NB, ...bShape], false, true],
          ];
          for (const [kind, ad, as, bd, bs, aBatched, bBatched] of combos) {
            const ref = concatRefs(
              Array.from({ length: NB }, (_, i) =>
                naiveGemm(ad, bd, M, N, K, transA, transB, aBatched ? i * M * K : 0, bBatched ? i * K * N : 0),
              ),
            );
            const ha = tensor(ad, as, dtype);
            const hb = tensor(bd, bs, dtype);
            const hc = b.matmul(ha, hb, transA, transB);
            expect(b.shape(hc)).toEqual([NB, M, N]);
            expectClose(take(hc), ref, dtype, `${label} ${kind}`);
            b.dispose(ha);
            b.dispose(hb);
          }
        }
      }
    });
  });

  test.each(DTYPES)('%s linearForward / linearBackward match the naive loop', (dtype) => {
    const rand = rng(7);
    const rows = 2 * 65; // x is [2, 65, in]
    expectNoLeak(() => {
      for (const [inF, outF] of [
        [63, 17],
        [300, 129],
      ]) {
        const x = randomData(rows * inF, rand);
        const dy = randomData(rows * outF, rand);
        const bias = randomData(outF, rand);
        for (const inOut of [false, true]) {
          const w = randomData(inF * outF, rand);
          const wShape = inOut ? [inF, outF] : [outF, inF];
          const label = `${dtype} linear in=${inF} out=${outF} inOut=${inOut}`;
          const hx = tensor(x, [2, 65, inF], dtype);
          const hw = tensor(w, wShape, dtype);
          const hbias = tensor(bias, [outF], dtype);
          const hdy = tensor(dy, [2, 65, outF], dtype);

          // y = x Wᵀ (+ bias) for [out,in]; x W (+ bias) for [in,out]
          const yRef = naiveGemm(x, w, rows, outF, inF, false, !inOut);
          const y = b.linearForward(hx, hw, null, inOut);
          expect(b.shape(y)).toEqual([2, 65, outF]);
          expectClose(take(y), yRef, dtype, `${label} forward`);
          const yb = take(b.linearForward(hx, hw, hbias, inOut));
          const ybRef: Ref = {
            value: yRef.value.map((v, i) => v + bias[i % outF]),
            scale: yRef.scale.map((s, i) => s + abs(bias[i % outF])),
          };
          expectClose(yb, ybRef, dtype, `${label} forward with bias`);

          const [dx, dw, db] = b.linearBackward(hdy, hx, hw, inOut, true, true, true);
          if (!dx || !dw || !db) throw new Error(`${label}: linearBackward returned a null gradient that was asked for`);
          // dx = dy W for [out,in] (dy Wᵀ for [in,out]); dW = dyᵀ x for [out,in] (xᵀ dy for [in,out])
          expectClose(take(dx), naiveGemm(dy, w, rows, inF, outF, false, inOut), dtype, `${label} dx`);
          const dwRef = inOut ? naiveGemm(x, dy, inF, outF, rows, true, false) : naiveGemm(dy, x, outF, inF, rows, true, false);
          expectClose(take(dw), dwRef, dtype, `${label} dW`);
          const dbRef: Ref = { value: new Float64Array(outF), scale: new Float64Array(outF) };
          for (let r = 0; r < rows; ++r) {
            for (let j = 0; j < outF; ++j) {
              dbRef.value[j] += dy[r * outF + j];
              dbRef.scale[j] += abs(dy[r * outF + j]);
            }
          }
          expectClose(take(db), dbRef, dtype, `${label} db`);
          for (const h of [hx, hw, hbias, hdy]) b.dispose(h);
        }
      }
    });
  });

  test.each(DTYPES)('%s beta = 0 ignores NaN already in the output buffer', (dtype) => {
    // The output of matmul / linear without bias is uninitialised memory written with
    // beta = 0. Freeing NaN-filled buffers of the same size first makes the allocator hand
    // that memory back; a kernel that computed beta*C (0*NaN = NaN) would leak it.
    const rand = rng(5);
    expectNoLeak(() => {
      for (const { M, N, K } of [
        { M: 65, N: 129, K: 300 },
        { M: 7, N: 17, K: 1 },
      ]) {
        const a = randomData(M * K, rand);
        const bd = randomData(K * N, rand);
        const ref = naiveGemm(a, bd, M, N, K, false, false);
        const ha = tensor(a, [M, K], dtype);
        const hb = tensor(bd, [K, N], dtype);
        for (let round = 0; round < 3; ++round) {
          for (let i = 0; i < 4; ++i) b.dispose(b.fill([M, N], DTYPE_CODES[dtype], NaN));
          expectClose(take(b.matmul(ha, hb, false, false)), ref, dtype, `${dtype} matmul ${M}x${N}x${K} over NaN memory`);
          b.dispose(b.fill([M, N], DTYPE_CODES[dtype], NaN));
          expectClose(take(b.linearForward(ha, hb, null, true)), ref, dtype, `${dtype} linear ${M}x${N}x${K} over NaN memory`);
        }
        b.dispose(ha);
        b.dispose(hb);
      }
    });
  });

  test.each(DTYPES)('%s NaN and Inf in the operands propagate like the naive loop', (dtype) => {
    const a = new Float64Array([1, NaN, 0, 2, Infinity, 1]); // [2,3]
    const bd = new Float64Array([1, 0, 0, 1, 0, 0]); // [3,2]
    const ha = tensor(a, [2, 3], dtype);
    const hb = tensor(bd, [3, 2], dtype);
    const got = take(b.matmul(ha, hb, false, false));
    // row 0: [1 + NaN*0 + 0, 0 + NaN*1 + 0] = [NaN, NaN]; row 1: [2 + Inf*0, 0 + Inf*1 + 0] = [NaN, Inf]
    expect(Number.isNaN(got[0])).toBe(true);
    expect(Number.isNaN(got[1])).toBe(true);
    expect(Number.isNaN(got[2])).toBe(true);
    expect(got[3]).toBe(Infinity);
    b.dispose(ha);
    b.dispose(hb);
  });

  test.each(DTYPES)('%s empty inner dimension gives zeros, empty outer dimension an empty result', (dtype) => {
    expectNoLeak(() => {
      for (let i = 0; i < 4; ++i) b.dispose(b.fill([3, 4], DTYPE_CODES[dtype], NaN));
      const ha = b.fill([3, 0], DTYPE_CODES[dtype], 0);
      const hb = b.fill([0, 4], DTYPE_CODES[dtype], 0);
      const got = take(b.matmul(ha, hb, false, false));
      expect(Array.from(got)).toEqual(new Array(12).fill(0));
      const he = b.fill([0, 5], DTYPE_CODES[dtype], 1);
      const hf = b.fill([5, 4], DTYPE_CODES[dtype], 1);
      const hg = b.matmul(he, hf, false, false);
      expect(b.shape(hg)).toEqual([0, 4]);
      for (const h of [ha, hb, he, hf, hg]) b.dispose(h);
    });
  });
});
