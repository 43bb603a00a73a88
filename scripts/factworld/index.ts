/**
 * The fact world: a deterministic synthetic encyclopedia, its training corpus and tokenizer, and
 * builders for CounterFact / zsRE / KnowEdit edit sets over it (issue 14).
 */
export { Rng, hashString } from './prng';
export * from './templates';
export {
  generateWorld, tinyFacts, WorldIndex, DEFAULT_CONFIG, SMALL_CONFIG,
  type World, type WorldConfig, type Entity, type Fact,
} from './world';
export { generateFiller } from './filler';
export { renderPrompt, factLine, isQuestion, containsHeldout, buildCorpus } from './corpus';
export { preTokenize, buildVocab, encode, decode, tokenizerJson, tokenizerConfig, specialTokensMap, EOS_TOKEN, UNK_TOKEN } from './tokenizer';
export {
  ALL_ANSWERED, SPLITS, entityQid,
  type AnswerPredicate, type SplitRecords, type CounterFactRecord, type ZsreRecord, type KnowEditZsreRecord, type KnowEditCounterfactRecord,
} from './edit-records';
export * from './datasets';
export { buildFactWorld, worldToJson, evalTexts, uncoveredTokens, objectSharing, FORMAT_VERSION, MODEL_MAX_LENGTH, type FileSet } from './build';
export { loadWorld, readAnswers, answersFromKeys } from './load';
