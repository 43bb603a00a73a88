/** Non-differentiable reductions used by evaluation and decoding. */
import { call } from '../engine';
import { Tensor, wrapHandle } from '../tensor';

/** Max over the last axis and its index (int32). */
export function maxLast(x: Tensor): { values: Tensor; indices: Tensor } {
  const [v, i] = call((n) => n.maxLast(x.handle('maxLast')));
  return { values: wrapHandle(v), indices: wrapHandle(i) };
}

/** Index of the max over the last axis, as an int32 tensor. */
export function argmax(x: Tensor): Tensor {
  const { values, indices } = maxLast(x);
  values.dispose();
  return indices;
}

/** The k largest entries over the last axis, largest first (ties: lower index first), and their int32 indices. */
export function topkLast(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
  const [v, i] = call((n) => n.topkLast(x.handle('topkLast'), k));
  return { values: wrapHandle(v), indices: wrapHandle(i) };
}
