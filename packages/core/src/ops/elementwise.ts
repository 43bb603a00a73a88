/**
 * Element-wise ops with NumPy broadcasting, unary math, and reductions, each with its
 * gradient. Backward of a broadcast sums the gradient back to the operand's shape.
 */
import { BINARY_OPS, UNARY_OPS, type BinaryOpName, type UnaryOpName } from '@medit/native';

import { call } from '../engine';
import { ShapeError } from '../errors';
import { Tensor, record, wrapHandle } from '../tensor';

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Sums `x` down to `shape` (the reverse of broadcasting). */
export function sumTo(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const out = wrapHandle(call((b) => b.sumTo(x.handle('sumTo'), [...shape])));
  return record(out, 'sumTo', [x], (dy) => [broadcastTo(dy, x.shape)]);
}

/** Broadcasts `x` up to `shape` (materialised). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  return add(x, zerosLike(shape, x));
}

function zerosLike(shape: readonly number[], like: Tensor): Tensor {
  return wrapHandle(call((b) => b.fill([...shape], b.dtype(like.handle()), 0)));
}

function binary(op: BinaryOpName, a: Tensor, b: Tensor, backward: (dy: Tensor, out: Tensor) => (Tensor | null)[]): Tensor {
  if (a.dtype !== b.dtype) throw new ShapeError(`${op}: operands have different dtypes (${a.dtype} and ${b.dtype})`);
  const out = wrapHandle(call((n) => n.binary(BINARY_OPS[op], a.handle(op), b.handle(op))));
  return record(out, op, [a, b], (dy) => backward(dy, out));
}

export function add(a: Tensor, b: Tensor): Tensor {
  return binary('add', a, b, (dy) => [
    a.requiresGrad ? sumTo(dy, a.shape) : null,
    b.requiresGrad ? sumTo(dy, b.shape) : null,
  ]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  return binary('sub', a, b, (dy) => [
    a.requiresGrad ? sumTo(dy, a.shape) : null,
    b.requiresGrad ? sumTo(neg(dy), b.shape) : null,
  ]);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  return binary('mul', a, b, (dy) => [
    a.requiresGrad ? sumTo(mul(dy, b), a.shape) : null,
    b.requiresGrad ? sumTo(mul(dy, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: Tensor): Tensor {
  return binary('div', a, b, (dy, out) => [
    a.requiresGrad ? sumTo(div(dy, b), a.shape) : null,
    // d(a/b)/db = −a/b² = −out/b
    b.requiresGrad ? sumTo(neg(div(mul(dy, out), b)), b.shape) : null,
  ]);
}

function unary(op: UnaryOpName, x: Tensor, alpha = 0): Tensor {
  const out = wrapHandle(call((n) => n.unary(UNARY_OPS[op], x.handle(op), alpha)));
  return record(out, op, [x], (dy) => [
    wrapHandle(call((n) => n.unaryBackward(UNARY_OPS[op], x.handle(op), out.handle(op), dy.handle(op), alpha))),
  ]);
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const relu = (x: Tensor) => unary('relu', x);
/** SiLU / swish: x·σ(x) (Llama's MLP activation). */
export const silu = (x: Tensor) => unary('silu', x);
/** Exact GELU: x·Φ(x) (HF "gelu"). */
export const gelu = (x: Tensor) => unary('gelu', x);
/** Tanh-approximated GELU (HF "gelu_new", GPT-2). */
export const geluTanh = (x: Tensor) => unary('geluTanh', x);
export const square = (x: Tensor) => unary('square', x);
export const abs = (x: Tensor) => unary('abs', x);
/** alpha · x */
export const mulScalar = (x: Tensor, alpha: number) => unary('scale', x, alpha);
/** x + alpha */
export const addScalar = (x: Tensor, alpha: number) => unary('addScalar', x, alpha);
/** x ^ alpha */
export const powScalar = (x: Tensor, alpha: number) => unary('powScalar', x, alpha);

function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Sum over `axis` (all elements when omitted; the result is then a scalar of shape []). */
export function sum(x: Tensor, axis?: number, keepdim = false): Tensor {
  if (axis === undefined) {
    const flat = x.rank === 1 ? x : reshapeRaw(x, [x.size]);
    const out = wrapHandle(call((n) => n.sumAxis(flat.handle('sum'), 0, false)));
    if (flat !== x) flat.dispose();
    return record(out, 'sum', [x], (dy) => [broadcastTo(reshapeRaw(dy, x.shape.map(() => 1)), x.shape)]);
  }
  const ax = normAxis(axis, x.rank, 'sum');
  const out = wrapHandle(call((n) => n.sumAxis(x.handle('sum'), ax, keepdim)));
  return record(out, 'sum', [x], (dy) => {
    const kept = x.shape.map((d, i) => (i === ax ? 1 : d));
    return [broadcastTo(reshapeRaw(dy, kept), x.shape)];
  });
}

/** Mean over `axis` (all elements when omitted). */
export function mean(x: Tensor, axis?: number, keepdim = false): Tensor {
  const count = axis === undefined ? x.size : x.shape[normAxis(axis, x.rank, 'mean')];
  return mulScalar(sum(x, axis, keepdim), 1 / Math.max(count, 1));
}

/** A view with a new shape (no copy); differentiable. @internal (public as `reshape`) */
export function reshapeRaw(x: Tensor, shape: readonly number[]): Tensor {
  const out = wrapHandle(call((n) => n.reshape(x.handle('reshape'), [...shape])));
  return record(out, 'reshape', [x], (dy) => [reshapeRaw(dy, x.shape)]);
}

/**
 * Euclidean norm ‖x‖₂ of all elements (a scalar). Its gradient x/‖x‖ is taken as 0 at
 * x = 0 (the subgradient PyTorch's `norm` uses), where sqrt(sum(x²)) would give NaN.
 */
export function l2Norm(x: Tensor): Tensor {
  const sq = noGradSquareSum(x);
  const out = wrapHandle(call((n) => n.unary(UNARY_OPS.sqrt, sq.handle('l2Norm'), 0)));
  sq.dispose();
  return record(out, 'l2Norm', [x], (dy) => {
    const norm = out.item();
    if (norm === 0) return [mulScalar(x, 0)];
    return [mul(mulScalar(x, 1 / norm), broadcastTo(reshapeRaw(dy, x.shape.map(() => 1)), x.shape))];
  });
}

function noGradSquareSum(x: Tensor): Tensor {
  const sq = wrapHandle(call((n) => n.unary(UNARY_OPS.square, x.handle('l2Norm'), 0)));
  const flat = wrapHandle(call((n) => n.reshape(sq.handle(), [sq.size])));
  const s = wrapHandle(call((n) => n.sumAxis(flat.handle(), 0, false)));
  sq.dispose();
  flat.dispose();
  return s;
}
