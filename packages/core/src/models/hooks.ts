/**
 * Hook points: named places in every transformer block where a caller can read an
 * activation or substitute a new one (differentiably). Names are `h.<layer>.<point>`.
 *
 * - `resid_in`  block input (residual stream) [B,T,C]
 * - `attn_out`  attention output after its projection, before the residual add [B,T,C]
 * - `mlp_in`    MLP input (after the block's second norm) [B,T,C]
 * - `mlp_key`   MLP hidden after the activation — the *key* k of the rewrite module
 *               (input of `c_proj` / `fc_out` / `down_proj`) [B,T,F]
 * - `mlp_out`   MLP output — the *value* of the rewrite module [B,T,C]
 * - `resid_out` block output (residual stream) [B,T,C]
 *
 * Models with more than one stack of blocks name the others' hooks with a prefix: a
 * vision-language model's Q-Former has `qformer.h.<layer>.<point>`, its vision encoder
 * `vision.h.<layer>.<point>`; the unprefixed names are always the language model's.
 */
import type { Tensor } from '../tensor';

export const HOOK_POINTS = ['resid_in', 'attn_out', 'mlp_in', 'mlp_key', 'mlp_out', 'resid_out'] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

export interface HookContext {
  layer: number;
  point: HookPoint;
}

/**
 * Called with the activation at a hook point. Return a tensor of the same shape to
 * replace it (e.g. `addAt(h, positions, delta)`), or nothing to leave it unchanged.
 * Keep a reference (with `keep`) to read it after the forward pass.
 */
export type HookFn = (activation: Tensor, ctx: HookContext) => Tensor | void;

/** Hooks by name, e.g. `{ [hookName(5, 'mlp_key')]: (k) => { keys.push(k) } }`. */
export type Hooks = Record<string, HookFn>;

/** `h.<layer>.<point>`, or `<prefix>h.<layer>.<point>` for another stack of blocks (e.g. `qformer.`). */
export function hookName(layer: number, point: HookPoint, prefix = ''): string {
  return `${prefix}h.${layer}.${point}`;
}

/** Applies the hook registered at (layer, point) of the stack named by `prefix`, if any. @internal */
export function runHook(hooks: Hooks | undefined, layer: number, point: HookPoint, x: Tensor, prefix = ''): Tensor {
  const name = hookName(layer, point, prefix);
  const fn = hooks?.[name];
  if (!fn) return x;
  const y = fn(x, { layer, point });
  if (!y) return x;
  if (y.shape.join() !== x.shape.join()) {
    throw new Error(`hook ${name} returned shape [${y.shape}] for an activation of shape [${x.shape}]`);
  }
  return y;
}
