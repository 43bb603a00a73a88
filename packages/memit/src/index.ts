/**
 * @medit/memit — MEMIT (Meng et al. 2023), EMMET (Gupta et al. 2024) and AlphaEdit
 * (Fang et al. 2025): thousands of edits in one batch, and long sequential streams, over
 * medit's native engine.
 * @example
 * const model = await loadModel('test-fixtures/models/fact-small');
 * const editor = new MemitEditor({}, { corpus: readCorpus('test-fixtures/factworld/filler.txt'), statsCacheDir: '.cache', zCacheDir: '.cache/z' });
 * const delta = await editor.edit(model, requests); // one batch of N
 * delta.apply(model);
 *
 * const stream = new SequentialEditor(new AlphaEditEditor({}, { corpus }));
 * await stream.run(model, batches, { onBatch: (i) => evaluate(i) });
 * stream.revertAll();
 */
export { MassEditorBase, MemitEditor, EmmetEditor, AlphaEditEditor } from './editor';
export { uniquePrefixTokens } from './unique-prefix';
export type { SubjectPrompt } from './unique-prefix';
export type { MassEditorOptions, MassEditStats, LayerReport } from './editor';
export { SequentialEditor } from './sequential';
export {
  MEMIT_PRESETS,
  EMMET_PRESETS,
  ALPHAEDIT_PRESETS,
  defaultMemitHparams,
  resolveMemitHparams,
  readMemitHparams,
  algorithmFromName,
} from './hparams';
export type { MemitHyperParams, MassEditAlgorithm } from './hparams';
export { MEMIT_START_WORDS, memitContextTemplates } from './context-templates';
export { computeZs, deltaGroups, zRows } from './compute-z';
export type { ZRequest, ZSettings, ZOptions, ZResult, ZRows, DeltaResult } from './compute-z';
export { cachedComputeZs, Z_CACHE_FORMAT } from './z-cache';
export type { ZCacheCounts, ZCacheOptions, ZKeyMaterial } from './z-cache';
export { computeKeys } from './compute-ks';
export type { KeyRequest, KeysResult } from './compute-ks';
export {
  memitSolve,
  memitSolveDirect,
  memitSolveWoodbury,
  emmetSolve,
  woodburySolve,
  nullSpace,
  projector,
  alphaEditSolve,
  updateFactors,
  updateNorm,
  addDiagonal,
  withRidge,
} from './solve';
export type { NullSpace } from './solve';
export { createMassEditor } from './factory';
