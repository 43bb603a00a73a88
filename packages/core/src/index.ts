/**
 * @medit/core — tensors, autograd, scopes, model families loaded from Hugging Face
 * directories, tokenizers, generation, and the Editor interface shared by every method.
 */
export { tidy, keep, memory, resetPeakMemory, noGrad, isGradEnabled, buildInfo, devices, setGemmBackend } from './engine';
export type { MemoryInfo } from './engine';
export * from './errors';
export { Tensor, tensor, full, zeros, ones, scalar, randn, mulberry32 } from './tensor';
export type { NestedArray } from './tensor';
export { grad } from './autograd';
export * from './ops';
export { AdamW } from './optim/adamw';
export type { AdamWOptions } from './optim/adamw';
export { CausalLM, KVCache } from './models/model';
export type { ModelConfig, ForwardOptions, ForwardOutput, RewriteModule } from './models/model';
export { HOOK_POINTS, hookName } from './models/hooks';
export type { HookPoint, HookFn, HookContext, Hooks } from './models/hooks';
export { GPT2 } from './models/gpt2';
export { Llama, llamaConfig, llamaInitParams } from './models/llama';
export { GPTJ, gptjConfig, gptjInitParams } from './models/gptj';
export { Bert, bertConfig, loadEncoder } from './models/bert';
export type { BertForwardOptions, BertOutput } from './models/bert';
export { applyRotary, rotaryTables, ropeInvFreq, parseRopeScaling } from './models/rotary';
export type { RotaryConfig, RotaryLayout, RopeScaling, RotaryTables } from './models/rotary';
export { loadModel, saveModel, createModel, registerModelType, modelTypes, readConfig } from './models/registry';
export type { ModelFamily, LoadModelOptions } from './models/registry';
export { generate, generateText } from './generation';
export type { GenerateOptions } from './generation';
export { secondMomentAccumulate, gemmInplace, addInplace, copyInplace, clone, cholesky, choleskySolve, eigh, vectorNorm } from './linalg';
export { EditDelta } from './editing/edit-delta';
export type { WeightUpdate, EditDeltaInfo } from './editing/edit-delta';
export type { Editor, EditOptions, EditProgress } from './editing/editor';
export { validateRequest, templateFromPrompt, fillTemplate, locateSubject, targetIds, rightPad, SUBJECT_SEARCH_MIN_PROB } from './editing/request';
export type { EditRequest, FactToken, FactTokenName, LocatedPrompt } from './editing/request';
export { contextTemplates } from './editing/context-templates';
export { readHparamsMapping } from './io/hparams-file';
export { traceSubjectTokens } from './editing/causal-trace';
export type { CausalTraceOptions, SubjectTrace } from './editing/causal-trace';
export { mlpLinears, decomposeGradients, lowRankDelta, lowRankUpdate, withWeights } from './editing/grad-decomp';
export type { MlpLinear, MlpRole, LinearFactors, Decomposition, DecomposeOptions } from './editing/grad-decomp';
export { readCheckpoint, writeCheckpointFile } from './io/checkpoint';
export { writeFileAtomic } from './io/atomic-write';
export type { Checkpoint, ReadCheckpointOptions } from './io/checkpoint';
export { modelFingerprint } from './models/fingerprint';
export { computeLayerStats, loadStatsFile, statsCachePath, StopForward } from './stats/layer-stats';
export type { LayerStats, LayerStatsOptions, LayerStatsProgress } from './stats/layer-stats';
export { readCorpus, corpusFromTexts } from './stats/corpus';
export type { Corpus } from './stats/corpus';
export * from './tokenizer';
