/**
 * Copies between typed arrays and tensors (fromTypedArray / read in src/binding/tensor.cc) for
 * every dtype, empty tensors and views at a byte offset included. An empty typed array may have
 * no backing store at all; scripts/sanitize.sh (UBSan) reported the null pointer the copy was
 * handed for one (issue 27), so this file is part of what it runs.
 */
import { DTYPE_CODES, type NativeTypedArray, loadBinding } from '@medit/native';

const b = loadBinding();

const ARRAYS: [keyof typeof DTYPE_CODES, (n: number) => NativeTypedArray][] = [
  ['float32', (n) => Float32Array.from({ length: n }, (_, i) => i + 0.5)],
  ['float64', (n) => Float64Array.from({ length: n }, (_, i) => i / 3)],
  ['int32', (n) => Int32Array.from({ length: n }, (_, i) => i - 7)],
  ['int64', (n) => BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 10n ** 12n)],
  ['float16', (n) => Uint16Array.from({ length: n }, (_, i) => 0x3c00 + i)],
  ['bfloat16', (n) => Uint16Array.from({ length: n }, (_, i) => 0x3f80 + i)],
];

test.each(ARRAYS)('%s: a tensor holds a copy of the array, and reads back equal', (dtype, make) => {
  for (const n of [0, 1, 6]) {
    const data = make(n);
    const h = b.fromTypedArray(data, [n], DTYPE_CODES[dtype]);
    try {
      expect(b.shape(h)).toEqual([n]);
      const back = b.read(h);
      expect(back.constructor.name).toBe(data.constructor.name); // (the addon's arrays come from another realm than jest's)
      expect(Array.from<number | bigint>(back)).toEqual(Array.from<number | bigint>(data));
    } finally {
      b.dispose(h);
    }
  }
});

test('empty tensors of any shape read back as empty arrays', () => {
  for (const shape of [[0], [0, 3], [4, 0, 2]]) {
    const h = b.fromTypedArray(new Float32Array(0), shape, DTYPE_CODES.float32);
    expect([b.shape(h), (b.read(h) as Float32Array).length]).toEqual([shape, 0]);
    b.dispose(h);
  }
});

test('a view at a byte offset copies its own elements, and later writes to the array do not reach the tensor', () => {
  const whole = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const h = b.fromTypedArray(whole.subarray(2, 5), [3], DTYPE_CODES.float32);
  whole.fill(0);
  expect(Array.from(b.read(h) as Float32Array)).toEqual([3, 4, 5]);
  b.dispose(h);
});
