/**
 * Losses: softmax cross-entropy with an ignore index, and KL divergence between
 * distributions given as log-probabilities.
 */
import { call } from '../engine';
import { ArgumentError, ShapeError } from '../errors';
import { Tensor, record, tensor, wrapHandle } from '../tensor';
import { mulScalar, sum } from './elementwise';
import { reshape } from './layout';

export type Reduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (default −100, as in PyTorch). */
  ignoreIndex?: number;
  /** 'mean' averages over non-ignored rows (PyTorch semantics). */
  reduction?: Reduction;
}

/**
 * Cross-entropy of `logits` [..., V] against integer `targets` [...].
 * @example crossEntropy(logits, [3, 1, -100])  // mean over the two non-ignored rows
 */
export function crossEntropy(logits: Tensor, targets: Tensor | readonly number[], opts: CrossEntropyOptions = {}): Tensor {
  const ignore = opts.ignoreIndex ?? -100;
  const V = logits.shape[logits.rank - 1];
  const flat = logits.rank === 2 ? logits : reshape(logits, [-1, V]);
  const tgt = targets instanceof Tensor ? targets : tensor(Int32Array.from(targets), [targets.length], 'int32');
  if (tgt.dtype !== 'int32') throw new ArgumentError(`Expected int32 targets but received ${tgt.dtype}`);
  if (tgt.size !== flat.shape[0]) throw new ShapeError(`crossEntropy: ${tgt.size} targets for ${flat.shape[0]} rows of logits [${logits.shape}]`);
  const t1 = tgt.rank === 1 ? tgt : reshape(tgt, [tgt.size]);
  const losses = record(
    wrapHandle(call((n) => n.crossEntropyForward(flat.handle('crossEntropy'), t1.handle(), ignore))),
    'crossEntropy',
    [flat],
    (dy) => [wrapHandle(call((n) => n.crossEntropyBackward(flat.handle(), t1.handle(), dy.handle(), ignore)))],
    [t1],
  );
  const reduction = opts.reduction ?? 'mean';
  if (reduction === 'none') return logits.rank === 2 ? losses : reshape(losses, logits.shape.slice(0, -1));
  const total = sum(losses);
  if (reduction === 'sum') return total;
  const ids = t1.data() as Int32Array;
  const count = ids.reduce((c, v) => c + (v === ignore ? 0 : 1), 0);
  return mulScalar(total, 1 / Math.max(count, 1));
}

/**
 * Row-wise KL(P‖Q) = Σ_v p_v (log p_v − log q_v) from log-probabilities [..., V];
 * returns [...] (or its mean / sum). ROME's essence-preservation term is
 * KL(P_orig ‖ P_edited) with the original distribution held fixed.
 */
export function klDiv(logp: Tensor, logq: Tensor, reduction: Reduction = 'none'): Tensor {
  const out = wrapHandle(call((n) => n.klDivForward(logp.handle('klDiv'), logq.handle('klDiv'))));
  const kl = record(out, 'klDiv', [logp, logq], (dy) => {
    const [gp, gq] = call((n) => n.klDivBackward(logp.handle(), logq.handle(), dy.handle()));
    return [wrapHandle(gp), wrapHandle(gq)];
  });
  if (reduction === 'none') return kl;
  const total = sum(kl);
  return reduction === 'sum' ? total : mulScalar(total, 1 / Math.max(kl.size, 1));
}
