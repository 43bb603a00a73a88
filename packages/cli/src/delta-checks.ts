/**
 * Whether a saved edit belongs to a model on disk, for `medit apply` and `medit revert`: the
 * delta records sha256 fingerprints of the weights it changes before and after the edit, so
 * applying it to weights other than `before` (applied twice, another model, another edit) and
 * reverting it from weights other than `after` (never applied, applied twice, another edit) are
 * refused with the reason; `--force` turns the refusal into a warning.
 */
import { type CausalLM, ArgumentError, type EditDelta, FingerprintMismatchError, modelFingerprint } from '@medit/core';

import type { CommandContext } from './common';

/** Throws when the delta changes weights the model lacks or has in another shape (a memory or patch edit, or another architecture). */
export function checkDeltaFits(delta: EditDelta, model: CausalLM, modelDir: string): void {
  for (const u of delta.updates) {
    const w = model.params.get(u.name);
    const shape = u.delta ? u.delta.shape : [u.left!.shape[0], u.right!.shape[1]];
    if (!w) {
      throw new ArgumentError(
        `the ${delta.info.method} edit changes ${u.name}, which ${modelDir} has no weight of: it is a memory or patch edit (SERAC, IKE, T-Patcher, CaliNet; use it with generate or eval --delta) or belongs to another model`,
      );
    }
    if (w.shape.join() !== shape.join()) throw new ArgumentError(`the ${delta.info.method} edit changes ${u.name} as [${shape.join(', ')}] but ${modelDir} has it as [${w.shape.join(', ')}]: the edit belongs to another model`);
  }
}

/** Why `delta` cannot be applied to `model` (null when it can). */
export function applyProblem(delta: EditDelta, model: CausalLM, modelDir: string): string | null {
  if (delta.info.weights) return delta.mismatch('apply', delta.fingerprintOf(model));
  if (delta.info.modelFingerprint) {
    return delta.info.modelFingerprint === modelFingerprint(model) ? null : `${modelDir} is not the model the ${delta.info.method} edit was computed on (whole-model fingerprints differ)`;
  }
  return `the ${delta.info.method} edit records no fingerprint of the model it was computed on, so it cannot be checked that ${modelDir} is that model`;
}

/** Why `delta` cannot be reverted from `model` (null when it can). */
export function revertProblem(delta: EditDelta, model: CausalLM, modelDir: string): string | null {
  if (delta.info.weights) return delta.mismatch('revert', delta.fingerprintOf(model));
  if (delta.info.modelFingerprint === modelFingerprint(model)) {
    return `${modelDir} is the unedited model this delta was computed on (fingerprints match); there is nothing to revert`;
  }
  return `the ${delta.info.method} edit records no fingerprint of the weights it changes (saved by an older medit), so it cannot be checked that ${modelDir} carries it`;
}

/** Refuses (FingerprintMismatchError) unless --force, which prints the problem as a warning instead. */
export function refuseUnlessForced(ctx: CommandContext, problem: string | null, action: 'applies' | 'reverts'): void {
  if (!problem) return;
  if (!ctx.args.flag('force')) throw new FingerprintMismatchError(`${problem}; nothing was written (--force ${action} anyway)`);
  ctx.out.note(`medit ${ctx.out.command}: warning: ${problem}; going on because of --force`);
}
