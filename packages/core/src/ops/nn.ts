/**
 * Neural-network ops with native forward/backward kernels: layer norm, RMS norm,
 * softmax, log-softmax, scaled dot-product attention and embedding lookup.
 */
import { call } from '../engine';
import { ArgumentError } from '../errors';
import { Tensor, record, wrapHandle } from '../tensor';

/** LayerNorm over the last axis (torch.nn.LayerNorm). */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor | null, eps = 1e-5): Tensor {
  const [y, meanH, rstdH] = call((n) => n.layerNormForward(x.handle('layerNorm'), weight.handle('layerNorm'), bias ? bias.handle() : null, eps));
  const out = wrapHandle(y);
  const mean = wrapHandle(meanH);
  const rstd = wrapHandle(rstdH);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(
    out,
    'layerNorm',
    inputs,
    (dy) => {
      const [dx, dw, db] = call((n) => n.layerNormBackward(dy.handle(), x.handle(), weight.handle(), mean.handle(), rstd.handle()));
      const grads = [wrapHandle(dx), wrapHandle(dw)];
      if (bias) grads.push(wrapHandle(db));
      return grads;
    },
    [mean, rstd],
  );
}

/** RMSNorm over the last axis: x / √(mean(x²) + eps) · w (Zhang & Sennrich 2019; HF LlamaRMSNorm). */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  const [y, rstdH] = call((n) => n.rmsNormForward(x.handle('rmsNorm'), weight.handle('rmsNorm'), eps));
  const out = wrapHandle(y);
  const rstd = wrapHandle(rstdH);
  return record(
    out,
    'rmsNorm',
    [x, weight],
    (dy) => call((n) => n.rmsNormBackward(dy.handle(), x.handle(), weight.handle(), rstd.handle())).map(wrapHandle),
    [rstd],
  );
}

/** Softmax over the last axis. */
export function softmax(x: Tensor): Tensor {
  const out = wrapHandle(call((n) => n.softmaxForward(x.handle('softmax'))));
  return record(out, 'softmax', [x], (dy) => [wrapHandle(call((n) => n.softmaxBackward(out.handle(), dy.handle())))]);
}

/** Log-softmax over the last axis. */
export function logSoftmax(x: Tensor): Tensor {
  const out = wrapHandle(call((n) => n.logSoftmaxForward(x.handle('logSoftmax'))));
  return record(out, 'logSoftmax', [x], (dy) => [wrapHandle(call((n) => n.logSoftmaxBackward(out.handle(), dy.handle())))]);
}

export interface AttentionOptions {
  /** Mask future keys (query i sees keys ≤ its absolute position Tk − Tq + i). */
  causal?: boolean;
  /** int32 [B, Tk], 1 = real token, 0 = padding (never attended). */
  keyMask?: Tensor | null;
  /** Score scale; default 1/√HS. */
  scale?: number;
}

/**
 * Scaled dot-product attention: softmax(scale · q kᵀ + mask) v.
 * q [B,NH,Tq,HS]; k, v [B,NKV,Tk,HS] with NH a multiple of NKV (grouped-query attention).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const scale = opts.scale ?? 1 / Math.sqrt(q.shape[3]);
  const mask = opts.keyMask ?? null;
  if (mask && mask.dtype !== 'int32') throw new ArgumentError(`Expected an int32 tensor for keyMask but received ${mask.dtype}`);
  const [o, p] = call((n) =>
    n.attentionForward(q.handle('attention'), k.handle('attention'), v.handle('attention'), mask ? mask.handle() : null, opts.causal ?? true, scale),
  );
  const out = wrapHandle(o);
  const probs = wrapHandle(p);
  return record(
    out,
    'attention',
    [q, k, v],
    (dy) => call((n) => n.attentionBackward(dy.handle(), q.handle(), k.handle(), v.handle(), probs.handle(), scale)).map(wrapHandle),
    [probs],
  );
}

/** Rows of `table` [V, C] at int32 `ids` (any shape) → ids.shape + [C]. */
export function embedding(ids: Tensor, table: Tensor): Tensor {
  if (ids.dtype !== 'int32') throw new ArgumentError(`Expected an int32 tensor for ids but received ${ids.dtype}`);
  const out = wrapHandle(call((n) => n.embeddingForward(ids.handle('embedding'), table.handle('embedding'))));
  return record(out, 'embedding', [table], (dy) => [wrapHandle(call((n) => n.embeddingBackward(ids.handle(), dy.handle(), table.shape[0])))], [ids]);
}
