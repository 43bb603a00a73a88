/**
 * Sequential editing: a stream of batches, each edited on the model that already carries
 * the earlier ones (the protocol of AlphaEdit's experiments and of T-Patcher-style
 * streams). Each batch's delta is applied and kept; AlphaEdit's memory of past keys is
 * updated after each batch. `revertAll` undoes the whole stream bit-exactly.
 */
import { type CausalLM, type EditDelta, type EditOptions, type EditRequest, type Editor, ArgumentError } from '@medit/core';

export class SequentialEditor {
  /** The applied deltas, oldest first. */
  readonly deltas: EditDelta[] = [];
  private model: CausalLM | null = null;

  constructor(readonly editor: Editor) {}

  /** Requests edited so far. */
  get editCount(): number {
    return this.deltas.reduce((s, d) => s + (d.info.requests?.length ?? 0), 0);
  }

  /**
   * Edits one batch on the current model, applies it and records it (and, for AlphaEdit,
   * commits its keys to the memory of past edits). Returns the applied delta.
   */
  async step(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<EditDelta> {
    if (this.model && this.model !== model) throw new ArgumentError('SequentialEditor: every batch of a stream must edit the same model');
    const delta = await this.editor.edit(model, requests, opts);
    delta.apply(model);
    this.editor.commit?.(delta);
    this.deltas.push(delta);
    this.model = model;
    return delta;
  }

  /**
   * Edits every batch in order. `onBatch` runs after each one (with the stream applied so
   * far), e.g. to evaluate all edits made until then.
   */
  async run(
    model: CausalLM,
    batches: EditRequest[][],
    opts: EditOptions & { onBatch?: (index: number, delta: EditDelta) => void | Promise<void> } = {},
  ): Promise<EditDelta[]> {
    for (const [i, batch] of batches.entries()) {
      const d = await this.step(model, batch, opts);
      await opts.onBatch?.(i, d);
    }
    return this.deltas;
  }

  /** Reverts every batch, newest first: the weights return exactly to their state before the stream. */
  revertAll(): void {
    for (let i = this.deltas.length - 1; i >= 0; i--) if (this.deltas[i].applied) this.deltas[i].revert();
  }

  /** Reverts and frees every delta of the stream (the editor itself is not disposed). */
  dispose(): void {
    this.revertAll();
    for (const d of this.deltas) d.dispose();
    this.deltas.length = 0;
    this.model = null;
  }
}
