/**
 * The evaluation harness: runs any `Editor` over `EditCase`s, gathers predictions from the model
 * and turns them into an {@link EvalReport} with the metric functions of this package.
 *
 * Protocols (locate-then-edit spec §9–§10; T-Patcher for sequential editing, meta-and-memory §3.7):
 * - `single`: every case is edited on the clean model, measured, and reverted (ROME/EasyEdit default).
 * - `batch`: `batchSize` cases are edited in one editor call (MEMIT), measured, and reverted.
 * - `sequential`: batches are applied one after another without reverting (EasyEdit
 *   `sequential_edit=True`, T-Patcher SME); everything is reverted at the end.
 * Pre-edit predictions are recorded once on the clean model; they give the `unedited` baseline row
 * and the reference of EasyEdit's locality (agreement of post- with pre-edit argmax tokens).
 * Batch and sequential runs can carry load edits (`load`): edited in the same calls, never measured.
 */
import * as path from 'node:path';

import { ArgumentError, CancelledError, type CausalLM, type EditDelta, type EditProgress, type Editor, type EditRequest, memory, resetPeakMemory } from '@medit/core';
import type { EditCase } from '@medit/data';

import type { TimingRecord } from '../efficiency';
import { summarizeEfficiency } from '../efficiency';
import { aggregateOptionsFor, buildMethodReport, type CaseRow, createEvalReport, type EvalReport, type JsonValue, type MethodReport } from '../report/schema';
import { sequentialCurve, sequentialMetrics, type SequentialEditRun, type SequentialEditStep, type RetainSet } from '../sequential';
import { aggregate, type Aggregate, type AggregateOptions } from '../stats';
import type { AttributeSnippets } from '../snippets';
import { localityLinks } from './edited-facts';
import { checkLoadEdits, spreadLoad } from './load';
import {
  caseRow,
  type CaseGenerations,
  type CasePlan,
  type CaseReferences,
  EVAL_SUITES,
  type EvalSuite,
  exactMatch,
  inScopeCount,
  type InPlace,
  NONE_IN_PLACE,
  outOfScope,
  planCase,
  type Scores,
  targetMatched,
} from './plan';
import { generateTexts, type GenerationOptions, scoreTargets, type TargetQuery } from './predict';

/** Editing protocol of {@link evaluate}. */
export type EvalMode = 'single' | 'batch' | 'sequential';

/** Name of the baseline method row (the model before any edit). */
export const UNEDITED = 'unedited';

/** Progress of {@link evaluate}. */
export interface EvalProgress {
  /** `baseline`: pre-edit predictions; `edit`: an editor call; `measure`: post-edit predictions;
   *  `final`: the sequential run's final-model pass. */
  stage: 'baseline' | 'edit' | 'measure' | 'final';
  /** Cases finished in this stage. */
  done: number;
  total: number;
  /** The editor's own progress during `edit`. */
  detail?: EditProgress;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** The editor to evaluate; absent = the unedited baseline only. */
  editor?: Editor;
  model: CausalLM;
  cases: readonly EditCase[];
  /** Editing protocol (default `single`). */
  mode?: EvalMode;
  /** Cases per editor call in `batch` and `sequential` modes (default 1; ignored in `single`). */
  batchSize?: number;
  /**
   * Sequential mode: when the per-case rows are measured. `each` (default): right after the case's
   * batch is applied (earlier edits still in place); `all`: on the final model after every edit
   * (EasyEdit `sequential_edit=True`). Either way SR/GR come from right after each batch and ER /
   * TestR from the final model.
   */
  evalAfter?: 'each' | 'all';
  /** Metric suites; default per case: CounterFact for CounterFact-format cases, zsRE for zsRE cases, EasyEdit for all. */
  suites?: readonly EvalSuite[];
  /** Generate free text for generation entropy / fluency (default false: slow). */
  generation?: boolean | GenerationOptions;
  /**
   * With `generation`: ROME's attribute snippets, for the CounterFact Reference Score (TF-IDF
   * cosine of the texts generated from `generation_prompts` with the snippets of subjects that
   * truly have `target_new`; needs the cases' relation and target_new ids).
   */
  snippets?: AttributeSnippets;
  signal?: AbortSignal;
  onProgress?: (p: EvalProgress) => void;
  /** Sequences per forward pass when scoring (default 16). */
  predictBatchSize?: number;
  /**
   * Sequential mode: measure retention of all past edits (the curve's ER, and for CounterFact
   * cases their efficacy, paraphrase and neighbourhood scores) every this many batches (default 1)
   * and after the last.
   */
  curveEvery?: number;
  /**
   * Sequential mode: TrainR's retain set (T-Patcher's `train_sub`): prompts from the base model's
   * training data with their answers, scored by teacher-forced exact match on the initial and the
   * final model. Absent = TrainR not measured. Keep it disjoint from an editor's memory of
   * unrelated inputs, as the T-Patcher paper keeps `train_sub` apart from `memory_set`.
   */
  trainRetain?: readonly TargetQuery[];
  /**
   * Batch and sequential modes: keep locality prompts that ask a fact another case of the run
   * edits. Default false: once that edit is in place they are in its scope, so they are left out
   * of NS, locality and TestR — in a batch, the edits of the batch; in a stream, the edits made
   * at or before the measurement (a row measured right after its own edit keeps a prompt about a
   * fact edited later; TestR on the final model leaves out every edited fact). Counted as
   * `protocol.localityInScope` (rows) and, in sequential mode, `localityInScopeFinal` (TestR).
   */
  keepEditedFacts?: boolean;
  /**
   * Batch and sequential modes: load edits, edited in the same editor calls as `cases` but never
   * measured (no rows, no aggregates) — to edit as many requests per call, or per stream, as the
   * run under study when the measured split is smaller (tuning a 1,000-edit batch on a validation
   * split of 399 records). They are spread over the calls of the measured cases in order, each
   * call getting an equal share (±1) interleaved evenly among its cases; with one batch of all
   * cases, every load edit is in it. A call's size is thus its cases plus its share, in both
   * modes. They are edits of the run for `keepEditedFacts` (a locality prompt asking a load
   * edit's fact is left out once it is in place) and for the neighbourhood subject split (a
   * subject a load edit rewrites is an edited subject). Efficiency counts them as edits. Refused:
   * a load case on a subject some case edits, and two load cases on one fact (same subject and
   * relation). Recorded as `protocol.loadEdits` and the report's `dataset.load`.
   */
  load?: readonly EditCase[];
  /** Name of the editor's row (default `editor.name`), e.g. to tell apart runs of one editor in two modes. */
  methodName?: string;
  /** Report labels (default: the model directory's name / the first case's file name). */
  modelName?: string;
  datasetName?: string;
  /** Keep per-case rows in the report (default true). */
  includeRows?: boolean;
  /** Confidence intervals: normal approximation (default) or bootstrap. */
  aggregateOptions?: AggregateOptions;
}

function fail(what: string, param: string, v: unknown): never {
  throw new ArgumentError(`Expected ${what} for ${param} but received ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`);
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError('evaluate: aborted');
}

/** hparams as JSON (functions and undefined dropped, non-finite numbers → null). */
function toJson(v: unknown, depth = 0): JsonValue | undefined {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (depth > 20 || typeof v !== 'object') return undefined;
  if (Array.isArray(v)) return v.map((x) => toJson(x, depth + 1) ?? null);
  const out: Record<string, JsonValue> = {};
  for (const [k, x] of Object.entries(v as object)) {
    const j = toJson(x, depth + 1);
    if (j !== undefined) out[k] = j;
  }
  return out;
}

interface Ctx {
  model: CausalLM;
  plans: CasePlan[];
  predictBatchSize: number;
  gen: GenerationOptions | null;
  /** the Reference Score's references of each case (with generation and snippets) */
  refs: (i: number) => CaseReferences | undefined;
  signal?: AbortSignal;
}

/** Scores the selected queries of several plans in one batched pass. */
function score(ctx: Ctx, planIdx: readonly number[], select: (p: CasePlan) => readonly number[]): Map<number, Scores> {
  const flat: { plan: number; q: number }[] = [];
  for (const pi of planIdx) for (const q of select(ctx.plans[pi])) flat.push({ plan: pi, q });
  const scored = scoreTargets(
    ctx.model,
    flat.map((f) => ctx.plans[f.plan].queries[f.q]),
    { batchSize: ctx.predictBatchSize, signal: ctx.signal },
  );
  const out = new Map<number, Scores>();
  for (const pi of planIdx) out.set(pi, new Array(ctx.plans[pi].queries.length));
  flat.forEach((f, i) => (out.get(f.plan)![f.q] = scored[i]));
  return out;
}

const allQueries = (p: CasePlan): number[] => p.queries.map((_, i) => i);

function generations(ctx: Ctx, pi: number): CaseGenerations | undefined {
  if (!ctx.gen) return undefined;
  const p = ctx.plans[pi];
  // Seeded per case so a case's texts do not depend on which other cases are evaluated.
  const g = { ...ctx.gen, seed: (ctx.gen.seed ?? 0) + pi * 1000 };
  return { counterfact: generateTexts(ctx.model, p.generationPrompts.counterfact, g), easyedit: generateTexts(ctx.model, p.generationPrompts.easyedit, g) };
}

/** A case's request as core's EditRequest (dataset-only fields such as Wikidata ids left out). */
export function editRequestOf(c: EditCase): EditRequest {
  const { prompt, subject, targetNew, targetTrue } = c.request;
  return targetTrue === undefined ? { prompt, subject, targetNew } : { prompt, subject, targetNew, targetTrue };
}

function chunks(n: number, size: number): number[][] {
  const out: number[][] = [];
  for (let s = 0; s < n; s += size) out.push(Array.from({ length: Math.min(size, n - s) }, (_, i) => s + i));
  return out;
}

/** Runs one editor call on `edits`, applies the delta, and records its timing. */
async function editAndApply(opts: EvaluateOptions, editor: Editor, edits: readonly EditCase[], timings: TimingRecord[], done: number): Promise<EditDelta> {
  checkAbort(opts.signal);
  const requests = edits.map(editRequestOf);
  resetPeakMemory();
  const t0 = process.hrtime.bigint();
  const delta = await editor.edit(opts.model, requests, {
    signal: opts.signal,
    onProgress: opts.onProgress ? (detail) => opts.onProgress!({ stage: 'edit', done, total: opts.cases.length, detail }) : undefined,
  });
  try {
    delta.apply(opts.model);
  } catch (e) {
    delta.dispose();
    throw e;
  }
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  timings.push({ edits: edits.length, wallMs, peakNativeBytes: memory().peakBytes, label: 'edit' });
  return delta;
}

/**
 * Evaluates an editor (or only the unedited model) on edit cases and returns a validated
 * {@link EvalReport}: method `unedited` (pre-edit predictions) first, then the editor's method
 * with per-case rows (`id` = case id), aggregates with 95% confidence intervals, efficiency
 * (wall time per edit and per editor call, peak native memory, edits per second) and, in
 * sequential mode, the T-Patcher rates (`SR`, `GR`, `ER`, `TestR`) and the sequential curve.
 *
 * The model's weights are the same, bit for bit, when the promise settles (also on error or
 * abort): every delta is reverted (`EditDelta.revert` restores a snapshot).
 *
 * Metrics per suite (row keys): CounterFact `efficacyScore`, `efficacyMagnitude`,
 * `paraphraseScore/Magnitude`, `neighborhoodScore/Magnitude` (+ `generationEntropy`), and `score`;
 * EasyEdit `rewriteAcc`, `rephraseAcc`, `locality`, `locality/<kind>`, `portability`,
 * `portability/<kind>` (+ `fluency`); zsRE `efficacy`, `paraphrase`, `specificity`, and `score`.
 * Sequential correctness (SR/GR/ER) is the teacher-forced exact match of the whole target
 * (MEMIT `*_prompts_correct`), i.e. greedy decoding would produce it; TestR uses the cases'
 * locality prompts against their answers as the retain set, TrainR `trainRetain` (when given).
 * In batch and sequential modes a locality prompt that asks a fact another case of the run edits
 * is in that edit's scope and left out (see {@link EvaluateOptions.keepEditedFacts}), and EasyEdit
 * neighbourhood locality is also split by whether an edit in place rewrites the prompt's subject
 * on another relation (`locality/neighborhood-subject-edited`, `-subject-unedited`). Load edits
 * (`load`) are edited in the cases' calls and count as edits of the run for both, but are never
 * measured; the report records them as `dataset.load` and `protocol.loadEdits`.
 *
 * @throws {ArgumentError} for invalid options, {@link CancelledError} when `signal` aborts, and
 *   whatever the editor or the model throws (after reverting).
 * @example
 * ```ts
 * const report = await evaluate({ editor: new RomeEditor(hp), model, cases, mode: 'single' });
 * report.methods[1].aggregates.efficacyScore.mean;
 * ```
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvalReport> {
  const { model, cases, editor } = opts;
  if (!model || typeof (model as CausalLM).forward !== 'function') fail('a CausalLM', 'model', model);
  if (!Array.isArray(cases) || cases.length === 0) fail('a non-empty array of EditCase', 'cases', Array.isArray(cases) ? '[]' : cases);
  const mode = opts.mode ?? 'single';
  if (!['single', 'batch', 'sequential'].includes(mode)) fail("'single', 'batch' or 'sequential'", 'mode', mode);
  const batchSize = mode === 'single' ? 1 : (opts.batchSize ?? 1);
  if (!Number.isInteger(batchSize) || batchSize < 1) fail('a positive integer', 'batchSize', opts.batchSize);
  const evalAfter = opts.evalAfter ?? 'each';
  if (evalAfter !== 'each' && evalAfter !== 'all') fail("'each' or 'all'", 'evalAfter', evalAfter);
  const curveEvery = opts.curveEvery ?? 1;
  if (!Number.isInteger(curveEvery) || curveEvery < 1) fail('a positive integer', 'curveEvery', curveEvery);
  for (const s of opts.suites ?? []) if (!EVAL_SUITES.includes(s)) fail(EVAL_SUITES.map((x) => `'${x}'`).join(', '), 'suites', s);
  const methodName = opts.methodName ?? editor?.name;
  if (editor && (typeof methodName !== 'string' || methodName === '' || methodName === UNEDITED)) {
    fail(`a method name other than "${UNEDITED}" (the baseline row)`, opts.methodName !== undefined ? 'methodName' : 'editor.name', methodName);
  }
  cases.forEach((c, i) => {
    if (!c || typeof c.id !== 'string' || !c.request) fail('an EditCase with id and request', `cases[${i}]`, c);
  });
  if (opts.trainRetain !== undefined) {
    if (mode !== 'sequential') fail("mode 'sequential' (TrainR is a sequential-editing metric)", 'mode with trainRetain', mode);
    if (!Array.isArray(opts.trainRetain) || opts.trainRetain.length === 0) fail('a non-empty array of {prompt, target}', 'trainRetain', opts.trainRetain);
  }
  const load = opts.load ?? [];
  if (opts.load !== undefined) {
    if (!Array.isArray(opts.load)) fail('an array of EditCase', 'load', opts.load);
    if (mode === 'single') fail("mode 'batch' or 'sequential' (load edits share the editor calls of the cases)", 'mode with load', mode);
    load.forEach((c, i) => {
      if (!c || typeof c.id !== 'string' || !c.request) fail('an EditCase with id and request', `load[${i}]`, c);
    });
    checkLoadEdits(cases, load);
  }

  const n = cases.length;
  // Every edit of the run: the cases (indices 0…n−1), then the load edits (n…), and the editor
  // calls: the cases' batches, each with its share of the load edits.
  const edits = [...cases, ...load];
  const batches = chunks(n, batchSize);
  const calls = spreadLoad(batches, n, load.length);
  const callOf = new Array<number>(edits.length);
  calls.forEach((call, b) => call.forEach((j) => (callOf[j] = b)));
  const runGroups = mode === 'batch' ? calls : mode === 'sequential' ? [edits.map((_, i) => i)] : [];
  const links = localityLinks(edits, runGroups, opts.keepEditedFacts, n);
  const gen = opts.generation ? (opts.generation === true ? {} : opts.generation) : null;
  const snippets = gen ? opts.snippets : undefined;
  const ctx: Ctx = {
    model,
    plans: cases.map((c, i) => planCase(c, opts.suites, links[i])),
    predictBatchSize: opts.predictBatchSize ?? 16,
    gen,
    refs: (i) => (snippets ? { texts: snippets.texts(cases[i].request.relationId, cases[i].request.targetNewId), tfidf: snippets.tfidf } : undefined),
    signal: opts.signal,
  };
  const progress = (stage: EvalProgress['stage'], done: number) => opts.onProgress?.({ stage, done, total: n });
  // Which edits (load edits included) are in place when case i's row is measured: its call's
  // (batch mode), those up to its call (sequential, measured right after it) or all of the stream
  // (measured at the end).
  const ALL: InPlace = () => true;
  const rowInPlace = (i: number): InPlace =>
    mode === 'batch' ? (j) => callOf[j] === callOf[i] : mode === 'sequential' ? (evalAfter === 'all' ? ALL : (j) => callOf[j] <= callOf[i]) : NONE_IN_PLACE;

  // Pre-edit predictions, once, on the clean model (in groups, to report progress). The baseline
  // row of a case leaves out the same locality prompts as the method's row, so the two compare.
  const pre = new Map<number, Scores>();
  const baselineRows = new Array<CaseRow>(n);
  for (const group of chunks(n, 64)) {
    checkAbort(opts.signal);
    for (const [i, s] of score(ctx, group, allQueries)) {
      pre.set(i, s);
      baselineRows[i] = { id: cases[i].id, metrics: caseRow(ctx.plans[i], s, s, generations(ctx, i), rowInPlace(i), ctx.refs(i)) };
    }
    progress('baseline', group[group.length - 1] + 1);
  }
  const includeRows = opts.includeRows;
  const aggOpts = opts.aggregateOptions;
  const methods: MethodReport[] = [buildMethodReport({ name: UNEDITED, rows: baselineRows, includeRows, aggregateOptions: aggOpts })];

  if (editor) {
    const timings: TimingRecord[] = [];
    const rows = new Array<CaseRow>(n);
    const measure = (idx: readonly number[]) => {
      const post = score(ctx, idx, allQueries);
      for (const i of idx) rows[i] = { id: cases[i].id, metrics: caseRow(ctx.plans[i], pre.get(i)!, post.get(i)!, generations(ctx, i), rowInPlace(i), ctx.refs(i)) };
      return post;
    };
    let sequential: { curve: MethodReport['sequentialCurve']; extra: Record<string, Aggregate> } | undefined;
    if (mode === 'sequential') {
      sequential = await runSequential(opts, editor, ctx, pre, { batches, calls: calls.map((c) => c.map((j) => edits[j])), callOf }, batchSize, evalAfter, curveEvery, timings, measure);
    } else {
      let done = 0;
      for (const [b, idx] of batches.entries()) {
        const delta = await editAndApply(opts, editor, calls[b].map((j) => edits[j]), timings, done);
        try {
          checkAbort(opts.signal);
          measure(idx);
        } finally {
          delta.revert(model);
          editor.discard?.(delta);
          delta.dispose();
        }
        done += idx.length;
        progress('measure', done);
      }
    }
    const hparams = { ...((toJson(editor.hparams) as Record<string, JsonValue> | undefined) ?? {}) };
    const excluded = (inPlace: (i: number) => InPlace) => ctx.plans.reduce((s, p, i) => s + inScopeCount(p, inPlace(i)), 0);
    const inScope: Record<string, JsonValue> =
      mode === 'single' ? {} : mode === 'batch' ? { localityInScope: excluded(rowInPlace) } : { localityInScope: excluded(rowInPlace), localityInScopeFinal: excluded(() => ALL) };
    const loaded: Record<string, JsonValue> = load.length > 0 ? { loadEdits: load.length } : {};
    hparams.protocol = mode === 'sequential' ? { mode, batchSize, evalAfter, ...loaded, ...inScope } : mode === 'batch' ? { mode, batchSize, ...loaded, ...inScope } : { mode };
    methods.push(
      buildMethodReport({
        name: methodName!,
        hparams,
        rows,
        includeRows,
        aggregateOptions: aggOpts,
        efficiency: summarizeEfficiency(timings, aggOpts),
        sequentialCurve: sequential?.curve,
        extraAggregates: sequential?.extra,
      }),
    );
  }

  const firstFile = cases[0].source?.file;
  return createEvalReport({
    model: {
      name: opts.modelName ?? (model.source ? path.basename(model.source) : model.config.modelType),
      modelType: model.config.modelType,
      layers: model.config.numLayers,
      hiddenSize: model.config.hiddenSize,
    },
    dataset: {
      name: opts.datasetName ?? (firstFile ? path.basename(firstFile).replace(/\.jsonl?$/, '') : 'cases'),
      cases: n,
      formats: [...new Set(cases.map((c) => c.source?.format).filter((f): f is NonNullable<typeof f> => f !== undefined))],
      mode,
      ...(load.length > 0 ? { load: { name: loadName(load), cases: load.length } } : {}),
    },
    methods,
  });
}

/** A label for the load edits: their file's name (the files' names, when several), else `load`. */
function loadName(load: readonly EditCase[]): string {
  const files = [...new Set(load.map((c) => c.source?.file).filter((f): f is string => f !== undefined).map((f) => path.basename(f)))];
  return files.length > 0 ? files.join(', ') : 'load';
}

/** Sequential editing: apply batches without reverting; see {@link EvaluateOptions.evalAfter}. */
async function runSequential(
  opts: EvaluateOptions,
  editor: Editor,
  ctx: Ctx,
  pre: Map<number, Scores>,
  /** the cases' batches, the editor calls (load edits included) and each edit's call */
  stream: { batches: readonly (readonly number[])[]; calls: readonly (readonly EditCase[])[]; callOf: readonly number[] },
  batchSize: number,
  evalAfter: 'each' | 'all',
  curveEvery: number,
  timings: TimingRecord[],
  measure: (idx: readonly number[]) => Map<number, Scores>,
): Promise<{ curve: MethodReport['sequentialCurve']; extra: Record<string, Aggregate> }> {
  const n = opts.cases.length;
  const deltas: EditDelta[] = [];
  const steps: SequentialEditStep[] = [];
  const rewriteOnly = (p: CasePlan) => [p.rewrite];
  let finalEdits: boolean[] = [];
  const testSet: RetainSet & { initialCorrect: boolean[]; finalCorrect: boolean[] } = { initialCorrect: [], finalCorrect: [] };
  const retain = opts.trainRetain;
  const retainCorrect = () => scoreTargets(ctx.model, retain!, { batchSize: ctx.predictBatchSize, signal: ctx.signal }).map(targetMatched);
  const trainSet: RetainSet | undefined = retain ? { initialCorrect: retainCorrect(), finalCorrect: [] } : undefined;
  const cfCurve = new Map<number, Record<string, number | null>>();
  try {
    const batches = stream.batches;
    for (const [b, idx] of batches.entries()) {
      const delta = await editAndApply(opts, editor, stream.calls[b], timings, idx[0]);
      deltas.push(delta);
      editor.commit?.(delta);
      checkAbort(opts.signal);
      // Right after this batch: SR / GR inputs (and the rows when evalAfter is 'each').
      const now = evalAfter === 'each' ? measure(idx) : score(ctx, idx, (p) => [p.rewrite, ...p.rephrase]);
      const measured = b % curveEvery === curveEvery - 1 || b === batches.length - 1;
      // Retention of every edit so far by the current model (the curve's ER). With CounterFact
      // cases, every query of the edits so far is scored, for the curve's efficacy, paraphrase
      // and neighbourhood scores on the current model (MEMIT's Fig. 5 / AlphaEdit's Fig. 4 curves).
      const upTo = idx[idx.length - 1] + 1;
      const withCf = measured && ctx.plans.slice(0, upTo).some((p) => p.cf);
      const past = measured ? score(ctx, Array.from({ length: withCf ? upTo : idx[0] }, (_, i) => i), withCf ? allQueries : rewriteOnly) : null;
      if (withCf) cfCurve.set(upTo, counterFactMeans(ctx, pre, past!, upTo, (j) => stream.callOf[j] <= b));
      const pastCorrect = past ? Array.from({ length: idx[0] }, (_, i) => exactMatch(past.get(i)!, ctx.plans[i].rewrite, ctx.plans[i])) : [];
      for (const i of idx) {
        const p = ctx.plans[i];
        const s = now.get(i)!;
        pastCorrect.push(exactMatch(s, p.rewrite, p));
      }
      for (const i of idx) {
        const p = ctx.plans[i];
        const s = now.get(i)!;
        steps.push({
          editCorrect: exactMatch(s, p.rewrite, p),
          rephraseCorrect: p.rephrase.map((q) => exactMatch(s, q, p)),
          ...(measured ? { pastEditsCorrect: pastCorrect.slice(0, i + 1) } : {}),
        });
      }
      opts.onProgress?.({ stage: 'measure', done: idx[idx.length - 1] + 1, total: n });
    }
    // The final model f_T: ER over every edit, TestR over the locality prompts, rows if 'all'.
    checkAbort(opts.signal);
    const all = opts.cases.map((_, i) => i);
    const fin = evalAfter === 'all' ? measure(all) : score(ctx, all, (p) => [p.rewrite, ...p.locality.map((l) => l.q)]);
    finalEdits = all.map((i) => exactMatch(fin.get(i)!, ctx.plans[i].rewrite, ctx.plans[i]));
    // every edit of the stream is in place on the final model
    const stillLocal = outOfScope(() => true);
    for (const i of all) {
      const p = ctx.plans[i];
      for (const l of p.locality.filter(stillLocal)) {
        testSet.initialCorrect.push(exactMatch(pre.get(i)!, l.q, p));
        testSet.finalCorrect.push(exactMatch(fin.get(i)!, l.q, p));
      }
    }
    if (trainSet) trainSet.finalCorrect = retainCorrect();
    opts.onProgress?.({ stage: 'final', done: n, total: n });
  } finally {
    // Undo in reverse order: each delta restores the weights it found.
    for (const d of deltas.reverse()) {
      d.revert(opts.model);
      d.dispose();
    }
  }
  const run: SequentialEditRun = { steps, finalEditsCorrect: finalEdits, test: testSet, train: trainSet };
  const m = sequentialMetrics(run);
  const bools = (xs: readonly boolean[]) => aggregate(xs.map((x) => (x ? 1 : 0)), aggregateOptionsFor('SR', opts.aggregateOptions));
  const extra: Record<string, Aggregate> = {
    SR: bools(steps.map((s) => s.editCorrect)),
    GR: bools(steps.flatMap((s) => [...s.rephraseCorrect])),
    ER: bools(finalEdits),
    // A ratio of two accuracies: no per-example spread, so no interval.
    TestR: { mean: m.TestR, ci95: null, n: m.TestR === null ? 0 : testSet.initialCorrect.length },
    ...(trainSet ? { TrainR: { mean: m.TrainR, ci95: null, n: m.TrainR === null ? 0 : trainSet.initialCorrect.length } } : {}),
  };
  const curve = sequentialCurve(run, batchSize * curveEvery).map((p) => ({ ...p, ...(cfCurve.get(p.step) ?? {}) }));
  return { curve, extra };
}

/** Mean CounterFact efficacy, paraphrase and neighbourhood scores of cases 0..upTo−1 under `post`, with the edits `inPlace` says are in place. */
function counterFactMeans(ctx: Ctx, pre: Map<number, Scores>, post: Map<number, Scores>, upTo: number, inPlace: InPlace): Record<string, number | null> {
  const keys = ['efficacyScore', 'paraphraseScore', 'neighborhoodScore'];
  const sums = keys.map(() => ({ s: 0, n: 0 }));
  for (let i = 0; i < upTo; i++) {
    if (!ctx.plans[i].cf) continue;
    const row = caseRow(ctx.plans[i], pre.get(i)!, post.get(i)!, undefined, inPlace);
    keys.forEach((k, j) => {
      const v = row[k];
      if (typeof v === 'number') (sums[j].s += v), sums[j].n++;
    });
  }
  return Object.fromEntries(keys.map((k, j) => [k, sums[j].n === 0 ? null : sums[j].s / sums[j].n]));
}
