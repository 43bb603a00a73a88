/**
 * The MMEdit evaluation (Cheng et al., EMNLP 2023; specs/meta-and-memory.md §8): every case is
 * edited on the clean vision-language model, measured, and reverted — EasyEdit's multimodal
 * editor evaluates single edits. Per case, teacher-forced:
 *
 * - Reliability: (image, src) → alt;  T-Generality: (image, rephrase) → alt;
 *   M-Generality: (image_rephrase, src) → alt — whole-target match (`exact_match`) by default;
 * - T-Locality: loc → loc_ans, no image: top-1 agreement of the post- with the pre-edit model;
 * - M-Locality: (m_loc, `Question: {m_loc_q} Short answer:`) → m_loc_a: top-10 agreement.
 *
 * The editor sees the edit's image through core's `withImages` view (weight editors run their
 * forward passes on image + text without knowing it); the delta is applied to the model itself,
 * so a memory (SERAC, IKE) routes every later forward — images travel in `ForwardOptions.images`.
 */
import * as path from 'node:path';

import { ArgumentError, CancelledError, type CausalLM, type Editor, memory, pngDataUrl, resetPeakMemory, type RgbImage, withImages } from '@medit/core';
import { type MmeditCase, mmeditLocalityPrompt, mmeditRequest } from '@medit/data';

import { summarizeEfficiency, type TimingRecord } from '../efficiency';
import { mmeditCaseMetrics, type MmeditCaseMetrics } from '../mmedit';
import { buildMethodReport, type CaseRow, createEvalReport, type EvalReport, type JsonValue, type MethodReport } from '../report/schema';
import type { HtmlReportOptions } from '../report/html';
import type { AggregateOptions } from '../stats';
import { scoreTargets, type ScoredTarget, type TargetQuery } from './predict';
import { UNEDITED } from './evaluate';

/** The suite name `medit eval --suites mmedit` selects. */
export const MMEDIT_SUITE = 'mmedit';

/** M-Locality compares this many top tokens per position (EasyEdit: `topk(…, k=10)`). */
export const M_LOCALITY_TOP_K = 10;

/** Options of {@link evaluateMmedit}. */
export interface MmeditEvaluateOptions {
  /** absent = only the unedited baseline */
  editor?: Editor;
  model: CausalLM;
  /** cases with their images loaded (`withCaseImages(c, readPng)`) */
  cases: readonly MmeditCase<RgbImage>[];
  /** whole-target match for reliability and generality (default true, EasyEdit's multimodal setting) */
  exactMatch?: boolean;
  predictBatchSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: { stage: 'baseline' | 'measure'; done: number; total: number }) => void;
  methodName?: string;
  modelName?: string;
  datasetName?: string;
  aggregateOptions?: AggregateOptions;
}

/** The five queries of a case, in a fixed order. @internal */
function queriesOf(c: MmeditCase<RgbImage>): TargetQuery[] {
  return [
    { image: c.image, prompt: c.src, target: c.alt },
    { image: c.image, prompt: c.rephrase, target: c.alt },
    { image: c.imageRephrase, prompt: c.src, target: c.alt },
    { image: null, prompt: c.loc, target: c.locAns },
    { image: c.mLoc, prompt: mmeditLocalityPrompt(c.mLocQ), target: c.mLocA },
  ];
}

function score(model: CausalLM, cases: readonly MmeditCase<RgbImage>[], opts: MmeditEvaluateOptions): ScoredTarget[][] {
  const flat = scoreTargets(model, cases.flatMap(queriesOf), { batchSize: opts.predictBatchSize, signal: opts.signal, topK: M_LOCALITY_TOP_K });
  return cases.map((_, i) => flat.slice(i * 5, i * 5 + 5));
}

function metricsOf(pre: ScoredTarget[], post: ScoredTarget[], exactMatch: boolean): MmeditCaseMetrics {
  const token = (s: ScoredTarget) => ({ predicted: s.predicted, target: s.targetIds });
  return mmeditCaseMetrics(
    {
      reliability: token(post[0]),
      textGenerality: token(post[1]),
      imageGenerality: token(post[2]),
      textLocality: { pre: pre[3].predicted, post: post[3].predicted },
      imageLocality: { pre: pre[4].topK!, post: post[4].topK! },
    },
    { exactMatch },
  );
}

/**
 * Evaluates an editor (or the unedited model) on MMEdit cases and returns a validated
 * {@link EvalReport}: method `unedited` then the editor's, each with per-case rows of
 * `reliability`, `tGenerality`, `mGenerality`, `tLocality`, `mLocality` and their aggregates;
 * the editor's row also has efficiency figures. The model's weights are the same, bit for bit,
 * when the promise settles (every delta is reverted).
 * @throws ArgumentError for invalid options; CancelledError when `signal` aborts
 */
export async function evaluateMmedit(opts: MmeditEvaluateOptions): Promise<EvalReport> {
  const { model, cases, editor } = opts;
  if (!model || typeof model.forward !== 'function') throw new ArgumentError('Expected a CausalLM for model');
  if (!Array.isArray(cases) || cases.length === 0) throw new ArgumentError('Expected a non-empty array of MMEdit cases for cases');
  const methodName = opts.methodName ?? editor?.name;
  if (editor && (!methodName || methodName === UNEDITED)) throw new ArgumentError(`Expected a method name other than "${UNEDITED}" for methodName`);
  const exactMatch = opts.exactMatch ?? true;
  const n = cases.length;
  const pre: ScoredTarget[][] = [];
  for (let s = 0; s < n; s += 32) {
    pre.push(...score(model, cases.slice(s, s + 32), opts));
    opts.onProgress?.({ stage: 'baseline', done: Math.min(s + 32, n), total: n });
  }
  const rowOf = (i: number, m: MmeditCaseMetrics): CaseRow => ({ id: cases[i].id, metrics: { ...m } });
  const methods: MethodReport[] = [buildMethodReport({ name: UNEDITED, rows: pre.map((p, i) => rowOf(i, metricsOf(p, p, exactMatch))), aggregateOptions: opts.aggregateOptions })];
  if (editor) {
    const rows: CaseRow[] = [];
    const timings: TimingRecord[] = [];
    for (let i = 0; i < n; i++) {
      if (opts.signal?.aborted) throw new CancelledError('evaluateMmedit: aborted');
      const c = cases[i];
      resetPeakMemory();
      const t0 = process.hrtime.bigint();
      const view = withImages(model, [c.image]);
      const delta = await editor.edit(view, [mmeditRequest(c)], { signal: opts.signal });
      try {
        delta.apply(model);
        timings.push({ edits: 1, wallMs: Number(process.hrtime.bigint() - t0) / 1e6, peakNativeBytes: memory().peakBytes, label: 'edit' });
        rows.push(rowOf(i, metricsOf(pre[i], score(model, [c], opts)[0], exactMatch)));
      } finally {
        if (delta.applied) delta.revert(model);
        editor.discard?.(delta);
        delta.dispose();
      }
      opts.onProgress?.({ stage: 'measure', done: i + 1, total: n });
    }
    const hparams = JSON.parse(JSON.stringify(editor.hparams ?? {}, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))) as Record<string, JsonValue>;
    methods.push(buildMethodReport({ name: methodName!, hparams: { ...hparams, protocol: { mode: 'single', exactMatch } }, rows, aggregateOptions: opts.aggregateOptions, efficiency: summarizeEfficiency(timings, opts.aggregateOptions) }));
  }
  const file = cases[0].source.file;
  return createEvalReport({
    model: { name: opts.modelName ?? (model.source ? path.basename(model.source) : model.config.modelType), modelType: model.config.modelType, layers: model.config.numLayers, hiddenSize: model.config.hiddenSize },
    dataset: { name: opts.datasetName ?? path.basename(file).replace(/\.json$/, ''), cases: n, formats: ['mmedit'], mode: 'single', file },
    methods,
  });
}

/**
 * The first `n` cases as an HTML report gallery: the edit (src → alt, and the unedited `pred`)
 * with thumbnails of the edited image, the rephrased image and the multimodal-locality image.
 * @example renderHtmlReport(report, { gallery: mmeditGallery(cases) })
 */
export function mmeditGallery(cases: readonly MmeditCase<RgbImage>[], n = 24): NonNullable<HtmlReportOptions['gallery']> {
  return cases.slice(0, n).map((c) => ({
    id: `case ${c.id}`,
    text: `${c.src} → ${c.alt} (was: ${c.pred})`,
    images: [
      { label: 'edited image', src: pngDataUrl(c.image) },
      { label: 'rephrased image', src: pngDataUrl(c.imageRephrase) },
      { label: `M-Loc: ${c.mLocA}`, src: pngDataUrl(c.mLoc) },
    ],
  }));
}
