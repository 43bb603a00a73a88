/** The interface every editing method implements. */
import type { CausalLM } from '../models/model';
import type { EditDelta } from './edit-delta';
import type { EditRequest } from './request';

/** Progress of a long edit (per request, per optimisation step...). */
export interface EditProgress {
  stage: string;
  done: number;
  total: number;
  /** free-form numbers, e.g. `{ loss: 0.3 }` */
  info?: Record<string, number>;
}

export interface EditOptions {
  signal?: AbortSignal;
  onProgress?: (p: EditProgress) => void;
}

/**
 * An editor turns requests into an {@link EditDelta} for a model. It must leave the
 * model's weights as it found them; the caller applies the delta.
 */
export interface Editor {
  /** Method name, e.g. "ROME". */
  readonly name: string;
  /** Hyperparameters as plain data (reported with results). */
  readonly hparams: object;
  edit(model: CausalLM, requests: EditRequest[], opts?: EditOptions): Promise<EditDelta>;
  /**
   * For editors with a memory of past edits (AlphaEdit's keys): records a delta this editor
   * made, now applied and kept, so later edits preserve it. Sequential callers call it after
   * each apply; editors without such memory leave it out.
   */
  commit?(delta: EditDelta): void;
  /** Frees what `edit` kept for a delta that will not be committed (it was reverted). */
  discard?(delta: EditDelta): void;
}
