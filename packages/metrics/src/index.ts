/**
 * @packageDocumentation
 * `@medit/metrics`: knowledge-editing metrics computed from predictions (only the harness runs models), their
 * aggregation with confidence intervals, and the versioned `EvalReport` with an offline HTML view.
 *
 * - Token metrics (EasyEdit, zsRE): {@link TokenPrediction} = teacher-forced argmax ids vs target ids.
 * - CounterFact (ROME): {@link TargetNll} = mean per-token NLL of target_new / target_true.
 * - Sequential editing (T-Patcher): {@link SequentialEditRun}.
 * - Efficiency: {@link TimingRecord}s.
 * - Harness: {@link evaluate} runs an `Editor` over `EditCase`s and builds the {@link EvalReport}.
 * Metric values are fractions in [0, 1]; `null` marks a metric that is undefined for a case (e.g.
 * an empty locality set) and is left out of aggregates.
 */
export { MetricInputError } from './errors';
export { aggregate, mean, sampleStd, harmonicMean, createRng, wilsonInterval, Z_975 } from './stats';
export type { Aggregate, AggregateOptions } from './stats';
export { tokenAccuracy, tokenExactMatch, meanTokenAccuracy, tokenAgreement } from './token';
export type { TokenPrediction, LocalityPrediction } from './token';
export { wordTokenize, nGramEntropy, textNGramEntropy, generationEntropy } from './entropy';
export { rewriteAcc, rephraseAcc, portabilityAcc, localityAcc, fluency, easyEditCaseMetrics } from './easyedit';
export type { EasyEditCasePredictions } from './easyedit';
export {
  meanNll,
  efficacyScore,
  efficacyMagnitude,
  paraphraseScore,
  paraphraseMagnitude,
  neighborhoodScore,
  neighborhoodMagnitude,
  counterFactScore,
  referenceScore,
  counterFactCaseMetrics,
  essencePerplexity,
} from './counterfact';
export type { TargetNll, CounterFactCasePredictions, CounterFactCaseMetrics } from './counterfact';
export { TfIdfModel, tfidfTokens } from './tfidf';
export { mmeditCaseMetrics, topKAgreement } from './mmedit';
export type { MmeditCasePredictions, MmeditCaseMetrics, TopKLocalityPrediction } from './mmedit';
export { AttributeSnippets } from './snippets';
export type { AttributeSnippetRecord } from './snippets';
export { zsreCaseMetrics, zsreScore } from './zsre';
export type { ZsreCasePredictions, ZsreCaseMetrics } from './zsre';
export { sequentialMetrics, sequentialCurve, retainRate, aggregateSequentialRuns } from './sequential';
export type { SequentialEditStep, SequentialEditRun, RetainSet, SequentialMetrics, SequentialCurvePoint } from './sequential';
export { summarizeEfficiency } from './efficiency';
export type { TimingRecord, EfficiencySummary } from './efficiency';
export {
  EVAL_REPORT_SCHEMA_VERSION,
  validateEvalReport,
  isEvalReport,
  buildMethodReport,
  createEvalReport,
  isProportionMetric,
  aggregateOptionsFor,
  ReportValidationError,
} from './report/schema';
export type { EvalReport, MethodReport, CaseRow, JsonValue, MethodReportInput } from './report/schema';
export { renderHtmlReport } from './report/html';
export { METRIC_DEFINITIONS, metricDefinition } from './report/definitions';
export type { HtmlReportOptions } from './report/html';
export {
  evaluate,
  editRequestOf,
  checkLoadEdits,
  UNEDITED,
  mergeEvalReports,
  concatEvalReports,
  EVAL_SUITES,
  defaultSuites,
  scoreTargets,
  targetNll,
  targetNlls,
  teacherForcedPredictions,
  generateTexts,
  evaluateMmedit,
  mmeditGallery,
  MMEDIT_SUITE,
  M_LOCALITY_TOP_K,
} from './harness';
export type { EvaluateOptions, EvalMode, EvalProgress, EvalSuite, TargetQuery, ScoredTarget, PredictOptions, GenerationOptions, MmeditEvaluateOptions } from './harness';
