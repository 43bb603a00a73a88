/**
 * Matrix products: batched matmul and the fused linear layer (GEMM + bias).
 * Gradients (C = op(A)·op(B)):  dA = dC·op(B)ᵀ (transposed back when A was),
 * dB = op(A)ᵀ·dC (likewise); a broadcast 2-D operand gets its batch gradients summed.
 */
import { UNARY_OPS } from '@medit/native';

import { call } from '../engine';
import { ShapeError } from '../errors';
import { Tensor, record, wrapHandle } from '../tensor';
import { sumTo } from './elementwise';
import { reshape } from './layout';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/** a[..., M, K] @ b[..., K, N] with optional transposes of the last two axes. */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const tA = opts.transA ?? false;
  const tB = opts.transB ?? false;
  const out = wrapHandle(call((n) => n.matmul(a.handle('matmul'), b.handle('matmul'), tA, tB)));
  return record(out, 'matmul', [a, b], (dy) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (a.requiresGrad) {
      da = tA ? matmul(b, dy, { transA: tB, transB: true }) : matmul(dy, b, { transB: !tB });
      if (da.rank !== a.rank) da = sumTo(da, [...da.shape.slice(0, da.rank - a.rank).map(() => 1), ...a.shape]);
      if (da.rank !== a.rank) da = reshape(da, a.shape);
    }
    if (b.requiresGrad) {
      db = tB ? matmul(dy, a, { transA: true, transB: tA }) : matmul(a, dy, { transA: !tA });
      if (db.rank !== b.rank) db = reshape(sumTo(db, [...db.shape.slice(0, db.rank - b.rank).map(() => 1), ...b.shape]), b.shape);
    }
    return [da, db];
  });
}

/** Weight layouts: torch.nn.Linear stores [out, in]; GPT-2's Conv1D stores [in, out]. */
export type WeightLayout = 'out_in' | 'in_out';

/**
 * y = x·Wᵀ + b over the last axis of x (any leading axes).
 * @param layout how `weight` is stored (default torch's `out_in`)
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null, layout: WeightLayout = 'out_in'): Tensor {
  const inOut = layout === 'in_out';
  if (weight.rank !== 2) throw new ShapeError(`linear: expected a 2-D weight but received [${weight.shape}]`);
  const out = wrapHandle(call((n) => n.linearForward(x.handle('linear'), weight.handle('linear'), bias ? bias.handle('linear') : null, inOut)));
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(out, 'linear', inputs, (dy) => {
    const [dx, dw, db] = call((n) =>
      n.linearBackward(dy.handle(), x.handle(), weight.handle(), inOut, x.requiresGrad, weight.requiresGrad, !!bias?.requiresGrad),
    );
    const grads = [dx ? wrapHandle(dx) : null, dw ? wrapHandle(dw) : null];
    if (bias) grads.push(db ? wrapHandle(db) : null);
    return grads;
  });
}

/** Activations {@link linearAct} fuses (the unary ops of the same names). */
export type LinearActivation = 'geluTanh' | 'gelu' | 'relu' | 'silu' | 'tanh' | 'sigmoid';

/**
 * act(x·Wᵀ + b) in one native call each way (the MLP input projection): the same values and
 * gradients as `geluTanh(linear(x, w, b, layout))` etc., without a separate activation op.
 * @param layout how `weight` is stored (default torch's `out_in`)
 * @example const key = linearAct(h, fcWeight, fcBias, 'in_out', 'geluTanh');  // GPT-2's c_fc + gelu_new
 */
export function linearAct(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  layout: WeightLayout,
  activation: LinearActivation,
): Tensor {
  const inOut = layout === 'in_out';
  const act = UNARY_OPS[activation];
  if (weight.rank !== 2) throw new ShapeError(`linearAct: expected a 2-D weight but received [${weight.shape}]`);
  const [yH, preH] = call((n) =>
    n.linearActForward(x.handle('linearAct'), weight.handle('linearAct'), bias ? bias.handle('linearAct') : null, inOut, act),
  );
  const out = wrapHandle(yH);
  const pre = wrapHandle(preH);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const result = record(
    out,
    'linearAct',
    inputs,
    (dy) => {
      const [dx, dw, db] = call((n) =>
        n.linearActBackward(dy.handle(), x.handle(), weight.handle(), pre.handle(), out.handle(), inOut, act, x.requiresGrad, weight.requiresGrad, !!bias?.requiresGrad),
      );
      const grads = [dx ? wrapHandle(dx) : null, dw ? wrapHandle(dw) : null];
      if (bias) grads.push(db ? wrapHandle(db) : null);
      return grads;
    },
    [pre],
  );
  if (!result.node) pre.dispose(); // no backward will read it
  return result;
}
