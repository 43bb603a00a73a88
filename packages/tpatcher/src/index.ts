/**
 * @medit/tpatcher — T-Patcher (Huang et al., "Transformer-Patcher: One Mistake Worth One
 * Neuron", ICLR 2023; specs/meta-and-memory.md §3): patch neurons appended to the last FFN layer,
 * one per wrong target token, trained with the edit, activation and memory losses; sequential
 * model editing; patches as EditDeltas that install, revert and save.
 * @example
 * const editor = new TPatcherEditor({}, { memoryTexts: fillerLines });
 * const delta = await editor.edit(model, [{ prompt: '{} is a citizen of', subject: 'Rakem Boskre', targetNew: 'Lasktra' }]);
 * delta.apply(model);   // model.forward now runs with the patch
 * delta.revert(model);
 */
export { TPatcherEditor, sequentialEdit, collectQueries } from './tpatcher';
export type { TPatcherEditorOptions, TPatcherEditStats, SequentialStep } from './tpatcher';
export { PatchDelta, patchHooks, installPatch, uninstallPatch, concatPatches, patchTensorNames } from './patch';
export type { PatchWeights, InstalledPatch } from './patch';
export { defaultTPatcherHparams, resolveTPatcherHparams, readTPatcherHparams } from './hparams';
export type { TPatcherHyperParams } from './hparams';
export { CaliNetEditor, defaultCaliNetHparams, pickCaliNetHparams, readCaliNetHparams } from './calinet';
export type { CaliNetHyperParams, CaliNetEditorOptions } from './calinet';
