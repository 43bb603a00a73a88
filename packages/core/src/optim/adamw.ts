/**
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019),
 * with torch.optim.AdamW's defaults. The update runs natively, in place.
 */
import { call, keep } from '../engine';
import { ShapeError } from '../errors';
import { clone } from '../linalg';
import { Tensor, zeros } from '../tensor';

export interface AdamWOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export class AdamW {
  readonly options: Required<AdamWOptions>;
  private step = 0;
  private readonly state = new Map<Tensor, { m: Tensor; v: Tensor }>();

  constructor(readonly params: Tensor[], options: AdamWOptions = {}) {
    this.options = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, ...options };
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.step;
  }

  /** Applies one update given gradients aligned with `params`. `lr` overrides the base rate (schedules). */
  update(grads: Tensor[], lr = this.options.lr): void {
    if (grads.length !== this.params.length) throw new ShapeError(`AdamW: ${grads.length} gradients for ${this.params.length} parameters`);
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.options;
    this.params.forEach((p, i) => {
      let s = this.state.get(p);
      if (!s) {
        s = { m: keep(zeros(p.shape, p.dtype)), v: keep(zeros(p.shape, p.dtype)) };
        this.state.set(p, s);
      }
      const st = s;
      call((n) => n.adamwStepInplace(p.handle('AdamW'), grads[i].handle('AdamW'), st.m.handle(), st.v.handle(), lr, beta1, beta2, eps, weightDecay, this.step));
    });
  }

  /**
   * The optimiser state for checkpoints (resumable training): the step count and, per parameter
   * in `params` order, its first and second moments (null before its first update). The tensors
   * are the live buffers; copy or save them, do not dispose them.
   */
  exportState(): { step: number; moments: ({ m: Tensor; v: Tensor } | null)[] } {
    return { step: this.step, moments: this.params.map((p) => this.state.get(p) ?? null) };
  }

  /** Restores a state written from {@link exportState} (the moments are copied). */
  importState(state: { step: number; moments: ({ m: Tensor; v: Tensor } | null)[] }): void {
    if (state.moments.length !== this.params.length) throw new ShapeError(`AdamW: state for ${state.moments.length} parameters, optimiser has ${this.params.length}`);
    this.dispose();
    this.step = state.step;
    state.moments.forEach((s, i) => {
      if (!s) return;
      const p = this.params[i];
      if (s.m.shape.join() !== p.shape.join() || s.v.shape.join() !== p.shape.join()) {
        throw new ShapeError(`AdamW: moments of shape [${s.m.shape}] for a parameter of shape [${p.shape}]`);
      }
      this.state.set(p, { m: keep(clone(s.m)), v: keep(clone(s.v)) });
    });
  }

  /** Frees the moment buffers. */
  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}
