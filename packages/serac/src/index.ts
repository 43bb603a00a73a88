/**
 * @medit/serac — memory-based editors that leave the base model's weights alone:
 * SERAC (Mitchell et al., "Memory-Based Model Editing at Scale", ICML 2022) and IKE (Zheng et al.,
 * "Can We Edit Factual Knowledge by In-Context Learning?", EMNLP 2023).
 */
export * from './encoder';
export * from './lm-encoder';
export * from './examples';
export * from './scope';
export * from './calibrate';
export { classifierTokenizer, createBertEncoder, saveScopeClassifier, trainScopeClassifier } from './scope-train';
export type { ScopeTrainOptions, TrainedScope } from './scope-train';
export { saveLmScopeClassifier, trainLmScopeClassifier } from './scope-lm';
export type { LmScopeTrainOptions, TrainedLmScope } from './scope-lm';
export * from './counterfactual';
export * from './multimodal';
export * from './train';
export type { TrainProgress } from './train-progress';
export { routedForward } from './routed-forward';
export type { ForwardFn, RowContext, RowRouter } from './routed-forward';
export { MemoryDelta } from './memory-delta';
export type { ForwardWrapper } from './memory-delta';
export * from './serac';
export * from './ike';
export * from './word-noise';
export { memoryDeltaFrom } from './memory-load';
