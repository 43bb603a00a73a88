/**
 * @medit/kn — knowledge neurons (Dai et al., "Knowledge Neurons in Pretrained Transformers",
 * ACL 2022; specs/locate-then-edit.md §7): integrated-gradients attribution over FFN neurons,
 * the adaptive threshold and prompt-sharing refinement, and the operations on the neurons
 * (suppress/amplify, erase, edit) as EditDeltas; plus the paper's erasure experiment.
 * @example
 * const found = findKnowledgeNeurons(model, ['Rakem Boskre is a citizen of'], 'Midu', resolveKnHparams({}, model.config.numLayers));
 * const erase = eraseNeuronsDelta(model, found.neurons);
 * erase.apply(model);
 */
export { KnEditor, findKnowledgeNeurons, nextToken } from './kn';
export type { KnEditorOptions, FoundNeurons, KnEditStats } from './kn';
export { integratedGradients, attributionScores, linspace01 } from './attribution';
export type { IgOptions, LayerAttribution } from './attribution';
export {
  coarseNeurons,
  refineNeurons,
  embeddingMatrix,
  valueVectors,
  valueVectorDelta,
  scaleNeuronsDelta,
  eraseNeuronsDelta,
  editNeuronsChanges,
  activationPatchHooks,
} from './neurons';
export type { Neuron } from './neurons';
export { erasureExperiment, rankRelationNeurons, measureErasure, answerPerplexity } from './erasure';
export type { FactPrompts, RelationFacts, ErasureOptions, RankNeuronsOptions, ErasureResult, RelationPerplexity } from './erasure';
export { KN_DEFAULTS, resolveKnHparams, readKnHparams } from './hparams';
export type { KnHyperParams } from './hparams';
export { factWorldRelations } from './factworld';
export type { FactWorldOptions } from './factworld';
