/**
 * The engine's thread pool (src/core/thread-pool.cpp) through the kernels that use it:
 * results do not depend on the thread count (every kernel splits work so that each output
 * element is computed in the same order by whichever thread takes it: GEMM tiles, row
 * chunks), async jobs on libuv threads and synchronous kernels on the JS thread share it
 * safely, and MEDIT_NUM_THREADS sets (and validates) the count.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { DTYPE_CODES, loadBinding, type NativeHandle } from '@medit/native';

const b = loadBinding();
const initialThreads = b.buildInfo().threads;
afterAll(() => b.setNumThreads(initialThreads));

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1;
  }
  return out;
}
const f32 = (data: Float32Array, shape: number[]) => b.fromTypedArray(data, shape, DTYPE_CODES.float32);
function take(h: NativeHandle): Float32Array {
  const out = b.read(h) as Float32Array;
  b.dispose(h);
  return out;
}

/** What {@link pipeline} returns, in order. */
const KERNELS = ['x·w (packed GEMM)', 'gelu(x·w)', 'softmax(gelu(x·w))', 'small·w (small GEMM, NN)', 'small·xᵀ (small GEMM, NT)', 'attention out', 'attention probs'];

/** A pipeline of pooled kernels: GEMMs (packed tiles and the small path), softmax rows, GELU, attention. */
function pipeline(): Float32Array[] {
  const x = f32(rand(300 * 256, 1), [300, 256]);
  const w = f32(rand(256 * 520, 2), [256, 520]);
  const small = f32(rand(20 * 256, 3), [20, 256]);
  const q = f32(rand(2 * 4 * 40 * 32, 4), [2, 4, 40, 32]);
  const y = b.matmul(x, w, false, false);
  const g = b.unary(9, y, 0);
  const out = [b.read(y) as Float32Array, b.read(g) as Float32Array, take(b.softmaxForward(g)), take(b.matmul(small, w, false, false)), take(b.matmul(small, x, false, true))];
  const [att, probs] = b.attentionForward(q, q, q, null, true, 0.2);
  out.push(take(att), take(probs));
  [x, w, small, q, y, g].forEach((h) => b.dispose(h));
  return out;
}

test('kernel results are identical at 1 and 2 threads (and 3, oversubscribed)', () => {
  b.setNumThreads(1);
  const one = pipeline();
  for (const threads of [2, 3]) {
    b.setNumThreads(threads);
    const jobsBefore = b.poolStats().jobs;
    const many = pipeline();
    expect(b.poolStats().jobs).toBeGreaterThan(jobsBefore); // the work was really split
    // Names the kernel and how many elements differ, so that a rare mismatch says where it is.
    const differing = many.map((r, i) => ({ threads, kernel: KERNELS[i], elements: r.filter((x, j) => !Object.is(x, one[i][j])).length }));
    expect(differing).toEqual(KERNELS.map((kernel) => ({ threads, kernel, elements: 0 })));
  }
});

test('async jobs and synchronous kernels use the pool at the same time', async () => {
  b.setNumThreads(2);
  const a = f32(rand(512 * 512, 5), [512, 512]);
  const want = take(b.matmul(a, a, false, false));
  const before = b.memory().liveBytes;
  const pending = [b.matmulAsync(a, a, false, false), b.matmulAsync(a, a, true, false)];
  // meanwhile, pooled kernels on the JS thread
  for (let i = 0; i < 20; i++) b.dispose(b.unary(8, a, 0));
  const [c, ct] = await Promise.all(pending);
  expect(Buffer.compare(Buffer.from(take(c).buffer), Buffer.from(want.buffer))).toBe(0);
  b.dispose(ct);
  expect(b.memory().liveBytes).toBe(before);
  b.dispose(a);
});

describe('MEDIT_NUM_THREADS', () => {
  const addon = path.resolve(__dirname, '../build/Release/medit_native.node');
  const run = (env: Record<string, string>) =>
    execFileSync(process.execPath, ['-e', `process.stdout.write(String(require(${JSON.stringify(addon)}).buildInfo().threads))`], {
      env: { ...process.env, MEDIT_NUM_THREADS: '', OMP_NUM_THREADS: '', ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  test('sets the thread count (OMP_NUM_THREADS when it is unset)', () => {
    expect(run({ MEDIT_NUM_THREADS: '3' })).toBe('3');
    expect(run({ OMP_NUM_THREADS: '1' })).toBe('1');
  });
  test('a bad value is an error that names the variable', () => {
    expect(() => run({ MEDIT_NUM_THREADS: 'two' })).toThrow(/MEDIT_NUM_THREADS: expected an integer from 1 to 1024 but received "two"/);
  });
});
