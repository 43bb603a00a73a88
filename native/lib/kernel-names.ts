/**
 * Dtype and op codes shared with the addon. The C++ side pins the same numbers with
 * static_assert; `loadBinding()` compares the addon's `dtypeCodes` with this table.
 */
export const DTYPE_CODES = {
  float32: 0,
  float64: 1,
  int32: 2,
  int64: 3,
  float16: 4,
  bfloat16: 5,
} as const;

export type DType = keyof typeof DTYPE_CODES;

export const DTYPE_BY_CODE: readonly DType[] = ['float32', 'float64', 'int32', 'int64', 'float16', 'bfloat16'];

/** Byte size of one element. */
export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4,
  float64: 8,
  int32: 4,
  int64: 8,
  float16: 2,
  bfloat16: 2,
};

/** medit::cpu::BinaryOp */
export const BINARY_OPS = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, pow: 6 } as const;
export type BinaryOpName = keyof typeof BINARY_OPS;

/** medit::cpu::UnaryOp */
export const UNARY_OPS = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  tanh: 4,
  sigmoid: 5,
  relu: 6,
  silu: 7,
  gelu: 8,
  geluTanh: 9,
  square: 10,
  abs: 11,
  scale: 12,
  addScalar: 13,
  powScalar: 14,
  rsqrt: 15,
} as const;
export type UnaryOpName = keyof typeof UNARY_OPS;
