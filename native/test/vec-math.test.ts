/**
 * The run-time dispatched float32 vector math (src/cpu/vec-math.inc) on every instruction set
 * this CPU runs (scalar always; AVX2 and AVX-512 where present):
 *
 * 1. exp, log, tanh, erf against the std:: functions evaluated in double (`vecMathCheck`), over
 *    ~2^19 float32 bit patterns spread evenly across the whole range (both signs, subnormals,
 *    the largest finite values) plus the edge values. Bounds: ≤ 2 ulp of the correctly rounded
 *    result where it is a normal float (measured 1.3 / 0.8 / 1.3 / 1.6 ulp over 2^32/61
 *    patterns), ≤ 1 ulp (2^-149) where it is subnormal; ±inf, NaN and the overflow / underflow
 *    limits exactly as std::.
 * 2. The float32 kernels built on them (unary exp, log, tanh, sigmoid, silu, gelu, gelu_tanh
 *    and the silu / gelu gradients, softmax, log-softmax and their backward passes,
 *    cross-entropy forward and backward) against the same ops in float64, which run the
 *    scalar std:: code: |f32 − f64| ≤ 2e-6·(1 + |f64|); inf and NaN where float64 has them.
 */
import { DTYPE_CODES, loadBinding, type NativeHandle } from '@medit/native';

const b = loadBinding();
const abs = Math.abs;
const fround = Math.fround;
const levels = b.simdInfo().supported;
const FLT_MIN = 1.1754943508222875e-38;

/** One ulp of the float32 nearest to r (2^-149 in the subnormal range). */
function ulp(r: number): number {
  const a = abs(fround(r));
  if (a < FLT_MIN) return 2 ** -149;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  return 2 ** (e - 23);
}

function samples(): Float32Array {
  const stride = 8191; // odd, so every exponent and sign is visited
  const n = Math.floor(2 ** 32 / stride);
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = (i * stride) >>> 0;
  const edges = [
    0, -0, Infinity, -Infinity, NaN, 1, -1, 2 ** -149, -(2 ** -149), FLT_MIN, 3.4028234663852886e38, -3.4028234663852886e38,
    88.7228, 88.7229, 89, -87.33, -103.97, -103.98, -104, 0.625, -0.625, 9.01, 9.1, 0.9999999, 1.0000001, 3.92, -3.92, 0.5, 2,
  ];
  const out = new Float32Array(n + edges.length);
  out.set(new Float32Array(bits.buffer));
  out.set(edges, n);
  return out;
}

describe.each(levels)('vector math on %s', (level) => {
  const x = samples();
  test.each(['exp', 'log', 'tanh', 'erf'])('%s within 2 ulp of std:: over the float32 range', (fn) => {
    const [y, ref] = b.vecMathCheck(fn, level, x);
    let worstNormal = 0;
    let worstSubnormal = 0;
    const mismatches: string[] = [];
    for (let i = 0; i < x.length; i++) {
      const r = ref[i];
      const v = y[i];
      const rf = fround(r);
      if (Number.isNaN(r) || Number.isNaN(v) || !Number.isFinite(rf) || !Number.isFinite(v)) {
        if (!Object.is(v, rf) && !(Number.isNaN(v) && Number.isNaN(rf))) mismatches.push(`${fn}(${x[i]}) = ${v}, std:: ${r}`);
        continue;
      }
      const err = abs(v - r) / ulp(r);
      if (abs(rf) < FLT_MIN) worstSubnormal = Math.max(worstSubnormal, err);
      else worstNormal = Math.max(worstNormal, err);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(worstNormal).toBeLessThanOrEqual(2);
    expect(worstSubnormal).toBeLessThanOrEqual(1);
  });
});

// ---------------------------------------------------------------- kernels: float32 vs float64

const UNARY: Record<string, number> = { exp: 1, log: 2, tanh: 4, sigmoid: 5, silu: 7, gelu: 8, geluTanh: 9 };

function handle(data: Float64Array, shape: number[], dtype: 'float32' | 'float64'): NativeHandle {
  return b.fromTypedArray(dtype === 'float32' ? Float32Array.from(data) : data, shape, DTYPE_CODES[dtype]);
}
function take(h: NativeHandle): Float64Array {
  const out = Float64Array.from(b.read(h) as Float32Array | Float64Array);
  b.dispose(h);
  return out;
}

/** Runs `f` on float32 and float64 copies of the inputs and compares. */
function compare(what: string, inputs: Float64Array[], shape: number[], f: (hs: NativeHandle[]) => NativeHandle) {
  const run = (dtype: 'float32' | 'float64') => {
    const hs = inputs.map((d) => handle(d, shape, dtype));
    const out = take(f(hs));
    hs.forEach((h) => b.dispose(h));
    return out;
  };
  const got = run('float32');
  const want = run('float64');
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    if (!Number.isFinite(w)) {
      // inf and NaN where float64 has them (a float32 overflow of a finite float64 value counts as an error)
      if (!Object.is(got[i], w) && !(Number.isNaN(got[i]) && Number.isNaN(w))) throw new Error(`${what}[${i}]: ${got[i]} vs float64 ${w}`);
      continue;
    }
    const e = abs(got[i] - fround(w)) / (1 + abs(w));
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  if (!(worst <= 2e-6)) throw new Error(`${what}: |f32 − f64| / (1 + |f64|) = ${worst} at ${at} (${got[at]} vs ${want[at]})`);
}

function randn(n: number, seed: number, scale: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = fround((((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1) * scale);
  }
  return out;
}

describe.each(levels)('float32 kernels on %s match float64', (level) => {
  const initial = b.simdInfo().level;
  let before = 0;
  beforeAll(() => {
    b.setSimdLevel(level);
    before = b.memory().liveBytes;
  });
  afterAll(() => {
    b.setSimdLevel(initial);
    expect(b.memory().liveBytes).toBe(before);
  });

  // 1,003 values in [-12, 12] (1,003: not a multiple of any vector width), and the edges
  const edges = [0, -0, Infinity, -Infinity, NaN, 1e-40, -1e-40, 30, -30, 100, -100];
  const x = new Float64Array([...randn(1003, 7, 12), ...edges]);
  const positive = x.map((v) => abs(v));
  const dy = randn(x.length, 8, 1);

  test.each(Object.keys(UNARY))('unary %s forward', (op) => {
    const input = op === 'log' ? positive : x;
    compare(op, [input], [input.length], ([h]) => b.unary(UNARY[op], h, 0));
  });
  test.each(['silu', 'gelu', 'geluTanh'])('unary %s backward', (op) => {
    compare(`${op}'`, [x, dy], [x.length], ([h, d]) => {
      const y = b.unary(UNARY[op], h, 0);
      const dx = b.unaryBackward(UNARY[op], h, y, d, 0);
      b.dispose(y);
      return dx;
    });
  });

  const rows = [3, 1812];
  const logits = randn(rows[0] * rows[1], 9, 15);
  logits.fill(-Infinity, 1812, 2 * 1812); // a fully masked row: NaN in both dtypes, as torch.softmax gives
  const dlog = randn(logits.length, 10, 1);
  test('softmax and log-softmax, forward and backward', () => {
    compare('softmax', [logits], rows, ([h]) => b.softmaxForward(h));
    compare('logSoftmax', [logits], rows, ([h]) => b.logSoftmaxForward(h));
    compare('softmax backward', [logits, dlog], rows, ([h, d]) => {
      const y = b.softmaxForward(h);
      const dx = b.softmaxBackward(y, d);
      b.dispose(y);
      return dx;
    });
    compare('logSoftmax backward', [logits, dlog], rows, ([h, d]) => {
      const y = b.logSoftmaxForward(h);
      const dx = b.logSoftmaxBackward(y, d);
      b.dispose(y);
      return dx;
    });
  });
  test('cross-entropy forward and backward', () => {
    const targets = b.fromTypedArray(Int32Array.from([5, -100, 1811]), [3], DTYPE_CODES.int32);
    const dloss = randn(3, 11, 1);
    compare('crossEntropy', [logits], rows, ([h]) => b.crossEntropyForward(h, targets, -100));
    const grads = (['float32', 'float64'] as const).map((dtype) => {
      const h = handle(logits, rows, dtype);
      const g = handle(dloss, [3], dtype);
      const out = take(b.crossEntropyBackward(h, targets, g, -100));
      b.dispose(h);
      b.dispose(g);
      return out;
    });
    let worst = 0;
    for (let i = 0; i < grads[1].length; i++) worst = Math.max(worst, abs(grads[0][i] - grads[1][i]) / (1 + abs(grads[1][i])));
    expect(worst).toBeLessThanOrEqual(2e-6);
    b.dispose(targets);
  });
});

test('setSimdLevel rejects unknown names', () => {
  expect(() => b.setSimdLevel('sse9')).toThrow(/unknown level "sse9"/);
});
