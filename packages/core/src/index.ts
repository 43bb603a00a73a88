/**
 * @medit/core — tensors, autograd, scopes, model families loaded from Hugging Face
 * directories, tokenizers, generation, and the Editor interface shared by every method.
 */
export { tidy, keep, memory, resetPeakMemory, noGrad, isGradEnabled, buildInfo, devices } from './engine';
export type { MemoryInfo } from './engine';
export * from './errors';
export { Tensor, tensor, full, zeros, ones, scalar, randn, mulberry32 } from './tensor';
export type { NestedArray } from './tensor';
export { grad } from './autograd';
export * from './ops';
export { AdamW } from './optim/adamw';
export type { AdamWOptions } from './optim/adamw';
