/**
 * nonFinite / assertFinite: the native scan counts NaN and ±Inf in every float dtype (half
 * precisions classified from their bits), finds the first, and finds none in integers.
 */
import { DTYPE_CODES, loadBinding } from '@medit/native';

import { NonFiniteError, Tensor, assertFinite, memory, nonFinite, tensor, zeros } from '../src';

const b = loadBinding();

test('float32 and float64: count and first index of NaN, +Inf and -Inf', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    const t = tensor([1, 2, NaN, 4, Infinity, -Infinity, 0], [7], dtype);
    expect(nonFinite(t)).toEqual({ count: 3, first: 2 });
    t.dispose();
    const ok = tensor([dtype === 'float32' ? 3.4e38 : Number.MAX_VALUE, -0, 1e-45], [3], dtype);
    expect(nonFinite(ok)).toEqual({ count: 0, first: -1 });
    ok.dispose();
  }
});

test('float16 and bfloat16 are classified from their exponent bits', () => {
  // f16: 0x3c00 = 1, 0x7bff = 65504 (max), 0x7c00 = +Inf, 0xfe00 = NaN; bf16: 0x7f7f = max, 0x7f80 = +Inf, 0xffc1 = NaN
  const h = new Tensor(b.fromTypedArray(new Uint16Array([0x3c00, 0x7bff, 0x7c00, 0xfe00]), [4], DTYPE_CODES.float16));
  expect(nonFinite(h)).toEqual({ count: 2, first: 2 });
  const bf = new Tensor(b.fromTypedArray(new Uint16Array([0x7f7f, 0x3f80, 0xffc1, 0x7f80, 0]), [5], DTYPE_CODES.bfloat16));
  expect(nonFinite(bf)).toEqual({ count: 2, first: 2 });
  h.dispose();
  bf.dispose();
});

test('integer and empty tensors have no non-finite values', () => {
  const i = tensor([1, 2, 3], [3], 'int32');
  expect(nonFinite(i)).toEqual({ count: 0, first: -1 });
  const e = zeros([0, 4]);
  expect(nonFinite(e)).toEqual({ count: 0, first: -1 });
  i.dispose();
  e.dispose();
});

test('a large tensor (parallel path) finds a single NaN near the end', () => {
  const n = (1 << 20) + 17;
  const data = new Float32Array(n);
  data[n - 3] = NaN;
  const t = tensor(data, [n]);
  expect(nonFinite(t)).toEqual({ count: 1, first: n - 3 });
  t.dispose();
});

test('assertFinite names what, where, how many and the first value; it leaks nothing', () => {
  const before = memory();
  const t = tensor([[0, 1], [Infinity, NaN]]);
  let err: unknown;
  try {
    assertFinite(t, 'tensor h.0.w', 'm/model.safetensors');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(NonFiniteError);
  expect((err as NonFiniteError).message).toBe(
    'm/model.safetensors: tensor h.0.w holds 2 non-finite values (NaN or ±Inf) of 4; the first is Infinity (element 2 of shape [2, 2])',
  );
  expect((err as NonFiniteError).code).toBe('MEDIT_E_NONFINITE');
  expect((err as NonFiniteError).file).toBe('m/model.safetensors');
  t.dispose();
  expect(memory().numTensors).toBe(before.numTensors);
  expect(memory().numBytes).toBe(before.numBytes);
});
