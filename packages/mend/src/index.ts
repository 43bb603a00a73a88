/**
 * @medit/mend — meta-learned editors over core's gradient decomposition
 * (specs/meta-and-memory.md §1 MEND, §5 KE), with their shared, resumable trainer.
 * @example
 * const model = await loadModel('test-fixtures/models/fact-small');
 * const mend = MendEditor.create(model, { lr: 1e-4 });
 * await trainEditor(mend, { model, examples: examplesFromCases(trainCases), outDir: 'runs/mend' });
 * const trained = await MendEditor.load('runs/mend/best.safetensors', model);
 * const delta = await trained.edit(model, [{ prompt: '{} works as a', subject: 'Leda Vagam', targetNew: 'lawyer' }]);
 */
export { MendEditor, resolveInnerParams } from './mend';
export { KeEditor, conditionText } from './ke';
export { GradientTransform, RunningStats, clampMin0, nonZeroRows } from './network';
export type { LowRankBlock } from './network';
export { trainEditor, splitValidation } from './trainer';
export type { TrainableEditor, TrainingObjective, TrainLogRow, TrainOptions, TrainResult } from './trainer';
export { examplesFromCases, examplesFromMmedit, targetBatch, textBatch, targetNll, objectiveNll, editNll, smoothedNll, localityKl, tokenAccuracy } from './examples';
export type { TrainingExample, TargetBatch } from './examples';
export { defaultMendHparams, defaultKeHparams, resolveHparams, readHparamsFile } from './hparams';
export type { MendHyperParams, KeHyperParams, TrainHyperParams, EditSign, EditNllReduction } from './hparams';
export { saveEditorFile, loadEditorFile } from './editor-file';
export type { EditorFileInfo } from './editor-file';
