/**
 * Target vectors z kept on disk between runs. z is most of a mass edit's cost and depends on
 * neither λ, the solver, the covariance nor the earlier edited layers, so a sweep over those
 * recomputes identical z's; MEMIT's reference caches them for that reason (MEMIT:memit/
 * memit_main.py saves each case's `compute_z` result as an .npz named by layer, clamp and case).
 *
 * One safetensors file per δ (a request, or the requests of one subject sharing a δ: what
 * {@link computeZs} optimises jointly), `z-<key>.safetensors`, where key is the sha256 of
 * everything the result depends on ({@link ZKeyMaterial}): the model's weights (its
 * fingerprint when the edit call began: in a sequential stream every call sees new weights, so
 * nothing of an earlier call is reused), the z layer and the point δ is added at, the
 * optimisation settings, the context templates (the strings: they are sampled from the model),
 * the δ's requests with their subject tokens, the token rows built from them (so a tokenizer that
 * splits differently cannot share a file) and a format version. Not in the key: `z_batch_size`
 * and which other requests share the forward pass — each δ takes its own steps (compute-z.ts),
 * though a z computed beside other requests may differ from a lone run in its last bits.
 *
 * Each file holds `z` and `h0` [k, C] (float32, k requests) and, in its header document, the key
 * material, the δ's loss trace and ‖δ‖ — everything the editors read from {@link ZResult}, so a
 * hit reports what the run that computed it did — and the wall-clock ms its computation took, so
 * a cost measurement can span runs (a 10,000-edit batch's z's computed over several sessions).
 * Files written before that field count as `untimedHits`. A file that cannot be read, belongs to another
 * key or is malformed is an error naming it, never a silent wrong z.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, type DeltaPoint, IOError, Tensor, assertFinite, readTensorDocument, tensor, writeTensorDocument } from '@medit/core';
import type { TargetStep } from '@medit/rome';

import { type DeltaResult, type ZOptions, type ZRequest, type ZResult, type ZSettings, computeZs, deltaGroups, zRows } from './compute-z';

/** `__metadata__.format` of a z cache file. */
export const Z_CACHE_FORMAT = 'medit-z-cache';
/** Bumped whenever compute-z.ts computes z differently: old files then miss. */
const Z_CACHE_VERSION = 1;

/** What one δ's z depends on; its sha256 (of this JSON) names the file. */
export interface ZKeyMaterial {
  format: typeof Z_CACHE_FORMAT;
  version: number;
  /** modelFingerprint of the weights z was computed on */
  model: string;
  layer: number;
  point: DeltaPoint;
  settings: Pick<ZSettings, 'v_num_grad_steps' | 'v_lr' | 'v_weight_decay' | 'clamp_norm_factor' | 'kl_factor' | 'preserve_factor'>;
  /** the flat context templates, "{}" first */
  templates: string[];
  /** the δ's requests in order, each with the subject token it was optimised at */
  requests: { prompt: string; subject: string; target: number[]; factToken: ZRequest['factToken'] }[];
  /** the token rows δ is optimised on: per row its ids and the δ position */
  rows: { ids: number[]; at: number }[];
}

/** The header document of a cache file. */
interface ZCacheDocument {
  key: string;
  material: Omit<ZKeyMaterial, 'rows'>;
  /** the δ's loss trace (shared by its requests) */
  trace: TargetStep[];
  deltaNorm: number;
  /** wall-clock ms the δ's optimisation took (DeltaResult.computeMs); absent in older files */
  computeMs?: number;
}

/** How many requests' z came from the cache (`hits`) and how many were computed (`misses`). */
export interface ZCacheCounts {
  hits: number;
  misses: number;
  /** wall-clock ms the hits' z's took when they were computed (one δ counted once) */
  hitComputeMs: number;
  /** hits read from files that predate the recorded compute time */
  untimedHits: number;
}

/** Where the cache is and which weights the z's are computed on. */
export interface ZCacheOptions extends ZOptions {
  /** the cache directory (created on the first write) */
  dir: string;
  /** modelFingerprint(model), taken by the caller once per edit call */
  fingerprint: string;
  /** called once the cache was read, before the misses are computed */
  onLookup?: (counts: ZCacheCounts) => void;
}

const TRACE_FIELDS: (keyof TargetStep)[] = ['step', 'loss', 'nll', 'kl', 'weightDecay', 'targetProb'];

/**
 * {@link computeZs} with each δ's result read from `opts.dir` when an earlier run computed it,
 * and the new ones written there (atomically).
 * @throws IOError naming the file when a cache file is unreadable, of another key or malformed;
 *   whatever computeZs throws
 */
export async function cachedComputeZs(
  model: CausalLM,
  hp: ZSettings,
  layer: number,
  templates: string[],
  requests: ZRequest[],
  opts: ZCacheOptions,
): Promise<{ z: ZResult; counts: ZCacheCounts }> {
  const C = model.config.hiddenSize;
  const n = requests.length;
  const point = opts.point ?? 'resid_out';
  const zData = new Float32Array(n * C);
  const h0Data = new Float32Array(n * C);
  const traces: TargetStep[][] = requests.map(() => []);
  const deltaNorms: number[] = new Array(n).fill(0);
  const missed: { group: number[]; file: string; key: string; material: ZKeyMaterial }[] = [];
  let hits = 0;
  let hitComputeMs = 0;
  let untimedHits = 0;
  for (const group of deltaGroups(requests, opts.shareSubjects ?? false)) {
    const reqs = group.map((i) => requests[i]);
    const rows = zRows(model, templates, reqs, hp.fact_token, hp.preserve_prompts);
    const material: ZKeyMaterial = {
      format: Z_CACHE_FORMAT,
      version: Z_CACHE_VERSION,
      model: opts.fingerprint,
      layer,
      point,
      settings: {
        v_num_grad_steps: hp.v_num_grad_steps, v_lr: hp.v_lr, v_weight_decay: hp.v_weight_decay, clamp_norm_factor: hp.clamp_norm_factor, kl_factor: hp.kl_factor,
        // only with preserve prompts (their rows are in `rows`), so older entries keep their keys
        ...(hp.preserve_prompts?.length ? { preserve_factor: hp.preserve_factor ?? 1 } : {}),
      },
      templates,
      requests: reqs.map((r) => ({ prompt: r.prompt, subject: r.subject, target: r.target, factToken: r.factToken ?? hp.fact_token })),
      rows: rows.rows.map((ids, j) => ({ ids, at: rows.lookup[j] })),
    };
    const key = createHash('sha256').update(JSON.stringify(material)).digest('hex');
    const file = path.join(opts.dir, `z-${key}.safetensors`);
    if (!fs.existsSync(file)) {
      missed.push({ group, file, key, material });
      continue;
    }
    const entry = await readEntry(file, key, group.length, C);
    group.forEach((i, k) => {
      zData.set(entry.z.subarray(k * C, (k + 1) * C), i * C);
      h0Data.set(entry.h0.subarray(k * C, (k + 1) * C), i * C);
      traces[i] = entry.trace;
      deltaNorms[i] = entry.deltaNorm;
    });
    hits += group.length;
    if (entry.computeMs === undefined) untimedHits += group.length;
    else hitComputeMs += entry.computeMs;
  }
  const counts: ZCacheCounts = { hits, misses: n - hits, hitComputeMs, untimedHits };
  opts.onLookup?.(counts);
  opts.onProgress?.(hits, n);
  if (missed.length > 0) {
    // Each δ is written as soon as its chunk is done (on the I/O pool while the next chunks run),
    // so a run stopped midway keeps what it computed.
    const order = missed.flatMap((m) => m.group);
    const byFirst = new Map(missed.map((m) => [m.group[0], m]));
    const writes: Promise<void>[] = [];
    let writeError: unknown;
    const onDelta = (g: number[], r: DeltaResult) => {
      const m = byFirst.get(order[g[0]])!;
      const { rows: _, ...described } = m.material;
      const doc = { key: m.key, material: described, trace: r.trace, deltaNorm: r.deltaNorm, computeMs: r.computeMs };
      writes.push(writeEntry(m.file, r.zs, r.h0, [g.length, C], doc).catch((err) => (writeError ??= err)));
    };
    let computed: ZResult;
    try {
      computed = computeZs(model, hp, layer, templates, order.map((i) => requests[i]), { ...opts, onDelta, onProgress: (done) => opts.onProgress?.(hits + done, n) });
    } finally {
      await Promise.all(writes);
    }
    const zs = computed.zs.data() as Float32Array;
    const h0 = computed.h0.data() as Float32Array;
    computed.zs.dispose();
    computed.h0.dispose();
    order.forEach((i, j) => {
      zData.set(zs.subarray(j * C, (j + 1) * C), i * C);
      h0Data.set(h0.subarray(j * C, (j + 1) * C), i * C);
      traces[i] = computed.traces[j];
      deltaNorms[i] = computed.deltaNorms[j];
    });
    if (writeError) throw writeError;
  }
  return { z: { zs: tensor(zData, [n, C]), h0: tensor(h0Data, [n, C]), traces, deltaNorms }, counts };
}

/** Writes one δ's file; a result holding NaN or ±Inf is not kept (it would only be computed again). */
async function writeEntry(file: string, z: Float32Array, h0: Float32Array, shape: number[], doc: ZCacheDocument): Promise<void> {
  const finite = (xs: ArrayLike<number>) => {
    for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i])) return false;
    return true;
  };
  if (!finite(z) || !finite(h0) || !Number.isFinite(doc.deltaNorm) || !doc.trace.every((s) => finite(TRACE_FIELDS.map((f) => s[f])))) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const zt = tensor(z, shape);
  const ht = tensor(h0, shape);
  try {
    await writeTensorDocument(file, new Map([['z', zt.handle()], ['h0', ht.handle()]]), Z_CACHE_FORMAT, doc);
  } finally {
    zt.dispose();
    ht.dispose();
  }
}

/** Reads one δ's file and checks it is the entry of `key` for k requests of width C. */
async function readEntry(file: string, key: string, k: number, C: number): Promise<{ z: Float32Array; h0: Float32Array; trace: TargetStep[]; deltaNorm: number; computeMs?: number }> {
  let doc: Awaited<ReturnType<typeof readTensorDocument>>;
  try {
    doc = await readTensorDocument(file, Z_CACHE_FORMAT, 'z cache');
  } catch (err) {
    const msg = (err as Error).message;
    throw new IOError(msg.includes(file) ? msg : `z cache file ${file}: ${msg}`);
  }
  const tensors = new Map([...doc.tensors].map(([name, h]) => [name, new Tensor(h)]));
  const bad = (why: string) => new IOError(`z cache file ${file}: ${why}; delete it to compute this z again`);
  try {
    if (doc.sidecar) throw bad('its description is not in the file');
    const d = doc.document as Partial<ZCacheDocument>;
    if (d.key !== key) throw bad(`it holds the entry of key ${String(d.key).slice(0, 16)}…, not of its name's (copied or renamed?)`);
    const read = (name: 'z' | 'h0') => {
      const t = tensors.get(name);
      if (!t) throw bad(`no tensor ${name}`);
      if (t.dtype !== 'float32' || t.shape.length !== 2 || t.shape[0] !== k || t.shape[1] !== C) {
        throw bad(`tensor ${name} is ${t.dtype} [${t.shape.join(', ')}], expected float32 [${k}, ${C}]`);
      }
      assertFinite(t, `tensor ${name}`, `z cache file ${file}`);
      return new Float32Array(t.data() as Float32Array);
    };
    const z = read('z');
    const h0 = read('h0');
    const trace = d.trace;
    if (!Array.isArray(trace) || trace.length === 0 || !trace.every((s) => typeof s === 'object' && s !== null && TRACE_FIELDS.every((f) => Number.isFinite((s as unknown as Record<string, unknown>)[f])))) {
      throw bad(`trace must be a non-empty list of {${TRACE_FIELDS.join(', ')}} numbers`);
    }
    if (typeof d.deltaNorm !== 'number' || !Number.isFinite(d.deltaNorm)) throw bad('deltaNorm must be a number');
    if (d.computeMs !== undefined && !(typeof d.computeMs === 'number' && d.computeMs >= 0 && Number.isFinite(d.computeMs))) throw bad('computeMs must be a non-negative number');
    return { z, h0, trace, deltaNorm: d.deltaNorm, computeMs: d.computeMs };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
