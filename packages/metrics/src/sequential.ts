/**
 * Sequential Model Editing (SME) metrics of T-Patcher (Huang et al., ICLR 2023, "Transformer-Patcher:
 * One Mistake Worth One Neuron", Eqs. 2–5; code `ZeroYuHuang/Transformer-Patcher` `scripts/T-patch.py`,
 * `SeqEditResOutput`; meta-and-memory spec §3.7).
 *
 * Protocol: a stream of inputs is fed to the model; only inputs the current model gets wrong are
 * edited. Each performed edit is one {@link SequentialEditStep}. Correctness is task-specific
 * (zsRE: greedy output ∈ gold answers after lower/strip; FEVER: label) and decided by the harness.
 */
import { expected, MetricInputError } from './errors';
import { aggregate, Aggregate, AggregateOptions, mean } from './stats';

/** One performed edit t (1-based position in the stream of edits). */
export interface SequentialEditStep {
  /** `f_t(x_t) = y_t` right after edit t. */
  editCorrect: boolean;
  /** `f_t` on each rephrase of `x_t` right after edit t (T-Patcher samples up to 5); may be empty. */
  rephraseCorrect: readonly boolean[];
  /** Optional, for curves: `f_t` on every edit input so far, `x_1..x_t` (length t). */
  pastEditsCorrect?: readonly boolean[];
}

/** Correctness of the initial model `f_0` and the final model `f_T` on the same examples. */
export interface RetainSet {
  initialCorrect: readonly boolean[];
  finalCorrect: readonly boolean[];
}

/** One SME stream (T-Patcher: one of 20 folds, each starting from `f_0`). */
export interface SequentialEditRun {
  steps: readonly SequentialEditStep[];
  /** Final model `f_T` on `x_1..x_T`, in edit order (length = steps.length). */
  finalEditsCorrect: readonly boolean[];
  /** `train_sub`: examples from the base model's training data (T-Patcher: 10 000 of D_train′). */
  train?: RetainSet;
  /** Held-out test set. */
  test?: RetainSet;
}

/** SME metrics for one run (fractions; TrainR/TestR are ratios and may exceed 1). Null = undefined. */
export interface SequentialMetrics {
  SR: number | null;
  GR: number | null;
  ER: number | null;
  TrainR: number | null;
  TestR: number | null;
}

const frac = (xs: readonly boolean[]): number | null => mean(xs.map((b) => (b ? 1 : 0)));

/**
 * Retain rate as T-Patcher reports TrainR/TestR: final-model accuracy divided by initial-model
 * accuracy on the same examples, `Acc(f_T)/Acc(f_0)` (can exceed 1). Null for an empty set or when
 * the initial accuracy is 0 (ratio undefined).
 */
export function retainRate(set: RetainSet, where = 'retain set'): number | null {
  if (set.initialCorrect.length !== set.finalCorrect.length) {
    throw new MetricInputError(
      `Expected ${where}.initialCorrect and ${where}.finalCorrect to have the same length but received ${set.initialCorrect.length} and ${set.finalCorrect.length}`,
    );
  }
  const a0 = frac(set.initialCorrect);
  const aT = frac(set.finalCorrect);
  if (a0 === null || aT === null || a0 === 0) return null;
  return aT / a0;
}

function checkRun(run: SequentialEditRun): void {
  if (run.finalEditsCorrect.length !== run.steps.length) {
    throw new MetricInputError(
      `Expected finalEditsCorrect to have one entry per edit (${run.steps.length}) but received ${run.finalEditsCorrect.length}`,
    );
  }
  run.steps.forEach((s, t) => {
    if (s.pastEditsCorrect !== undefined && s.pastEditsCorrect.length !== t + 1) {
      throw expected(`an array of length ${t + 1}`, `steps[${t}].pastEditsCorrect`, s.pastEditsCorrect);
    }
  });
}

/**
 * SR, GR, ER, TrainR, TestR for one run:
 * - **SR** = (1/T) Σₜ 1[f_t(x_t) = y_t] (success right after each edit);
 * - **GR** = pooled accuracy of f_t on the rephrases of x_t over all t (Σ correct / Σ rephrases);
 * - **ER** = (1/T) Σₖ 1[f_T(x_k) = y_k] (edits retained by the final model, Eq. 5);
 * - **TrainR**, **TestR** = {@link retainRate} on `train` / `test`.
 * With no edits (T = 0) SR, GR and ER are null.
 */
export function sequentialMetrics(run: SequentialEditRun): SequentialMetrics {
  checkRun(run);
  return {
    SR: frac(run.steps.map((s) => s.editCorrect)),
    GR: frac(run.steps.flatMap((s) => [...s.rephraseCorrect])),
    ER: frac(run.finalEditsCorrect),
    TrainR: run.train ? retainRate(run.train, 'train') : null,
    TestR: run.test ? retainRate(run.test, 'test') : null,
  };
}

/** One point of a sequential-editing curve (cumulative over edits 1..step). */
export interface SequentialCurvePoint {
  step: number;
  [metric: string]: number | null;
}

/**
 * Curve of running metrics after edits 1..t, every `every` edits (T-Patcher logs every 50) and at
 * the last edit: `SR` and `GR` cumulative as in {@link sequentialMetrics}; `ER` = accuracy of `f_t`
 * on `x_1..x_t` when `pastEditsCorrect` is recorded for step t, else null.
 */
export function sequentialCurve(run: SequentialEditRun, every = 1): SequentialCurvePoint[] {
  if (!Number.isInteger(every) || every < 1) throw expected('a positive integer', 'every', every);
  checkRun(run);
  const pts: SequentialCurvePoint[] = [];
  let ok = 0;
  let rephOk = 0;
  let rephN = 0;
  run.steps.forEach((s, i) => {
    const t = i + 1;
    ok += s.editCorrect ? 1 : 0;
    for (const r of s.rephraseCorrect) {
      rephOk += r ? 1 : 0;
      rephN++;
    }
    if (t % every === 0 || t === run.steps.length) {
      pts.push({
        step: t,
        SR: ok / t,
        GR: rephN === 0 ? null : rephOk / rephN,
        ER: s.pastEditsCorrect ? frac(s.pastEditsCorrect) : null,
      });
    }
  });
  return pts;
}

/**
 * T-Patcher averages each metric over folds (independent streams from `f_0`); this returns the
 * per-metric {@link aggregate} over runs (n = folds where the metric is defined).
 */
export function aggregateSequentialRuns(runs: readonly SequentialEditRun[], opts: AggregateOptions = {}): Record<keyof SequentialMetrics, Aggregate> {
  const ms = runs.map(sequentialMetrics);
  const keys: (keyof SequentialMetrics)[] = ['SR', 'GR', 'ER', 'TrainR', 'TestR'];
  const out = {} as Record<keyof SequentialMetrics, Aggregate>;
  for (const k of keys) out[k] = aggregate(ms.map((m) => m[k]), opts);
  return out;
}
