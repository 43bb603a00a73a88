/**
 * `medit revert`: write the model at --model with a saved edit taken back out, as a new
 * directory.
 *
 * Semantics, honestly: in memory `EditDelta.revert` is bit-exact because it copies back a
 * snapshot of the original weights. A checkpoint on disk holds only W' = fl(W + ΔW), and
 * float32 addition is not invertible: fl(W' − ΔW) differs from W by rounding (at most about
 * one unit in the last place of |W'| per weight). We subtract the updates in reverse order
 * of their application with the same kernel, then compare the result's fingerprint with
 * the one the delta recorded for its source model: a match means the original was restored
 * bit-exactly; otherwise the output is the original up to float rounding, which the command
 * says (and `--exact` refuses to write).
 */
import { type WeightUpdate, ArgumentError, EditDelta, MeditError, clone, modelFingerprint, neg, noGrad, saveModel } from '@medit/core';

import type { OptionSpecs } from '../args';
import { type CommandContext, loadModelDir, requireFile, resolvePath } from '../common';

export const REVERT_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'the edited model directory (e.g. written by medit edit --out)' },
  delta: { type: 'string', value: 'FILE', description: 'the edit to take out (medit edit --save-delta)' },
  out: { type: 'string', value: 'DIR', description: 'new directory for the reverted model (atomic; must not exist)' },
  exact: { type: 'boolean', description: 'refuse unless the result is bit-identical to the model the edit was computed on' },
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
    const recorded = delta.info.modelFingerprint;
    const before = modelFingerprint(model);
    if (recorded === before) {
      throw new ArgumentError(`${modelDir} is the unedited model this delta was computed on (fingerprints match); there is nothing to revert`);
    }
    // Bound on the rounding: max ulp of the edited weights the delta touches.
    let bound = 0;
    for (const name of new Set(delta.updates.map((u) => u.name))) {
      const w = model.params.get(name);
      if (!w) throw new ArgumentError(`${modelDir} has no weight ${name}, which the delta changes: this delta belongs to a different model`);
      let max = 0;
      for (const v of w.data() as Float32Array) max = Math.max(max, Math.abs(v));
      if (max > 0) bound = Math.max(bound, ulp32(max));
    }
    // The same kernels with the sign flipped (exact negation), last update first.
    const updates: WeightUpdate[] = noGrad(() =>
      [...delta!.updates].reverse().map((u) => (u.delta ? { name: u.name, delta: neg(u.delta) } : { name: u.name, left: neg(u.left!), right: clone(u.right!) })),
    );
    inverse = new EditDelta(updates, { ...delta.info, method: `revert ${delta.info.method}` });
    inverse.apply(model);
    const after = modelFingerprint(model);
    const exact = recorded === undefined ? null : after === recorded;
    if (exact === false && args.flag('exact')) {
      throw new InexactRevertError(
        `subtracting the delta from ${modelDir} does not reproduce the original weights bit-exactly (float32 rounding of W + ΔW cannot be undone on disk; ` +
          `the difference is at most ~${bound.toExponential(1)} per weight); nothing was written. Without --exact the result is written anyway`,
      );
    }
    const outDir = resolvePath(io, outArg);
    await saveModel(model, outDir, { metadata: { medit_revert: delta.info.method }, sideFilesFrom: resolvePath(io, modelDir) });
    out.line(`wrote ${outArg}: ${modelDir} with the ${delta.info.method} edit (${delta.updates.length} update${delta.updates.length === 1 ? '' : 's'}) subtracted`);
    if (exact === true) out.line('restored bit-exactly: the result matches the fingerprint of the model the edit was computed on');
    else if (exact === false) {
      out.line(`restored up to float32 rounding (each changed weight within ~${bound.toExponential(1)} of the original); the original fingerprint does not match, as expected for an edit applied to a checkpoint on disk`);
    } else out.line('the delta records no model fingerprint, so the result could not be checked against the original');
    out.result({ model: modelDir, delta: deltaFile, out: outDir, exact, roundingBound: bound, fingerprint: after, originalFingerprint: recorded ?? null });
    return 0;
  } finally {
    inverse?.dispose();
    delta?.dispose();
    model.dispose();
  }
}
