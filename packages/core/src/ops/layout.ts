/**
 * Shape and layout ops: reshape (a view), permute/transpose, slice, concat, gather
 * (indexSelect) and scatter-add (indexAdd), casts, and the position-wise add/replace
 * used by hook points. All differentiable where it makes sense.
 */
import { DTYPE_CODES, type DType } from '@medit/native';

import { call } from '../engine';
import { ArgumentError, ShapeError } from '../errors';
import { Tensor, record, tensor, wrapHandle } from '../tensor';
import { reshapeRaw, sub } from './elementwise';

/** A view of `x` with a new shape (same number of elements; one axis may be -1). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const inferred = shape.map((d) => (d === -1 ? x.size / Math.max(known, 1) : d));
  if (shape.filter((d) => d === -1).length > 1 || !Number.isInteger(inferred.find((d, i) => shape[i] === -1) ?? 0)) {
    throw new ShapeError(`reshape: cannot view [${x.shape}] as [${shape}]`);
  }
  return reshapeRaw(x, inferred);
}

/** Copy with axes permuted: out.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const out = wrapHandle(call((b) => b.permute(x.handle('permute'), [...perm])));
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return record(out, 'permute', [x], (dy) => [permute(dy, inverse)]);
}

/** Swaps two axes (a copy). */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  const r = x.rank;
  const a = axis0 < 0 ? axis0 + r : axis0;
  const c = axis1 < 0 ? axis1 + r : axis1;
  const perm = x.shape.map((_, i) => (i === a ? c : i === c ? a : i));
  return permute(x, perm);
}

/** x[..., start:start+length, ...] along `axis` (a copy). */
export function slice(x: Tensor, axis: number, start: number, length: number): Tensor {
  const ax = axis < 0 ? axis + x.rank : axis;
  const out = wrapHandle(call((b) => b.slice(x.handle('slice'), ax, start, length)));
  return record(out, 'slice', [x], (dy) => [wrapHandle(call((b) => b.sliceBackward(dy.handle(), [...x.shape], ax, start)))]);
}

/** Concatenates along `axis`. */
export function concat(xs: Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ArgumentError('concat: expected at least one tensor');
  const ax = axis < 0 ? axis + xs[0].rank : axis;
  const out = wrapHandle(call((b) => b.concat(xs.map((x) => x.handle('concat')), ax)));
  return record(out, 'concat', xs, (dy) => {
    let at = 0;
    return xs.map((x) => {
      const g = x.requiresGrad ? slice(dy, ax, at, x.shape[ax]) : null;
      at += x.shape[ax];
      return g;
    });
  });
}

function indexTensor(index: Tensor | readonly number[]): { t: Tensor; owned: boolean } {
  if (index instanceof Tensor) {
    if (index.dtype !== 'int32') throw new ArgumentError(`Expected an int32 tensor for index but received ${index.dtype}`);
    return { t: index, owned: false };
  }
  return { t: tensor(Int32Array.from(index), [index.length], 'int32'), owned: true };
}

/** Gathers slices of `x` at `index` along `axis`. */
export function indexSelect(x: Tensor, axis: number, index: Tensor | readonly number[]): Tensor {
  const ax = axis < 0 ? axis + x.rank : axis;
  const { t: idx } = indexTensor(index);
  const out = wrapHandle(call((b) => b.indexSelect(x.handle('indexSelect'), ax, idx.handle('indexSelect'))));
  return record(out, 'indexSelect', [x], (dy) => {
    const zero = wrapHandle(call((b) => b.fill([...x.shape], DTYPE_CODES[x.dtype], 0)));
    return [wrapHandle(call((b) => b.indexAdd(zero.handle(), ax, idx.handle(), dy.handle())))];
  }, [idx]);
}

/** `base` with `src` added at `index` along `axis` (repeated indices accumulate). */
export function indexAdd(base: Tensor, axis: number, index: Tensor | readonly number[], src: Tensor): Tensor {
  const ax = axis < 0 ? axis + base.rank : axis;
  const { t: idx } = indexTensor(index);
  const out = wrapHandle(call((b) => b.indexAdd(base.handle('indexAdd'), ax, idx.handle('indexAdd'), src.handle('indexAdd'))));
  return record(
    out,
    'indexAdd',
    [base, src],
    (dy) => [base.requiresGrad ? dy : null, src.requiresGrad ? indexSelect(dy, ax, idx) : null],
    [idx],
  );
}

/** Converts to another dtype (differentiable between float dtypes). */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const out = wrapHandle(call((b) => b.cast(x.handle('cast'), DTYPE_CODES[dtype])));
  const floats = ['float32', 'float64'];
  if (floats.includes(x.dtype) && floats.includes(dtype)) return record(out, 'cast', [x], (dy) => [cast(dy, x.dtype)]);
  return out;
}

/** A token position in a [B, T, C] activation. */
export interface Position {
  batch: number;
  token: number;
}

function flatRows(h: Tensor, positions: readonly Position[]): number[] {
  if (h.rank !== 3) throw new ShapeError(`position ops: expected a [B,T,C] activation but received [${h.shape}]`);
  const [B, T] = h.shape;
  return positions.map(({ batch, token }) => {
    if (batch < 0 || batch >= B || token < 0 || token >= T) {
      throw new ArgumentError(`position (batch ${batch}, token ${token}) is outside the activation [${h.shape}]`);
    }
    return batch * T + token;
  });
}

/**
 * `h` [B,T,C] with `values` [P,C] added at the P positions (differentiable in both).
 * Used by hook points to inject edit vectors (ROME's δ, MEMIT's z).
 */
export function addAt(h: Tensor, positions: readonly Position[], values: Tensor): Tensor {
  const rows = flatRows(h, positions);
  const flat = reshape(h, [h.shape[0] * h.shape[1], h.shape[2]]);
  return reshape(indexAdd(flat, 0, rows, values), h.shape);
}

/** `h` [B,T,C] with the rows at `positions` replaced by `values` [P,C] (differentiable). */
export function replaceAt(h: Tensor, positions: readonly Position[], values: Tensor): Tensor {
  const rows = flatRows(h, positions);
  const flat = reshape(h, [h.shape[0] * h.shape[1], h.shape[2]]);
  return reshape(indexAdd(flat, 0, rows, sub(values, indexSelect(flat, 0, rows))), h.shape);
}

/** The rows of `h` [B,T,C] at `positions`, as [P,C] (differentiable). */
export function gatherAt(h: Tensor, positions: readonly Position[]): Tensor {
  const rows = flatRows(h, positions);
  return indexSelect(reshape(h, [h.shape[0] * h.shape[1], h.shape[2]]), 0, rows);
}
