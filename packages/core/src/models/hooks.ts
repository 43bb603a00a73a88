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

/** `h.<layer>.<point>` */
export function hookName(layer: number, point: HookPoint): string {
  return `h.${layer}.${point}`;
}

/** Applies the hook registered at (layer, point), if any. @internal */
export function runHook(hooks: Hooks | undefined, layer: number, point: HookPoint, x: Tensor): Tensor {
  const fn = hooks?.[hookName(layer, point)];
  if (!fn) return x;
  const y = fn(x, { layer, point });
  if (!y) return x;
  if (y.shape.join() !== x.shape.join()) {
    throw new Error(`hook ${hookName(layer, point)} returned shape [${y.shape}] for an activation of shape [${x.shape}]`);
  }
  return y;
}
