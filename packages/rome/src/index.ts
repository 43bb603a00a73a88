/**
 * @medit/rome — ROME (Meng et al. 2022) over medit's native engine.
 * @example
 * const model = await loadModel('test-fixtures/models/fact-small');
 * const editor = new RomeEditor({}, { corpus: readCorpus('test-fixtures/factworld/filler.txt') });
 * const delta = await editor.edit(model, [{ prompt: '{} is a citizen of', subject: 'Rakem Boskre', targetNew: 'Lasktra' }]);
 * delta.apply(model);
 */
export { RomeEditor } from './rome';
export type { RomeEditorOptions, RomeEditStats } from './rome';
export { ROME_PRESETS, defaultRomeHparams, resolveRomeHparams, readRomeHparams } from './hparams';
export type { RomeHyperParams } from './hparams';
export { averagedKey, keysAtSubject } from './compute-key';
export { computeTarget } from './compute-target';
export type { TargetResult, TargetStep } from './compute-target';
