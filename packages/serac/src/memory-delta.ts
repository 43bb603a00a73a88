/**
 * `MemoryDelta`: an {@link EditDelta} that is a memory rather than a weight change (SERAC's edit
 * memory, IKE's facts). `apply` installs a routed forward ({@link routedForward}) on the model
 * instance — `model.forward` then returns the routed logits, so the metrics harness and generation
 * work unchanged — and `revert` removes it; no weight is touched, so reverting is exact. The
 * same install/uninstall discipline as T-Patcher's `PatchDelta`: wrappers stack and must be
 * reverted in reverse order.
 */
import { ArgumentError, type CausalLM, EditDelta, type EditDeltaInfo, type WeightUpdate } from '@medit/core';

import type { ForwardFn } from './routed-forward';

/** Builds the wrapped forward from the forward it replaces (bound to the model). */
export type ForwardWrapper = (previous: ForwardFn) => ForwardFn;

export abstract class MemoryDelta extends EditDelta {
  private target: CausalLM | null = null;
  private installed: { wrapper: ForwardFn; previous: ForwardFn; own: boolean } | null = null;

  constructor(updates: WeightUpdate[], info: EditDeltaInfo) {
    super(updates, info);
  }

  /** The wrapper to install on `model` (checked against the model first). */
  protected abstract wrapperFor(model: CausalLM): ForwardWrapper;

  override get applied(): boolean {
    return this.target !== null;
  }

  override apply(model: CausalLM): void {
    if (this.target) throw new ArgumentError(`${this.info.method}: the memory is already applied; revert it first`);
    const wrap = this.wrapperFor(model);
    const own = Object.prototype.hasOwnProperty.call(model, 'forward');
    const prev = model.forward;
    const previous: ForwardFn = (ids, opts) => prev.call(model, ids, opts);
    const wrapper = wrap(previous);
    (model as { forward: ForwardFn }).forward = wrapper;
    this.installed = { wrapper, previous: prev, own };
    this.target = model;
  }

  override revert(model: CausalLM = this.target!): void {
    if (!this.target || !this.installed) throw new ArgumentError(`${this.info.method}: the memory is not applied`);
    if (model !== this.target) throw new ArgumentError(`${this.info.method}: revert on a different model than it was applied to`);
    if (model.forward !== this.installed.wrapper) {
      throw new ArgumentError(`${this.info.method}: other wrappers were installed on the model after this memory; revert them in reverse order first`);
    }
    if (this.installed.own) (model as { forward: ForwardFn }).forward = this.installed.previous;
    else delete (model as { forward?: ForwardFn }).forward;
    this.installed = null;
    this.target = null;
  }

  override async writeEditedCheckpoint(): Promise<void> {
    throw new ArgumentError(`${this.info.method}: a memory-based edit changes no weight, so it cannot be written as a checkpoint; save the delta instead`);
  }

  override dispose(): void {
    if (this.target) this.revert();
    super.dispose();
  }
}
