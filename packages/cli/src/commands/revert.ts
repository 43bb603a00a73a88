/**
 * `medit revert`: write the model at --model with a saved edit taken back out, as a new
 * directory.
 *
 * First the model must carry the edit: the delta records the fingerprint of the weights it
 * changes after the edit, and a model whose weights do not match (the edit was never applied,
 * applied twice, or is another edit) is refused with the reason (`--force` reverts anyway).
 *
 * Semantics, honestly: in memory `EditDelta.revert` is bit-exact because it copies back a
 * snapshot of the original weights. A checkpoint on disk holds only W' = fl(W + ΔW), and
 * float32 addition is not invertible: fl(W' − ΔW) differs from W by rounding (at most about
 * one unit in the last place of |W'| per weight). We subtract the updates in reverse order
 * of their application with the same kernel, then compare the changed weights' fingerprint
 * with the one the delta recorded before the edit: a match means the original was restored
 * bit-exactly; otherwise the output is the original up to float rounding, which the command
 * says (and `--exact` refuses to write).
 */
import { type WeightUpdate, EditDelta, MeditError, clone, modelFingerprint, neg, noGrad, saveModel } from '@medit/core';

import type { OptionSpecs } from '../args';
import { type CommandContext, loadModelDir, requireFile, resolvePath } from '../common';
import { checkDeltaFits, refuseUnlessForced, revertProblem } from '../delta-checks';

export const REVERT_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'the edited model directory (e.g. written by medit edit --out or medit apply)' },
  delta: { type: 'string', value: 'FILE', description: 'the edit to take out (medit edit --save-delta)' },
  out: { type: 'string', value: 'DIR', description: 'new directory for the reverted model (atomic; must not exist)' },
  exact: { type: 'boolean', description: 'refuse unless the result is bit-identical to the model the edit was computed on' },
  force: { type: 'boolean', description: 'revert even when the model does not carry this edit (its fingerprint does not match)' },
};

/** Not restorable bit-exactly and `--exact` was given. */
export class InexactRevertError extends MeditError {
  constructor(message: string) {
    super(message, 'MEDIT_E_INEXACT');
  }
}

/** Unit in the last place of a float32 of magnitude |x| (x ≠ 0). */
function ulp32(x: number): number {
  return 2 ** (Math.floor(Math.log2(Math.abs(x))) - 23);
}

export async function runRevert(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const modelDir = args.required('model');
  const deltaFile = requireFile(resolvePath(io, args.required('delta')), 'delta file');
  const outArg = args.required('out');
  const model = await loadModelDir(io, modelDir);
  let delta: EditDelta | undefined;
  let inverse: EditDelta | undefined;
  try {
    delta = await EditDelta.load(deltaFile);
    checkDeltaFits(delta, model, modelDir);
    refuseUnlessForced(ctx, revertProblem(delta, model, modelDir), 'reverts');
    // Bound on the rounding: max ulp of the edited weights the delta touches.
    let bound = 0;
    for (const name of delta.weightNames) {
      let max = 0;
      for (const v of model.param(name).data() as Float32Array) max = Math.max(max, Math.abs(v));
      if (max > 0) bound = Math.max(bound, ulp32(max));
    }
    // The same kernels with the sign flipped (exact negation), last update first.
    const updates: WeightUpdate[] = noGrad(() =>
      [...delta!.updates].reverse().map((u) => (u.delta ? { name: u.name, delta: neg(u.delta) } : { name: u.name, left: neg(u.left!), right: clone(u.right!) })),
    );
    inverse = new EditDelta(updates, { method: `revert ${delta.info.method}` });
    inverse.apply(model);
    const recorded = delta.info.weights?.before;
    const exact = recorded !== undefined ? delta.fingerprintOf(model) === recorded : delta.info.modelFingerprint !== undefined ? modelFingerprint(model) === delta.info.modelFingerprint : null;
    if (exact === false && args.flag('exact')) {
      throw new InexactRevertError(
        `subtracting the delta from ${modelDir} does not reproduce the original weights bit-exactly (float32 rounding of W + ΔW cannot be undone on disk; ` +
          `the difference is at most ~${bound.toExponential(1)} per weight); nothing was written. Without --exact the result is written anyway`,
      );
    }
    const outDir = resolvePath(io, outArg);
    await saveModel(model, outDir, { metadata: { medit_revert: delta.info.method }, sideFilesFrom: resolvePath(io, modelDir) });
    out.line(`wrote ${outArg}: ${modelDir} with the ${delta.info.method} edit (${delta.updates.length} update${delta.updates.length === 1 ? '' : 's'}) subtracted`);
    if (exact === true) out.line('restored bit-exactly: the changed weights match the fingerprint of the model the edit was computed on');
    else if (exact === false) {
      out.line(`restored up to float32 rounding (each changed weight within ~${bound.toExponential(1)} of the original); the original fingerprint does not match, as expected for an edit applied to a checkpoint on disk`);
    } else out.line('the delta records no model fingerprint, so the result could not be checked against the original');
    out.result({
      model: modelDir,
      delta: deltaFile,
      out: outDir,
      exact,
      roundingBound: bound,
      fingerprint: modelFingerprint(model),
      originalFingerprint: delta.info.modelFingerprint ?? null,
      forced: args.flag('force'),
    });
    return 0;
  } finally {
    inverse?.dispose();
    delta?.dispose();
    model.dispose();
  }
}
