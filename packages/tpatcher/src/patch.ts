/**
 * Patch neurons: extra key/value pairs of one FFN layer (Huang et al., "Transformer-Patcher: One
 * Mistake Worth One Neuron", ICLR 2023, Eqs. 11–12; specs/meta-and-memory.md §3.1):
 *
 *   FFN_p(q) = FFN(q) + act(q·K_p + b_p)·V_p,   K_p [C, n], b_p [n], V_p [n, C]
 *
 * where q is the FFN input (the `mlp_in` hook: after the block's second norm) and act the
 * layer's own activation. medit's core has no "wider FFN" yet, so a patch is computed from hooks:
 * the `h.<L>.mlp_in` hook captures q and the `h.<L>.mlp_out` hook of the same forward adds the
 * patch term — the same function as T-Patcher's widened fc1/fc2 (ungated also for gated
 * families). {@link PatchDelta} makes a patch an EditDelta: apply installs it on the model
 * instance (its `forward` merges the patch hooks into every call's hooks), revert uninstalls it
 * bit-exactly (no weight is touched), save/load use the EditDelta file format.
 */
import {
  type CausalLM,
  type ForwardOptions,
  type HookFn,
  type Hooks,
  type Tensor,
  ArgumentError,
  EditDelta,
  type EditDeltaInfo,
  add,
  activationFn,
  concat,
  hookName,
  keep,
  linear,
} from '@medit/core';

/** Weights of a set of patch neurons at one layer (tensors owned by whoever built it). */
export interface PatchWeights {
  layer: number;
  /** HF activation name of the layer (config `activation_function` / `hidden_act`) */
  activation: string;
  /** keys [C, n] (in_out layout: pre-activation = q·K + b) */
  keys: Tensor;
  /** biases [n] */
  bias: Tensor;
  /** values [n, C] */
  values: Tensor;
}

/**
 * Hooks computing the patch term in a forward pass, merged with `base` hooks (base's `mlp_in`
 * runs first and the patch sees its result; base's `mlp_out` sees the patched output, as it
 * would with a really wider FFN). Differentiable in the patch weights.
 */
export function patchHooks(p: PatchWeights, base: Hooks = {}): Hooks {
  const act = activationFn(p.activation);
  const inName = hookName(p.layer, 'mlp_in');
  const outName = hookName(p.layer, 'mlp_out');
  let query: Tensor | undefined;
  const onIn: HookFn = (x, ctx) => {
    const y = base[inName]?.(x, ctx) ?? undefined;
    query = y ?? x;
    return y;
  };
  const onOut: HookFn = (out, ctx) => {
    if (!query) throw new ArgumentError(`T-Patcher: hook ${outName} ran before ${inName}`);
    const a = act(linear(query, p.keys, p.bias, 'in_out'));
    const patched = add(out, linear(a, p.values, null, 'in_out'));
    query = undefined;
    return base[outName]?.(patched, ctx) ?? patched;
  };
  return { ...base, [inName]: onIn, [outName]: onOut };
}

type ForwardFn = CausalLM['forward'];
interface Installed {
  model: CausalLM;
  wrapper: ForwardFn;
  previous: ForwardFn;
  own: boolean;
}
const installed = new WeakMap<CausalLM, Installed[]>();

/** Handle of an installed patch, for {@link uninstallPatch}. */
export interface InstalledPatch {
  readonly model: CausalLM;
}

/**
 * Installs a patch on a model instance: every later `model.forward` call runs with the patch
 * hooks merged into its own. Patches stack; uninstall them in reverse order.
 */
export function installPatch(model: CausalLM, p: PatchWeights): InstalledPatch {
  if (p.layer < 0 || p.layer >= model.config.numLayers) throw new ArgumentError(`T-Patcher: layer ${p.layer} is outside the model's ${model.config.numLayers} layers`);
  const C = model.config.hiddenSize;
  const n = p.bias.shape[0];
  if (p.keys.shape.join() !== `${C},${n}` || p.values.shape.join() !== `${n},${C}`) {
    throw new ArgumentError(`T-Patcher: patch shapes keys [${p.keys.shape}], bias [${p.bias.shape}], values [${p.values.shape}] do not fit hidden size ${C}`);
  }
  activationFn(p.activation);
  const own = Object.prototype.hasOwnProperty.call(model, 'forward');
  const previous = model.forward;
  const wrapper: ForwardFn = (ids: number[][], opts: ForwardOptions = {}) => previous.call(model, ids, { ...opts, hooks: patchHooks(p, opts.hooks) });
  (model as { forward: ForwardFn }).forward = wrapper;
  const stack = installed.get(model) ?? [];
  const entry: Installed = { wrapper, previous, own, model };
  stack.push(entry);
  installed.set(model, stack);
  return entry;
}

/**
 * Removes an installed patch; it must be the last thing that replaced `model.forward`.
 * @throws ArgumentError when other patches or wrappers were installed after it
 */
export function uninstallPatch(handle: InstalledPatch): void {
  const model = handle.model;
  const stack = installed.get(model) ?? [];
  const top = stack[stack.length - 1];
  if (!stack.includes(handle as Installed)) throw new ArgumentError('T-Patcher: this patch is not installed on the model');
  if (top !== handle || model.forward !== top.wrapper) {
    throw new ArgumentError('T-Patcher: other patches or wrappers were installed on the model after this one; revert them in reverse order first');
  }
  stack.pop();
  if (top.own) (model as { forward: ForwardFn }).forward = top.previous;
  else delete (model as { forward?: ForwardFn }).forward;
}

/** Patch tensors' names inside an EditDelta file. @internal */
export function patchTensorNames(layer: number): { keys: string; bias: string; values: string } {
  const p = `tpatcher.h.${layer}.mlp`;
  return { keys: `${p}.patch_keys`, bias: `${p}.patch_bias`, values: `${p}.patch_values` };
}

/**
 * Patch neurons as an {@link EditDelta}: `apply` installs them on the model (see
 * {@link installPatch}), `revert` removes them; `save`/`EditDelta.load` round-trip them (use
 * {@link PatchDelta.from} on a loaded delta). The tensors are stored as pseudo-updates named
 * `tpatcher.h.<L>.mlp.patch_{keys,bias,values}`; an ordinary EditDelta cannot apply them (it
 * reports that the model has no such weight).
 */
export class PatchDelta extends EditDelta {
  private target: CausalLM | null = null;
  private handle: InstalledPatch | null = null;

  constructor(readonly patch: PatchWeights, info: EditDeltaInfo) {
    const names = patchTensorNames(patch.layer);
    super(
      [
        { name: names.keys, delta: patch.keys },
        { name: names.bias, delta: patch.bias },
        { name: names.values, delta: patch.values },
      ],
      { ...info, stats: { ...(info.stats ?? {}), patch: { layer: patch.layer, activation: patch.activation, neurons: patch.bias.shape[0] } } },
    );
  }

  /** Reinterprets a delta read by `EditDelta.load` as a patch. */
  static from(delta: EditDelta): PatchDelta {
    const meta = (delta.info.stats as { patch?: { layer: number; activation: string } } | undefined)?.patch;
    if (!meta) throw new ArgumentError('PatchDelta.from: the delta has no T-Patcher patch metadata (stats.patch)');
    const names = patchTensorNames(meta.layer);
    const get = (name: string) => {
      const u = delta.updates.find((x) => x.name === name);
      if (!u?.delta) throw new ArgumentError(`PatchDelta.from: the delta has no tensor ${name}`);
      return u.delta;
    };
    return new PatchDelta({ layer: meta.layer, activation: meta.activation, keys: get(names.keys), bias: get(names.bias), values: get(names.values) }, delta.info);
  }

  /** Number of patch neurons. */
  get neurons(): number {
    return this.patch.bias.shape[0];
  }

  override get applied(): boolean {
    return this.target !== null;
  }

  override apply(model: CausalLM): void {
    if (this.target) throw new ArgumentError('PatchDelta: already applied; revert it first');
    this.handle = installPatch(model, this.patch);
    this.target = model;
  }

  override revert(model: CausalLM = this.target!): void {
    if (!this.target) throw new ArgumentError('PatchDelta: not applied');
    if (model !== this.target) throw new ArgumentError('PatchDelta: revert on a different model than it was applied to');
    uninstallPatch(this.handle!);
    this.handle = null;
    this.target = null;
  }

  override async writeEditedCheckpoint(): Promise<void> {
    // A Hugging Face GPT-2/Llama config has one FFN width for all layers; patch neurons widen one layer.
    throw new ArgumentError('PatchDelta: patch neurons widen one FFN layer, which a Hugging Face checkpoint cannot express; save the delta instead');
  }

  override dispose(): void {
    if (this.target) this.revert();
    super.dispose();
  }
}

/** Concatenates patches of the same layer into one (new tensors). */
export function concatPatches(patches: PatchWeights[]): PatchWeights {
  if (patches.length === 0) throw new ArgumentError('concatPatches: no patches');
  const { layer, activation } = patches[0];
  for (const p of patches) if (p.layer !== layer || p.activation !== activation) throw new ArgumentError(`concatPatches: patches of different layers/activations (${layer}/${activation} and ${p.layer}/${p.activation})`);
  return {
    layer,
    activation,
    keys: keep(concat(patches.map((p) => p.keys), 1)),
    bias: keep(concat(patches.map((p) => p.bias), 0)),
    values: keep(concat(patches.map((p) => p.values), 0)),
  };
}
