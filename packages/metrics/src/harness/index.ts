/** The evaluation harness: predictions from a model and the edit/measure/revert protocols. */
export { evaluate, editRequestOf, UNEDITED } from './evaluate';
export type { EvaluateOptions, EvalMode, EvalProgress } from './evaluate';
export { concatEvalReports, mergeEvalReports } from './merge';
export { checkLoadEdits } from './load';
export { EVAL_SUITES, defaultSuites } from './plan';
export type { EvalSuite } from './plan';
export { scoreTargets, targetNll, targetNlls, teacherForcedPredictions, generateTexts } from './predict';
export type { TargetQuery, ScoredTarget, PredictOptions, GenerationOptions } from './predict';
export { evaluateMmedit, mmeditGallery, MMEDIT_SUITE, M_LOCALITY_TOP_K } from './mmedit';
export type { MmeditEvaluateOptions } from './mmedit';
