/**
 * Efficiency summary from timing records (survey metric "Efficiency: time / memory consumption for
 * editing"; Yao et al. 2023 report wall-clock per 10 edits). Records come from the harness; timing
 * never happens here.
 */
import { expected } from './errors';
import { aggregate, Aggregate, AggregateOptions } from './stats';

/** One timed editor call (one edit, or one batch of edits). */
export interface TimingRecord {
  /** Number of edits applied by this call (≥ 1). */
  edits: number;
  /** Wall-clock milliseconds from receiving the request(s) to the edited model being ready. */
  wallMs: number;
  /** Peak native (engine allocator) bytes observed during the call, if measured. */
  peakNativeBytes?: number;
  /** Free-form phase label (`edit`, `precompute`, ...). */
  label?: string;
}

/** Summary of a list of {@link TimingRecord}s. */
export interface EfficiencySummary {
  /** Number of records (editor calls). */
  batches: number;
  /** Total edits. */
  edits: number;
  /** Total wall time (ms). */
  totalMs: number;
  /** Per-record `wallMs / edits` (each call weighted equally). */
  msPerEdit: Aggregate;
  /** Per-record `wallMs`. */
  msPerBatch: Aggregate;
  /** Throughput `edits / (totalMs / 1000)`; null when no time was recorded. */
  editsPerSecond: number | null;
  /** Maximum `peakNativeBytes` over records that report it; null if none do. */
  peakNativeBytes: number | null;
}

/**
 * Summarise timing records.
 * @throws {MetricInputError} for `edits` < 1 or a negative / non-finite time or byte count.
 * @example summarizeEfficiency([{ edits: 1, wallMs: 500 }, { edits: 1, wallMs: 700 }]).editsPerSecond // 1000/600
 */
export function summarizeEfficiency(records: readonly TimingRecord[], opts: AggregateOptions = {}): EfficiencySummary {
  let edits = 0;
  let totalMs = 0;
  let peak: number | null = null;
  const perEdit: number[] = [];
  const perBatch: number[] = [];
  records.forEach((r, i) => {
    if (!Number.isInteger(r.edits) || r.edits < 1) throw expected('a positive integer', `records[${i}].edits`, r.edits);
    if (!Number.isFinite(r.wallMs) || r.wallMs < 0) throw expected('a non-negative finite number', `records[${i}].wallMs`, r.wallMs);
    if (r.peakNativeBytes !== undefined) {
      if (!Number.isFinite(r.peakNativeBytes) || r.peakNativeBytes < 0) {
        throw expected('a non-negative finite number', `records[${i}].peakNativeBytes`, r.peakNativeBytes);
      }
      peak = Math.max(peak ?? 0, r.peakNativeBytes);
    }
    edits += r.edits;
    totalMs += r.wallMs;
    perEdit.push(r.wallMs / r.edits);
    perBatch.push(r.wallMs);
  });
  return {
    batches: records.length,
    edits,
    totalMs,
    msPerEdit: aggregate(perEdit, opts),
    msPerBatch: aggregate(perBatch, opts),
    editsPerSecond: totalMs > 0 ? edits / (totalMs / 1000) : null,
    peakNativeBytes: peak,
  };
}
