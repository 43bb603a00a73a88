/**
 * The residual stream entering one block, read once so that later passes which change only
 * what happens from that block on can start there (`ForwardOptions.startAt`) instead of
 * rerunning the blocks below it.
 */
import { keep, noGrad, tidy } from '../engine';
import { ArgumentError } from '../errors';
import { StopForward } from '../stats/layer-stats';
import type { Tensor } from '../tensor';
import { hookName } from './hooks';
import type { CausalLM, ForwardOptions } from './model';

/**
 * The residual stream entering block `layer` [B, T, C] (`layer` = numLayers: the last block's
 * output, before the final norm). The blocks from `layer` on do not run; nothing is recorded
 * for autograd. With `cache`, the batch continues the cached tokens (pass a read-only view to
 * leave the cache as it is). The caller owns the result.
 * @throws ArgumentError when `layer` is outside [0, numLayers]
 * @example
 * const h = residualAt(model, ids, 3, { attentionMask: mask });
 * const { logits } = model.forward(ids, { attentionMask: mask, startAt: { layer: 3, hidden: h } });
 */
export function residualAt(
  model: CausalLM,
  inputIds: number[][],
  layer: number,
  opts: Pick<ForwardOptions, 'attentionMask' | 'positionIds' | 'cache'> = {},
): Tensor {
  const L = model.config.numLayers;
  if (!Number.isInteger(layer) || layer < 0 || layer > L) throw new ArgumentError(`residualAt: expected a layer in [0, ${L}] but received ${layer}`);
  const hook = layer < L ? hookName(layer, 'resid_in') : hookName(L - 1, 'resid_out');
  let out: Tensor | undefined;
  noGrad(() =>
    tidy(() => {
      try {
        model.forward(inputIds, {
          ...opts,
          hooks: {
            [hook]: (x) => {
              out = keep(x);
              throw new StopForward();
            },
          },
        });
      } catch (err) {
        if (!(err instanceof StopForward)) throw err;
      }
    }),
  );
  if (!out) throw new Error(`residualAt: the model never reached hook ${hook}`);
  return out;
}
