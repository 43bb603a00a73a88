/**
 * The evaluation report: a stable, versioned JSON document (`EvalReport`) with a hand-written
 * validator, and builders that aggregate per-case rows into it.
 *
 * Schema version 1:
 * ```text
 * EvalReport   { schemaVersion: 1, model: {name, ...}, dataset: {name, ...}, createdAt: ISO-8601,
 *                methods: MethodReport[] }
 * MethodReport { name, hparams: {json}, aggregates: {metric: Aggregate}, rows?: CaseRow[],
 *                sequentialCurve?: [{step, metric: number|null ...}], efficiency?: EfficiencySummary }
 * Aggregate    { mean: number|null, ci95: [lo, hi]|null, n: int ≥ 0, std?: number|null }
 * CaseRow      { id: string, metrics: {metric: number|null} }
 * ```
 * Metric values are fractions (not ×100). `null` means "undefined for this case / method" (e.g. no
 * locality prompts); NaN and Infinity are not allowed anywhere (they do not survive JSON).
 * Additive, optional fields may be added without a version bump; anything else bumps it.
 */
import type { EfficiencySummary } from '../efficiency';
import type { SequentialCurvePoint } from '../sequential';
import { aggregate, Aggregate, AggregateOptions, harmonicMean } from '../stats';

/** Current report schema version. */
export const EVAL_REPORT_SCHEMA_VERSION = 1;

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Per-case metrics of one method. */
export interface CaseRow {
  /** The {@link @medit/data!EditCase} id. */
  id: string;
  metrics: Record<string, number | null>;
}

/** Results of one editing method. */
export interface MethodReport {
  name: string;
  hparams: Record<string, JsonValue>;
  aggregates: Record<string, Aggregate>;
  rows?: CaseRow[];
  sequentialCurve?: SequentialCurvePoint[];
  efficiency?: EfficiencySummary;
}

/** A whole evaluation run. */
export interface EvalReport {
  schemaVersion: typeof EVAL_REPORT_SCHEMA_VERSION;
  model: { name: string; [key: string]: JsonValue };
  dataset: { name: string; [key: string]: JsonValue };
  /** ISO-8601 timestamp. */
  createdAt: string;
  methods: MethodReport[];
}

/** The report failed validation; `issues` lists every problem as "path: message". */
export class ReportValidationError extends Error {
  override name = 'ReportValidationError';
  constructor(readonly issues: string[]) {
    super(`Invalid EvalReport (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n  ${issues.slice(0, 20).join('\n  ')}${issues.length > 20 ? `\n  ... and ${issues.length - 20} more` : ''}`);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function show(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 30 ? v.slice(0, 27) + '...' : v);
  if (Array.isArray(v)) return `array(${v.length})`;
  return v === null ? 'null' : typeof v;
}

/** @internal Collects validation issues. */
class Checker {
  issues: string[] = [];
  bad(path: string, what: string, v: unknown): void {
    this.issues.push(`${path}: expected ${what} but received ${show(v)}`);
  }
  num(v: unknown, path: string, nullable: boolean): v is number | null {
    if (v === null && nullable) return true;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.bad(path, nullable ? 'a finite number or null' : 'a finite number', v);
      return false;
    }
    return true;
  }
  int(v: unknown, path: string): void {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.bad(path, 'a non-negative integer', v);
  }
  json(v: unknown, path: string): void {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) this.bad(path, 'a finite number', v);
    } else if (Array.isArray(v)) v.forEach((x, i) => this.json(x, `${path}[${i}]`));
    else if (isObj(v)) for (const [k, x] of Object.entries(v)) this.json(x, `${path}.${k}`);
    else this.bad(path, 'a JSON value', v);
  }
  named(v: unknown, path: string): void {
    if (!isObj(v)) return this.bad(path, 'an object', v);
    if (typeof v.name !== 'string' || v.name === '') this.bad(`${path}.name`, 'a non-empty string', v.name);
    this.json(v, path);
  }
  aggregate(v: unknown, path: string): void {
    if (!isObj(v)) return this.bad(path, 'an Aggregate {mean, ci95, n}', v);
    const meanOk = this.num(v.mean, `${path}.mean`, true);
    this.int(v.n, `${path}.n`);
    if (meanOk && v.n === 0 && v.mean !== null) this.issues.push(`${path}: n is 0 but mean is ${show(v.mean)} (expected null)`);
    if (v.ci95 !== null) {
      if (!Array.isArray(v.ci95) || v.ci95.length !== 2) this.bad(`${path}.ci95`, 'null or [low, high]', v.ci95);
      else {
        const [lo, hi] = v.ci95 as unknown[];
        const ok = this.num(lo, `${path}.ci95[0]`, false) && this.num(hi, `${path}.ci95[1]`, false);
        if (ok && (lo as number) > (hi as number)) this.issues.push(`${path}.ci95: low ${lo} exceeds high ${hi}`);
      }
    }
    if (v.std !== undefined) this.num(v.std, `${path}.std`, true);
  }
  efficiency(v: unknown, path: string): void {
    if (!isObj(v)) return this.bad(path, 'an EfficiencySummary', v);
    this.int(v.batches, `${path}.batches`);
    this.int(v.edits, `${path}.edits`);
    this.num(v.totalMs, `${path}.totalMs`, false);
    this.aggregate(v.msPerEdit, `${path}.msPerEdit`);
    this.aggregate(v.msPerBatch, `${path}.msPerBatch`);
    this.num(v.editsPerSecond, `${path}.editsPerSecond`, true);
    this.num(v.peakNativeBytes, `${path}.peakNativeBytes`, true);
  }
  method(v: unknown, path: string): void {
    if (!isObj(v)) return this.bad(path, 'a MethodReport object', v);
    if (typeof v.name !== 'string' || v.name === '') this.bad(`${path}.name`, 'a non-empty string', v.name);
    if (!isObj(v.hparams)) this.bad(`${path}.hparams`, 'an object', v.hparams);
    else this.json(v.hparams, `${path}.hparams`);
    if (!isObj(v.aggregates)) this.bad(`${path}.aggregates`, 'an object', v.aggregates);
    else for (const [k, a] of Object.entries(v.aggregates)) this.aggregate(a, `${path}.aggregates.${k}`);
    if (v.rows !== undefined) {
      if (!Array.isArray(v.rows)) this.bad(`${path}.rows`, 'an array', v.rows);
      else
        v.rows.forEach((r, i) => {
          const rp = `${path}.rows[${i}]`;
          if (!isObj(r)) return this.bad(rp, 'a {id, metrics} object', r);
          if (typeof r.id !== 'string') this.bad(`${rp}.id`, 'a string', r.id);
          if (!isObj(r.metrics)) return this.bad(`${rp}.metrics`, 'an object', r.metrics);
          for (const [k, x] of Object.entries(r.metrics)) this.num(x, `${rp}.metrics.${k}`, true);
        });
    }
    if (v.sequentialCurve !== undefined) {
      if (!Array.isArray(v.sequentialCurve)) this.bad(`${path}.sequentialCurve`, 'an array', v.sequentialCurve);
      else {
        let last = -Infinity;
        v.sequentialCurve.forEach((p, i) => {
          const pp = `${path}.sequentialCurve[${i}]`;
          if (!isObj(p)) return this.bad(pp, 'a {step, ...metrics} object', p);
          this.int(p.step, `${pp}.step`);
          if (typeof p.step === 'number' && p.step <= last) this.issues.push(`${pp}.step: steps must increase (${p.step} after ${last})`);
          if (typeof p.step === 'number') last = p.step;
          for (const [k, x] of Object.entries(p)) if (k !== 'step') this.num(x, `${pp}.${k}`, true);
        });
      }
    }
    if (v.efficiency !== undefined) this.efficiency(v.efficiency, `${path}.efficiency`);
  }
}

/**
 * Check that `value` is a valid {@link EvalReport} (for example one read back from disk).
 * @returns the same object, typed.
 * @throws {ReportValidationError} listing every problem with its JSON path.
 */
export function validateEvalReport(value: unknown): EvalReport {
  const c = new Checker();
  if (!isObj(value)) {
    c.bad('$', 'an EvalReport object', value);
    throw new ReportValidationError(c.issues);
  }
  if (value.schemaVersion !== EVAL_REPORT_SCHEMA_VERSION) {
    c.issues.push(`$.schemaVersion: unsupported ${show(value.schemaVersion)} (this reader understands ${EVAL_REPORT_SCHEMA_VERSION})`);
  }
  c.named(value.model, '$.model');
  c.named(value.dataset, '$.dataset');
  if (typeof value.createdAt !== 'string' || !ISO.test(value.createdAt) || Number.isNaN(Date.parse(value.createdAt))) {
    c.bad('$.createdAt', 'an ISO-8601 timestamp', value.createdAt);
  }
  if (!Array.isArray(value.methods)) c.bad('$.methods', 'an array', value.methods);
  else {
    const seen = new Set<string>();
    value.methods.forEach((m, i) => {
      c.method(m, `$.methods[${i}]`);
      if (isObj(m) && typeof m.name === 'string') {
        if (seen.has(m.name)) c.issues.push(`$.methods[${i}].name: duplicate method name "${m.name}"`);
        seen.add(m.name);
      }
    });
  }
  if (c.issues.length > 0) throw new ReportValidationError(c.issues);
  return value as unknown as EvalReport;
}

/** True when {@link validateEvalReport} would accept `value`. */
export function isEvalReport(value: unknown): value is EvalReport {
  try {
    validateEvalReport(value);
    return true;
  } catch {
    return false;
  }
}

/** Input of {@link buildMethodReport}. */
export interface MethodReportInput {
  name: string;
  hparams?: Record<string, JsonValue>;
  rows: readonly CaseRow[];
  /** Keep rows in the report (default true). */
  includeRows?: boolean;
  sequentialCurve?: SequentialCurvePoint[];
  efficiency?: EfficiencySummary;
  /** Extra aggregates computed elsewhere (e.g. over folds); they override same-named ones. */
  extraAggregates?: Record<string, Aggregate>;
  aggregateOptions?: AggregateOptions;
}

/** Metric triples whose harmonic mean is the headline `score` (ROME `summarize.py`). */
const SCORE_TRIPLES: readonly (readonly [string, string, string])[] = [
  ['efficacyScore', 'paraphraseScore', 'neighborhoodScore'], // CounterFact S
  ['efficacy', 'paraphrase', 'specificity'], // zsRE
];

/** Per-case metrics that are shares of correct prompts or tokens (not magnitudes, entropies or similarities). */
const PROPORTIONS = new Set(['efficacyScore', 'paraphraseScore', 'neighborhoodScore', 'rewriteAcc', 'rephraseAcc', 'locality', 'portability', 'efficacy', 'paraphrase', 'specificity', 'SR', 'GR', 'ER']);

/**
 * Whether a metric key is a proportion (its interval is then a Wilson score interval): the
 * CounterFact scores, EasyEdit's and zsRE's accuracies (`locality/<kind>`, `portability/<kind>`
 * included) and the sequential SR / GR / ER.
 */
export function isProportionMetric(key: string): boolean {
  return PROPORTIONS.has(key) || key.startsWith('locality/') || key.startsWith('portability/');
}

/** {@link AggregateOptions} for one metric: the given method, else Wilson for a proportion and normal otherwise. */
export function aggregateOptionsFor(key: string, opts: AggregateOptions = {}): AggregateOptions {
  return { ...opts, method: opts.method ?? (isProportionMetric(key) ? 'wilson' : 'normal') };
}

/**
 * Aggregate per-case rows into a {@link MethodReport}: every metric key seen in any row gets an
 * {@link aggregate} (rows without the key, or with null, are left out of that metric's n), with a
 * Wilson interval for proportions ({@link isProportionMetric}) unless `aggregateOptions.method` says otherwise.
 * When a CounterFact (`efficacyScore`, `paraphraseScore`, `neighborhoodScore`) or zsRE (`efficacy`,
 * `paraphrase`, `specificity`) triple is present, `score` = harmonic mean of the three means
 * (ci95 null, n = the smallest of the three n).
 */
export function buildMethodReport(input: MethodReportInput): MethodReport {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const r of input.rows) {
    for (const k of Object.keys(r.metrics)) {
      if (!seen.has(k)) {
        seen.add(k);
        keys.push(k);
      }
    }
  }
  const aggregates: Record<string, Aggregate> = {};
  for (const k of keys) aggregates[k] = aggregate(input.rows.map((r) => r.metrics[k] ?? null), aggregateOptionsFor(k, input.aggregateOptions));
  for (const [a, b, c] of SCORE_TRIPLES) {
    const xs = [aggregates[a], aggregates[b], aggregates[c]];
    if (xs.every((x) => x !== undefined) && !('score' in aggregates)) {
      const means = xs.map((x) => x.mean);
      const ok = means.every((m): m is number => m !== null);
      aggregates.score = { mean: ok ? harmonicMean(means as number[]) : null, ci95: null, n: ok ? Math.min(...xs.map((x) => x.n)) : 0 };
    }
  }
  Object.assign(aggregates, input.extraAggregates ?? {});
  const out: MethodReport = { name: input.name, hparams: input.hparams ?? {}, aggregates };
  if (input.includeRows !== false) out.rows = input.rows.map((r) => ({ id: r.id, metrics: { ...r.metrics } }));
  if (input.sequentialCurve !== undefined) out.sequentialCurve = input.sequentialCurve;
  if (input.efficiency !== undefined) out.efficiency = input.efficiency;
  return out;
}

/**
 * Assemble and validate an {@link EvalReport}. `createdAt` defaults to now.
 * @throws {ReportValidationError} when the result is not a valid report (e.g. NaN metrics).
 */
export function createEvalReport(input: {
  model: EvalReport['model'];
  dataset: EvalReport['dataset'];
  methods: MethodReport[];
  createdAt?: Date | string;
}): EvalReport {
  const createdAt = input.createdAt === undefined ? new Date().toISOString() : typeof input.createdAt === 'string' ? input.createdAt : input.createdAt.toISOString();
  return validateEvalReport({ schemaVersion: EVAL_REPORT_SCHEMA_VERSION, model: input.model, dataset: input.dataset, createdAt, methods: input.methods });
}
