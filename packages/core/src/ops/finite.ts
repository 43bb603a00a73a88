/**
 * Finiteness checks (native scan, src/cpu/finite.cpp): NaN/±Inf in weights, deltas and
 * statistics are errors that name the tensor, never numbers passed on silently.
 */
import { call } from '../engine';
import { NonFiniteError } from '../errors';
import type { Tensor } from '../tensor';

/** What {@link nonFinite} found: how many elements are NaN/±Inf and the flat index of the first (−1: none). */
export interface NonFiniteCount {
  count: number;
  first: number;
}

/**
 * Counts the NaN/±Inf elements of `x` (integer tensors have none).
 * @example nonFinite(tensor([1, NaN, Infinity])) // { count: 2, first: 1 }
 */
export function nonFinite(x: Tensor): NonFiniteCount {
  const [count, first] = call((n) => n.nonFinite(x.handle('nonFinite')));
  return { count, first };
}

/**
 * Throws {@link NonFiniteError} when `x` holds NaN or ±Inf. The message names `what` (e.g.
 * "tensor transformer.h.0.mlp.c_fc.weight"), the file when given, how many values are bad and
 * the first one's position and value.
 * @example assertFinite(w, `tensor ${name}`, 'model/model.safetensors');
 */
export function assertFinite(x: Tensor, what: string, file?: string): void {
  const { count, first } = nonFinite(x);
  if (count === 0) return;
  const value = (x.data() as ArrayLike<number>)[first];
  const at = x.shape.length > 1 ? ` (element ${first} of shape [${x.shape.join(', ')}])` : ` (element ${first})`;
  throw new NonFiniteError(
    `${file ? `${file}: ` : ''}${what} holds ${count} non-finite value${count === 1 ? '' : 's'} (NaN or ±Inf) of ${x.size}; the first is ${value}${at}`,
    what,
    file,
  );
}
