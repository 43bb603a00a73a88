/**
 * The forward passes of an optimisation over vectors δ added to the residual stream of one
 * block at one token of each row: ROME's v* (δ on the MLP output, ROME:rome/compute_v.py),
 * MEMIT's z (δ on the block output, MEMIT:memit/compute_z.py). The references run the whole
 * model at every step (spec §1.6); here what does not depend on δ runs once per batch:
 *
 * - the blocks up to the edited one: their output h is computed once, and each step starts
 *   at the next block from h + δ (an MLP output and a block output both enter the residual
 *   stream by addition, so δ added to either gives the same stream);
 * - in every block, the tokens before each row's δ token (causal attention: they never see
 *   δ). Rows are left-padded so that their δ tokens share one column, the keys and values of
 *   the columns before it are cached, and each step runs the columns from it on;
 * - the final norm and the vocabulary projection, which run at the positions a loss reads.
 *
 * The same function as the whole-model pass, in another order of f32 sums.
 */
import { keep, noGrad, tidy } from '../engine';
import { ArgumentError } from '../errors';
import { addAt, gatherAt, indexSelect, type Position } from '../ops/layout';
import { hookName } from '../models/hooks';
import { StopForward } from '../stats/layer-stats';
import { KVCache, type CausalLM } from '../models/model';
import type { Tensor } from '../tensor';

/** Hook points whose activation is added to the block's output (δ there = δ on the block output). */
export type DeltaPoint = 'mlp_out' | 'resid_out';

/** What a pass keeps per batch of rows. */
interface PassState {
  /** per row, the index of its δ token */
  at: number[];
  /** per row, its length in tokens */
  lengths: number[];
  /** ids of the columns a step runs (from the shared δ column on) [rows][W − S] */
  ids: number[][];
  /** attention mask of every column [rows][W] */
  mask: number[][];
  /** the edited block's output at the stepped columns [rows, W − S, C] */
  hidden: Tensor;
  /** keys and values of the columns before the δ column (none when it is column 0) */
  cache: KVCache | undefined;
  /** the activation at the δ point at each row's δ token, before any δ [rows, C] */
  base: Tensor;
}

/** Rows of `t` along axis 0, owned by the caller (tidy frees the index tensor). */
function selectRows(t: Tensor, rows: readonly number[]): Tensor {
  let out: Tensor | undefined;
  noGrad(() => tidy(() => void (out = keep(indexSelect(t, 0, rows)))));
  return out!;
}

export class DeltaPass {
  private readonly view: KVCache | undefined;

  private constructor(
    private readonly model: CausalLM,
    /** the edited block */
    readonly layer: number,
    private readonly state: PassState,
  ) {
    this.view = state.cache?.readOnly();
  }

  /**
   * Runs the δ-independent part of the rows once.
   * @param rows token ids of each row (unpadded)
   * @param at per row, the token where δ is added
   * @param layer the edited block; `point` its hook where δ is added
   * @param pad the padding token id
   * @throws ArgumentError when a δ token lies outside its row
   */
  static create(model: CausalLM, rows: number[][], at: number[], layer: number, point: DeltaPoint, pad: number): DeltaPass {
    if (rows.length === 0 || rows.length !== at.length) throw new ArgumentError(`DeltaPass: expected one δ token per row but received ${at.length} for ${rows.length} rows`);
    at.forEach((t, b) => {
      if (!Number.isInteger(t) || t < 0 || t >= rows[b].length) throw new ArgumentError(`DeltaPass: δ token ${t} of row ${b} is outside its ${rows[b].length} tokens`);
    });
    model.rewriteModule(layer); // validates the layer
    // Left padding puts every row's δ token in column S.
    const S = Math.max(...at);
    const shifted = rows.map((r, b) => [...Array<number>(S - at[b]).fill(pad), ...r]);
    const W = Math.max(...shifted.map((r) => r.length));
    const ids = shifted.map((r) => [...r, ...Array<number>(W - r.length).fill(pad)]);
    const mask = shifted.map((r, b) => Array.from({ length: W }, (_, j) => (j >= S - at[b] && j < r.length ? 1 : 0)));
    const cache = S > 0 ? new KVCache() : undefined;
    let hidden: Tensor | undefined;
    let base: Tensor | undefined;
    const stepIds = ids.map((r) => r.slice(S));
    const deltaColumn = ids.map((_, batch) => ({ batch, token: 0 }));
    const readBase = (x: Tensor) => void (base = keep(gatherAt(x, deltaColumn)));
    const readHidden = (x: Tensor) => {
      hidden = keep(x);
      throw new StopForward(); // the blocks above run in every step
    };
    try {
      noGrad(() =>
        tidy(() => {
          // the columns before δ's, through every block: their keys and values
          if (cache) model.forward(ids.map((r) => r.slice(0, S)), { attentionMask: mask.map((r) => r.slice(0, S)), cache, logitsFor: [{ batch: 0, token: 0 }] });
          // the columns from δ's on, through the edited block
          const hooks = point === 'resid_out'
            ? { [hookName(layer, point)]: (x: Tensor) => (readBase(x), readHidden(x)) }
            : { [hookName(layer, point)]: readBase, [hookName(layer, 'resid_out')]: readHidden };
          try {
            model.forward(stepIds, { attentionMask: mask, cache: cache?.readOnly(), hooks });
          } catch (err) {
            if (!(err instanceof StopForward)) throw err;
          }
        }),
      );
    } catch (err) {
      cache?.dispose();
      hidden?.dispose();
      base?.dispose();
      throw err;
    }
    const state: PassState = { at: [...at], lengths: rows.map((r) => r.length), ids: stepIds, mask, hidden: hidden!, cache, base: base! };
    return new DeltaPass(model, layer, state);
  }

  /** Rows in the pass. */
  get rows(): number {
    return this.state.at.length;
  }

  /** The activation at the δ point at each row's δ token before any δ [rows, C] (owned by the pass). */
  get base(): Tensor {
    return this.state.base;
  }

  /**
   * Logits [N, V] at `read` (positions in each row's own tokens, at or after its δ token)
   * with `delta` [rows, C] added at each row's δ token; differentiable in `delta`.
   * @throws ArgumentError when a position lies before its row's δ token or past its end
   */
  logits(delta: Tensor, read: readonly Position[]): Tensor {
    const { at, lengths, ids, mask, hidden } = this.state;
    const columns = read.map(({ batch, token }) => {
      if (batch < 0 || batch >= at.length || token < at[batch] || token >= lengths[batch]) {
        throw new ArgumentError(`DeltaPass: position (row ${batch}, token ${token}) is not at or after the row's δ token and within it`);
      }
      return { batch, token: token - at[batch] };
    });
    const x = addAt(hidden, at.map((_, batch) => ({ batch, token: 0 })), delta);
    return this.model.forward(ids, { attentionMask: mask, cache: this.view, startAt: { layer: this.layer + 1, hidden: x }, logitsFor: columns }).logits;
  }

  /** A new pass over the given rows of this one, in that order (the caller disposes both). */
  select(rows: readonly number[]): DeltaPass {
    const s = this.state;
    const state: PassState = {
      at: rows.map((b) => s.at[b]),
      lengths: rows.map((b) => s.lengths[b]),
      ids: rows.map((b) => s.ids[b]),
      mask: rows.map((b) => s.mask[b]),
      hidden: selectRows(s.hidden, rows),
      cache: s.cache?.select(rows),
      base: selectRows(s.base, rows),
    };
    return new DeltaPass(this.model, this.layer, state);
  }

  dispose(): void {
    this.state.hidden.dispose();
    this.state.base.dispose();
    this.state.cache?.dispose();
  }
}
