/**
 * @medit/ft — the fine-tuning baselines of knowledge editing (specs/locate-then-edit.md §8):
 * FT (one layer), FT-L (L∞-constrained, Zhu et al. 2020 as run by ROME), FT-M (EasyEdit's
 * teacher-forced masked loss) and FT+KL (plus KL to the unedited model on unrelated prompts).
 * @example
 * const model = await loadModel('test-fixtures/models/fact-tiny');
 * const editor = new FtEditor({ lr: 1e-3 }, { variant: 'FT-M' });
 * const delta = await editor.edit(model, [{ prompt: '{} is a citizen of', subject: 'Rakem Boskre', targetNew: 'Lasktra' }]);
 * delta.apply(model);
 */
export { FtEditor, clampInto } from './ft';
export type { FtEditorOptions, FtEpoch } from './ft';
export { defaultFtHparams, resolveFtHparams, readFtHparams, ftVariantOf } from './hparams';
export type { FtHyperParams, FtObjective, FtVariant } from './hparams';
