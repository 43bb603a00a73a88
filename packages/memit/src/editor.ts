/**
 * The mass editors: MEMIT (Meng et al., "Mass-Editing Memory in a Transformer", ICLR 2023),
 * EMMET (Gupta et al., "A Unified Framework for Model Editing", 2024) and AlphaEdit (Fang
 * et al., "AlphaEdit: Null-Space Constrained Knowledge Editing", ICLR 2025). They share the
 * pipeline of MEMIT:memit/memit_main.py::execute_memit (spec §4):
 *
 *   1. z_i for every request at the last edited layer's residual stream (batched here; the
 *      requests of one subject share one z, as their keys coincide);
 *   2. for each layer l_i in ascending order, on the partially edited model:
 *      keys K (template-group means), residual R = (z − h)/(L − i) with h the current
 *      z-layer residual, the solver's update, applied at once so later layers see it;
 *   3. the weights are restored and the updates returned as one {@link EditDelta}.
 *
 * They differ only in the solve (see solve.ts). AlphaEdit also keeps the keys of the
 * edits committed so far (its `cache_c`), used by later batches of a sequential stream.
 */
import {
  type CausalLM,
  type Corpus,
  type EditOptions,
  type EditRequest,
  type Editor,
  type FactToken,
  type LayerStats,
  type Tensor,
  ArgumentError,
  EditDelta,
  cast,
  cholesky,
  computeLayerStats,
  gemmInplace,
  clone,
  keep,
  locateSubject,
  modelFingerprint,
  SUBJECT_SEARCH_MIN_PROB,
  mulScalar,
  sub,
  targetIds,
  tensor,
  tidy,
  validateRequest,
  zeros,
  yieldToEventLoop,
} from '@medit/core';
import type { TargetStep } from '@medit/rome';

import { computeKeys, type KeyRequest } from './compute-ks';
import { computeZs, type ZRequest, type ZResult } from './compute-z';
import { memitContextTemplates } from './context-templates';
import { type ZCacheCounts, cachedComputeZs } from './z-cache';
import { uniquePrefixTokens } from './unique-prefix';
import { resolveMemitHparams, type MassEditAlgorithm, type MemitHyperParams } from './hparams';
import {
  type NullSpace,
  addDiagonal,
  alphaEditSolve,
  emmetSolve,
  memitSolve,
  nullSpace,
  projectKeys,
  updateFactors,
  updateNorm,
  withRidge,
} from './solve';

export interface MassEditorOptions {
  /** Precomputed statistics by layer (from `computeLayerStats` or a cache file). */
  stats?: Map<number, LayerStats>;
  /** Corpus to compute the missing layers' statistics from (all of them in one pass). */
  corpus?: Corpus;
  /** Where statistics are cached between runs. */
  statsCacheDir?: string;
  /** Fixed template groups, e.g. `[["{}"], ["A. {}", ...]]`, instead of generated ones. */
  contextTemplates?: string[][];
  /** Rows per forward pass when reading keys (default 256). */
  maxRowsPerForward?: number;
  /** Keep every request's full z loss trace in the delta's stats (default false: a summary). */
  keepTraces?: boolean;
  /**
   * AlphaEdit: precomputed null spaces by layer (from `nullSpace(C, threshold)`), reused when
   * their threshold matches, e.g. across several streams (the eigendecomposition is the
   * costly one-time step). The caller keeps ownership.
   */
  nullSpaces?: Map<number, NullSpace>;
  /**
   * Where target vectors z are cached between runs (z-cache.ts): a sweep over λ, the solver or
   * the earlier layers reuses the z's of the same model, z layer, z settings, templates and
   * requests instead of optimising them again.
   */
  zCacheDir?: string;
}

/** What one layer's solve did. */
export interface LayerReport {
  layer: number;
  solver: string;
  /** mean ‖z − h‖ over requests before this layer's update */
  residualNorm: number;
  /** ‖ΔW‖_F of this layer */
  updateNorm: number;
  /** AlphaEdit: null-space dimension r of this layer's C */
  nullDim?: number;
}

/** The numbers an edit reports in `delta.info.stats`. */
export interface MassEditStats {
  /** per request; `subjectToken`: the subject token its z and keys were read at (offset from the subject's first) */
  edits: { subject: string; subjectToken: number; steps: number; loss: number; targetProb: number; deltaNorm: number }[];
  layers: LayerReport[];
  /** mean ‖z − h‖ with every layer's update applied (layers[0].residualNorm is the value before) */
  finalResidualNorm: number;
  /** milliseconds: statistics (incl. factorisations), z optimisation, keys, solves, total */
  timings: { statsMs: number; zMs: number; keysMs: number; solveMs: number; totalMs: number };
  traces?: TargetStep[][];
  /**
   * with a z cache: its directory, and how many requests' z it held (`hits`) or were computed
   * (`misses`); with `subject_search` a request optimised again at another token counts again;
   * `hitComputeMs`: what the hits' z's took when they were computed (zMs counts this call's only)
   */
  zCache?: ZCacheCounts & { dir: string };
}

/** The shared MEMIT pipeline; subclasses provide the per-layer solve. */
export abstract class MassEditorBase implements Editor {
  abstract readonly name: MassEditAlgorithm;
  readonly hparams: Partial<MemitHyperParams>;
  protected readonly stats: Map<number, LayerStats>;
  private readonly ownStats = new Set<LayerStats>();
  protected readonly options: MassEditorOptions;
  private readonly zCacheTotals: ZCacheCounts = { hits: 0, misses: 0, hitComputeMs: 0, untimedHits: 0 };

  constructor(hparams: Partial<MemitHyperParams> = {}, options: MassEditorOptions = {}) {
    this.hparams = hparams;
    this.options = options;
    // a copy: the caller's map is never modified; statistics computed here are owned here
    this.stats = new Map(options.stats ?? []);
  }

  /** With a z cache: its directory and the requests whose z it held or were computed, over every edit so far. */
  get zCache(): (ZCacheCounts & { dir: string }) | undefined {
    return this.options.zCacheDir === undefined ? undefined : { dir: this.options.zCacheDir, ...this.zCacheTotals };
  }

  /** The hyperparameters resolved for a model (defaults filled in, validated). */
  resolve(model: CausalLM): MemitHyperParams {
    return resolveMemitHparams(this.hparams as Record<string, unknown>, model.config.numLayers, this.name);
  }

  /** Statistics of every edited layer; the missing ones in one pass over the corpus. */
  protected async layerStats(model: CausalLM, hp: MemitHyperParams, signal?: AbortSignal): Promise<void> {
    const missing = hp.layers.filter((l) => !this.stats.has(l));
    if (missing.length === 0) return;
    if (!this.options.corpus) {
      throw new ArgumentError(`${this.name}: covariance statistics are missing for layer(s) ${missing.join(', ')}; pass stats or a corpus`);
    }
    const computed = await computeLayerStats(model, {
      layers: missing,
      corpus: this.options.corpus,
      maxDocs: Math.min(hp.mom2_n_samples, this.options.corpus.docs.length),
      cacheDir: this.options.statsCacheDir,
      signal,
    });
    for (const [l, s] of computed) {
      this.stats.set(l, s);
      this.ownStats.add(s);
    }
  }

  /** C = E[kkᵀ] of a layer (float64, caller owns). */
  protected covariance(layer: number): Tensor {
    const s = this.stats.get(layer);
    if (!s) throw new ArgumentError(`${this.name}: no statistics for layer ${layer}`);
    return s.mean();
  }

  /** Per-layer, per-model work done once (factorisations, projectors). */
  protected abstract prepareLayer(model: CausalLM, hp: MemitHyperParams, layer: number): void;

  /** A [n, F] with ΔW = Rᵀ A for keys K [n, F] (float64). */
  protected abstract solveLayer(hp: MemitHyperParams, layer: number, keys: Tensor): { adj: Tensor; solver: string; nullDim?: number };

  /** Requests whose edits later batches must keep (AlphaEdit's committed ones; `subject_unique` avoids their prefixes). */
  protected pastRequests(): EditRequest[] {
    return [];
  }

  /** Called with the batch's updates still applied (AlphaEdit reads the edited keys here). */
  protected afterLayers(_model: CausalLM, _hp: MemitHyperParams, _groups: string[][], _requests: KeyRequest[], _delta: EditDelta): void {}

  /**
   * Computes the edit of all `requests` as one batch. The model is left as it was found;
   * apply the returned delta to edit it.
   * @throws ArgumentError for invalid requests or missing statistics; CancelledError on abort
   */
  async edit(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<EditDelta> {
    await yieldToEventLoop(); // frees the handles of earlier work (see yieldToEventLoop)
    const tok = model.tokenizer;
    if (!tok) throw new ArgumentError(`${this.name} needs a model with a tokenizer`);
    if (requests.length === 0) throw new ArgumentError(`${this.name}: expected at least one edit request`);
    requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
    const hp = this.resolve(model);
    const t0 = Date.now();
    const fingerprint = modelFingerprint(model);
    await this.layerStats(model, hp, opts.signal);
    for (const l of hp.layers) this.prepareLayer(model, hp, l);
    const t1 = Date.now();
    const groups = this.options.contextTemplates ?? memitContextTemplates(model, hp);
    if (groups[0]?.[0] !== '{}') throw new ArgumentError(`${this.name}: the first context template group must be ["{}"] (the raw prompt)`);
    const zLayer = hp.layers[hp.layers.length - 1];
    const L = hp.layers.length;

    // 1. Target vectors at the z layer's residual stream (and, with subject_search, each
    // request's subject token: keys are read where its z was found).
    const { z, keyRequests, cache } = await this.targets(model, hp, zLayer, groups.flat(), requests, fingerprint, opts);
    const t2 = Date.now();
    const zs64 = keep(cast(z.zs, 'float64'));
    z.zs.dispose();
    z.h0.dispose();

    // 2. Layer by layer on the partially edited model.
    const applied: EditDelta[] = [];
    const layers: LayerReport[] = [];
    let keysMs = 0;
    let solveMs = 0;
    let combined: EditDelta | undefined;
    try {
      for (const [i, layer] of hp.layers.entries()) {
        opts.onProgress?.({ stage: `${this.name} layers`, done: i, total: L });
        const ta = Date.now();
        const { keys, resid } = computeKeys(model, layer, groups, keyRequests, -1, { zLayer, maxRows: this.options.maxRowsPerForward });
        const tb = Date.now();
        keysMs += tb - ta;
        const module = model.rewriteModule(layer);
        let report: LayerReport;
        let single: EditDelta;
        let r: Tensor | undefined;
        let adj: Tensor | undefined;
        try {
          // R_l = (z − h)/(L − i): this layer's share of what is still missing (MEMIT Eq. 14–16)
          r = tidy(() => mulScalar(sub(zs64, cast(resid!, 'float64')), 1 / (L - i)));
          const residualNorm = rowNormMean(r) * (L - i);
          const solved = this.solveLayer(hp, layer, keys);
          adj = solved.adj;
          const factors = updateFactors(adj, r, module.layout);
          report = { layer, solver: solved.solver, residualNorm, updateNorm: updateNorm(adj, r), ...(solved.nullDim !== undefined ? { nullDim: solved.nullDim } : {}) };
          single = new EditDelta([{ name: module.weightName, ...factors }], { method: this.name });
        } finally {
          for (const t of [keys, resid, r, adj]) t?.dispose();
        }
        single.apply(model);
        applied.push(single);
        layers.push(report);
        solveMs += Date.now() - tb;
      }
      opts.onProgress?.({ stage: `${this.name} layers`, done: L, total: L });
      // How close the edited model's z-layer residual came to z (MEMIT's "z error" after the last layer).
      const after = computeKeys(model, zLayer, [['{}']], keyRequests, -1, { zLayer, maxRows: this.options.maxRowsPerForward });
      after.keys.dispose();
      const finalResidualNorm = tidy(() => rowNormMean(sub(zs64, cast(after.resid!, 'float64'))));
      after.resid!.dispose();
      const edits = requests.map((r, i) => {
        const tr = z.traces[i];
        const last = tr[tr.length - 1];
        const at = locateSubject(tok, r.prompt, r.subject, keyRequests[i].factToken);
        return { subject: r.subject, subjectToken: at.index - at.subjectSpan[0], steps: tr.length, loss: last.loss, targetProb: last.targetProb, deltaNorm: z.deltaNorms[i] };
      });
      const stats: MassEditStats = {
        edits,
        layers,
        finalResidualNorm,
        timings: { statsMs: t1 - t0, zMs: t2 - t1, keysMs, solveMs, totalMs: Date.now() - t0 },
        ...(this.options.keepTraces ? { traces: z.traces } : {}),
        ...(cache ? { zCache: { dir: this.options.zCacheDir!, ...cache } } : {}),
      };
      const made = new EditDelta(
        applied.flatMap((d) => d.updates),
        { method: this.name, modelFingerprint: fingerprint, hparams: hp, requests: requests.map((r) => ({ ...r })), stats: stats as unknown as Record<string, unknown> },
      );
      this.afterLayers(model, hp, groups, keyRequests, made);
      combined = made; // only now: on a throw above, `finally` frees the layers' tensors
    } finally {
      for (let i = applied.length - 1; i >= 0; i--) applied[i].revert(model);
      zs64.dispose();
      if (!combined) for (const d of applied) d.dispose();
    }
    return combined!;
  }

  /**
   * The z of every request at `hp.fact_token`. With `subject_search`, subjects whose z leaves
   * its targets below {@link SUBJECT_SEARCH_MIN_PROB} are optimised again at each of their other tokens,
   * keeping per subject the token of lowest loss (a subject's requests share one z and key).
   * Returns the requests with their token fixed, for the keys. With a z cache, each run of
   * computeZs reads and writes it (`fingerprint`: the weights z is computed on); `cache` counts
   * the requests it held and those computed.
   */
  private async targets(
    model: CausalLM,
    hp: MemitHyperParams,
    zLayer: number,
    templates: string[],
    requests: EditRequest[],
    fingerprint: string,
    opts: EditOptions,
  ): Promise<{ z: ZResult; keyRequests: KeyRequest[]; cache?: ZCacheCounts }> {
    const tok = model.tokenizer!;
    const search = hp.fact_token === 'subject_search';
    const unique = hp.fact_token === 'subject_unique' ? uniquePrefixTokens(tok, requests, this.pastRequests()) : undefined;
    const token: FactToken = search || unique ? -1 : (hp.fact_token as FactToken);
    const zreqs: ZRequest[] = requests.map((r, i) => ({ prompt: r.prompt, subject: r.subject, target: targetIds(tok, r.targetNew), factToken: unique?.[i] ?? token }));
    const cacheDir = this.options.zCacheDir;
    const cache: ZCacheCounts | undefined = cacheDir === undefined ? undefined : { hits: 0, misses: 0, hitComputeMs: 0, untimedHits: 0 };
    const run = async (reqs: ZRequest[]): Promise<ZResult> => {
      const settings = { ...hp, fact_token: token };
      // Requests on one subject have one key, so they get one z (see compute-z.ts).
      const zOpts = { point: 'resid_out' as const, shareSubjects: true, batchSize: hp.z_batch_size, signal: opts.signal };
      if (!cache) return computeZs(model, settings, zLayer, templates, reqs, { ...zOpts, onProgress: (done, total) => opts.onProgress?.({ stage: `${this.name} z`, done, total }) });
      let info: Record<string, number> = {};
      const r = await cachedComputeZs(model, settings, zLayer, templates, reqs, {
        ...zOpts,
        dir: cacheDir!,
        fingerprint,
        onLookup: (c) => (info = { zCacheHits: c.hits, zCacheMisses: c.misses }),
        onProgress: (done, total) => opts.onProgress?.({ stage: `${this.name} z`, done, total, info }),
      });
      for (const counts of [cache, this.zCacheTotals]) {
        for (const k of ['hits', 'misses', 'hitComputeMs', 'untimedHits'] as const) counts[k] += r.counts[k];
      }
      return r.z;
    };
    const z = await run(zreqs);
    const finalStep = (i: number) => z.traces[i][z.traces[i].length - 1];
    const missed = search ? zreqs.map((_, i) => i).filter((i) => finalStep(i).targetProb < SUBJECT_SEARCH_MIN_PROB) : [];
    if (missed.length === 0) return { z, keyRequests: zreqs, cache };
    const tokens = new Map(missed.map((i) => [i, locateSubject(tok, requests[i].prompt, requests[i].subject).subjectSpan]));
    const C = model.config.hiddenSize;
    const zs = z.zs.data() as Float32Array;
    const h0 = z.h0.data() as Float32Array;
    const shape = { zs: z.zs.shape, h0: z.h0.shape };
    z.zs.dispose();
    z.h0.dispose();
    for (let offset = 0; ; offset++) {
      const retry = missed.filter((i) => offset < tokens.get(i)![1] - tokens.get(i)![0]);
      if (retry.length === 0) break;
      const again = await run(retry.map((i) => ({ ...zreqs[i], factToken: offset })));
      const zs2 = again.zs.data() as Float32Array;
      const h02 = again.h0.data() as Float32Array;
      retry.forEach((i, j) => {
        const t = again.traces[j];
        if (t[t.length - 1].loss >= finalStep(i).loss) return;
        zs.set(zs2.subarray(j * C, (j + 1) * C), i * C);
        h0.set(h02.subarray(j * C, (j + 1) * C), i * C);
        z.traces[i] = t;
        z.deltaNorms[i] = again.deltaNorms[j];
        zreqs[i].factToken = offset;
      });
      again.zs.dispose();
      again.h0.dispose();
    }
    return { z: { ...z, zs: tensor(zs, shape.zs), h0: tensor(h0, shape.h0) }, keyRequests: zreqs, cache };
  }

  /** Frees cached factorisations and statistics this editor computed. */
  dispose(): void {
    for (const s of this.ownStats) s.mom2Sum.dispose();
    this.ownStats.clear();
    this.stats.clear();
  }
}

function rowNormMean(r: Tensor): number {
  const [n, C] = r.shape;
  const d = r.data() as Float64Array;
  let s = 0;
  for (let i = 0; i < n; i++) {
    let q = 0;
    for (let j = 0; j < C; j++) q += d[i * C + j] ** 2;
    s += Math.sqrt(q);
  }
  return s / n;
}

/**
 * MEMIT: ΔW = R Kᵀ (λC + K Kᵀ)⁻¹ per layer, in float64. With `solver: 'auto'` the
 * Woodbury form with a cached Cholesky factor of C is used when the batch has at most
 * d_ff/2 requests (falling back to the direct solve if C or Woodbury's n×n system is not
 * positive definite; {@link memitSolve}).
 * @example
 * const editor = new MemitEditor({ layers: [0, 1] }, { corpus: readCorpus('test-fixtures/factworld/filler.txt') });
 * const delta = await editor.edit(model, requests);
 * delta.apply(model);
 */
export class MemitEditor extends MassEditorBase {
  readonly name = 'MEMIT' as const;
  private readonly factorC = new Map<string, Tensor | null>();
  private readonly covC = new Map<string, Tensor>();

  protected prepareLayer(): void {}

  private cov(hp: MemitHyperParams, layer: number): Tensor {
    const key = `${layer}:${hp.mom2_ridge}`;
    let c = this.covC.get(key);
    if (!c) {
      c = keep(tidy(() => withRidge(this.covariance(layer), hp.mom2_ridge)));
      this.covC.set(key, c);
    }
    return c;
  }

  /** Cholesky factor of C (+ ridge), cached; null when C is not positive definite. */
  private factor(hp: MemitHyperParams, layer: number): Tensor | null {
    const key = `${layer}:${hp.mom2_ridge}`;
    if (!this.factorC.has(key)) {
      let f: Tensor | null = null;
      try {
        f = keep(cholesky(this.cov(hp, layer)));
      } catch (err) {
        // solveLayer names the method and layer
        if (hp.solver === 'woodbury') throw new ArgumentError(`the Woodbury solve needs a positive definite C (set mom2_ridge > 0): ${(err as Error).message}`);
      }
      this.factorC.set(key, f);
    }
    return this.factorC.get(key)!;
  }

  protected solveLayer(hp: MemitHyperParams, layer: number, keys: Tensor): { adj: Tensor; solver: string } {
    try {
      return memitSolve(this.cov(hp, layer), () => this.factor(hp, layer), keys, hp.mom2_update_weight, hp.solver);
    } catch (err) {
      if (err instanceof ArgumentError) throw new ArgumentError(`MEMIT, layer ${layer}: ${err.message}`);
      throw err;
    }
  }

  override dispose(): void {
    for (const t of this.factorC.values()) t?.dispose();
    for (const t of this.covC.values()) t.dispose();
    this.factorC.clear();
    this.covC.clear();
    super.dispose();
  }
}

/**
 * EMMET: the equality-constrained batch update ΔW = R D⁻¹ KᵀC̃⁻¹ with C̃ = λC + μI and
 * D = KᵀC̃⁻¹K + λ_e I (EE:easyeditor/models/emmet/emmet_main.py; spec §5), in float64 with
 * a cached Cholesky factor of C̃.
 */
export class EmmetEditor extends MassEditorBase {
  readonly name = 'EMMET' as const;
  private readonly factors = new Map<string, Tensor>();

  protected prepareLayer(_model: CausalLM, hp: MemitHyperParams, layer: number): void {
    const key = `${layer}:${hp.mom2_update_weight}:${hp.update_norm_lambda}:${hp.mom2_ridge}`;
    if (this.factors.has(key)) return;
    const f = keep(
      tidy(() => {
        const ct = addDiagonal(mulScalar(withRidge(this.covariance(layer), hp.mom2_ridge), hp.mom2_update_weight), hp.update_norm_lambda);
        try {
          return cholesky(ct);
        } catch (err) {
          throw new ArgumentError(`EMMET: C̃ = λC + μI is not positive definite at layer ${layer} (set update_norm_lambda or mom2_ridge > 0): ${(err as Error).message}`);
        }
      }),
    );
    this.factors.set(key, f);
  }

  protected solveLayer(hp: MemitHyperParams, layer: number, keys: Tensor): { adj: Tensor; solver: string } {
    const f = this.factors.get(`${layer}:${hp.mom2_update_weight}:${hp.update_norm_lambda}:${hp.mom2_ridge}`)!;
    return { adj: emmetSolve(f, keys, hp.emmet_lambda), solver: 'emmet' };
  }

  override dispose(): void {
    for (const t of this.factors.values()) t.dispose();
    this.factors.clear();
    super.dispose();
  }
}

/**
 * AlphaEdit: MEMIT's targets and keys with the update projected onto the null space of the
 * preserved knowledge (eigenvectors of C below `nullspace_threshold`) and a memory of the
 * keys of past edits (spec §6). Use it with {@link SequentialEditor} (or call `commit`
 * after applying each delta) so later batches keep earlier edits.
 */
export class AlphaEditEditor extends MassEditorBase {
  readonly name = 'AlphaEdit' as const;
  private readonly spaces = new Map<number, NullSpace>();
  private readonly ownSpaces = new Set<NullSpace>();
  /** Σ over committed edits of (K_pU₀)ᵀ(K_pU₀) per layer [r, r] */
  private readonly memory = new Map<number, Tensor>();
  private readonly pending = new Map<EditDelta, Map<number, Tensor>>();
  private committed: EditRequest[] = [];

  /** Number of requests whose keys are in the memory of past edits. */
  get pastEdits(): number {
    return this.committed.length;
  }

  protected override pastRequests(): EditRequest[] {
    return this.committed;
  }

  /** The null space of a layer (after the first edit). */
  nullSpace(layer: number): NullSpace | undefined {
    return this.spaces.get(layer);
  }

  protected prepareLayer(_model: CausalLM, hp: MemitHyperParams, layer: number): void {
    const have = this.spaces.get(layer);
    if (have && have.threshold === hp.nullspace_threshold) return;
    if (have) {
      // a new threshold: a new projector, and the memory (kept in its coordinates) restarts
      if (this.ownSpaces.delete(have)) have.basis.dispose();
      this.memory.get(layer)?.dispose();
      this.memory.delete(layer);
    }
    const given = this.options.nullSpaces?.get(layer);
    let ns: NullSpace;
    if (given && given.threshold === hp.nullspace_threshold) ns = given;
    else {
      const c = this.covariance(layer);
      ns = nullSpace(c, hp.nullspace_threshold);
      c.dispose();
      keep(ns.basis);
      this.ownSpaces.add(ns);
    }
    if (ns.dim === 0) {
      throw new ArgumentError(
        `AlphaEdit: no eigenvalue of C at layer ${layer} is below nullspace_threshold ${hp.nullspace_threshold} (smallest ${ns.eigenvalues[0].toExponential(3)}); the update would be zero`,
      );
    }
    this.spaces.set(layer, ns);
  }

  protected solveLayer(hp: MemitHyperParams, layer: number, keys: Tensor): { adj: Tensor; solver: string; nullDim: number } {
    const ns = this.spaces.get(layer)!;
    return { adj: alphaEditSolve(ns.basis, keys, hp.L2, this.memory.get(layer)), solver: 'alphaedit', nullDim: ns.dim };
  }

  /** Keys recomputed on the edited model (AE:AlphaEdit/AlphaEdit_main.py), kept until commit. */
  protected override afterLayers(model: CausalLM, hp: MemitHyperParams, groups: string[][], requests: KeyRequest[], delta: EditDelta): void {
    const byLayer = new Map<number, Tensor>();
    for (const layer of hp.layers) {
      const { keys } = computeKeys(model, layer, groups, requests, -1, { maxRows: this.options.maxRowsPerForward });
      byLayer.set(layer, keep(projectKeys(this.spaces.get(layer)!.basis, keys)));
      keys.dispose();
    }
    this.pending.set(delta, byLayer);
  }

  /**
   * Adds a delta's edits to the memory of past edits (AlphaEdit's `cache_c += K Kᵀ`). Call it
   * once the delta is applied; later edits then preserve these keys' outputs.
   * @throws ArgumentError when the delta was not made by this editor or is already committed
   */
  commit(delta: EditDelta): void {
    const byLayer = this.pending.get(delta);
    if (!byLayer) throw new ArgumentError('AlphaEdit.commit: this delta was not computed by this editor, or was already committed');
    for (const [layer, kr] of byLayer) {
      const r = kr.shape[1];
      let m = this.memory.get(layer);
      if (!m) {
        m = keep(zeros([r, r], 'float64'));
        this.memory.set(layer, m);
      }
      gemmInplace(m, kr, kr, { transA: true });
      kr.dispose();
    }
    this.committed.push(...((delta.info.requests ?? []) as EditRequest[]));
    this.pending.delete(delta);
  }

  /**
   * The memory of past edits, to save a long stream and resume it later: per layer
   * Σ(K_pU₀)ᵀ(K_pU₀) (in the null-space coordinates that the same statistics and threshold
   * give again) and the committed requests. The tensors stay the editor's.
   */
  memoryState(): { layers: Map<number, Tensor>; requests: EditRequest[] } {
    return { layers: new Map(this.memory), requests: [...this.committed] };
  }

  /** Replaces the memory of past edits with a {@link memoryState} (the tensors are copied). */
  restoreMemory(state: { layers: ReadonlyMap<number, Tensor>; requests: readonly EditRequest[] }): void {
    this.resetMemory();
    for (const [layer, m] of state.layers) this.memory.set(layer, keep(clone(m)));
    this.committed = [...state.requests];
  }

  /** Forgets the past edits (keeps the projectors). */
  resetMemory(): void {
    for (const t of this.memory.values()) t.dispose();
    this.memory.clear();
    this.committed = [];
  }

  /** Drops the keys kept for a delta that will not be committed. */
  discard(delta: EditDelta): void {
    for (const t of this.pending.get(delta)?.values() ?? []) t.dispose();
    this.pending.delete(delta);
  }

  override dispose(): void {
    this.resetMemory();
    for (const d of [...this.pending.keys()]) this.discard(d);
    for (const s of this.ownSpaces) s.basis.dispose();
    this.ownSpaces.clear();
    this.spaces.clear();
    super.dispose();
  }
}
