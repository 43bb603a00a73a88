/**
 * `medit apply`: write the model at --model with a saved edit applied, as a new directory
 * (atomic; the source is never modified). The model must hold the weights the edit was computed
 * on: the delta's fingerprint of them is checked first, so applying an edit twice, to another
 * model or on top of another edit is refused with the reason (`--force` applies anyway).
 */
import { EditDelta, saveModel } from '@medit/core';

import type { OptionSpecs } from '../args';
import { type CommandContext, loadModelDir, requireFile, resolvePath } from '../common';
import { applyProblem, checkDeltaFits, refuseUnlessForced } from '../delta-checks';

export const APPLY_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'the model the edit was computed on (a Hugging Face directory)' },
  delta: { type: 'string', value: 'FILE', description: 'the edit to apply (medit edit --save-delta)' },
  out: { type: 'string', value: 'DIR', description: 'new directory for the edited model (atomic; must not exist)' },
  force: { type: 'boolean', description: 'apply even when the model is not the one the edit was computed on (its fingerprint does not match)' },
};

export async function runApply(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const modelDir = args.required('model');
  const deltaFile = requireFile(resolvePath(io, args.required('delta')), 'delta file');
  const outArg = args.required('out');
  const model = await loadModelDir(io, modelDir);
  let delta: EditDelta | undefined;
  try {
    delta = await EditDelta.load(deltaFile);
    checkDeltaFits(delta, model, modelDir);
    refuseUnlessForced(ctx, applyProblem(delta, model, modelDir), 'applies');
    delta.apply(model, { force: true }); // checked above, with --force's say
    const outDir = resolvePath(io, outArg);
    await saveModel(model, outDir, { metadata: { medit_edit: delta.info.method }, sideFilesFrom: resolvePath(io, modelDir) });
    const n = delta.updates.length;
    out.line(`wrote ${outArg}: ${modelDir} with the ${delta.info.method} edit (${n} update${n === 1 ? '' : 's'}) applied`);
    out.result({ model: modelDir, delta: deltaFile, out: outDir, method: delta.info.method, weights: delta.fingerprintOf(model), forced: args.flag('force') });
    return 0;
  } finally {
    delta?.dispose();
    model.dispose();
  }
}
