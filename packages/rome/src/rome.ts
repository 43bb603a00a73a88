/**
 * ROME (Meng et al., "Locating and Editing Factual Associations in GPT", NeurIPS 2022).
 * The MLP output projection W of one layer is treated as a linear associative memory;
 * the edit inserts (k*, v*) with the rank-one update of the paper's Eq. 2:
 *
 *   W' = W + Λ (C⁻¹k̄)ᵀ,   Λ = (v* − W k*) / ((C⁻¹k̄)ᵀ k*)
 *
 * (in the code's equivalent form with u = C⁻¹k̄/‖C⁻¹k̄‖: ΔW = Λ uᵀ, Λ = (v* − o*)/(uᵀk*)).
 * k̄ is the subject key averaged over context templates, k* and o* the key and output at the
 * raw prompt (ROME asymmetry, kept for fidelity and logged as `divisionFactor`).
 * Several requests are applied one after another (ROME's apply_rome_to_model): each is
 * computed on the model with the previous ones in place; the weights are restored after.
 */
import {
  type CausalLM,
  type EditOptions,
  type EditRequest,
  type Editor,
  type LayerStats,
  type Corpus,
  type FactToken,
  type Tensor,
  ArgumentError,
  EditDelta,
  add,
  cholesky,
  choleskySolve,
  computeLayerStats,
  cast,
  keep,
  locateSubject,
  modelFingerprint,
  SUBJECT_SEARCH_MIN_PROB,
  reshape,
  tensor,
  targetIds,
  tidy,
  validateRequest,
  noGrad,
  sub,
  vectorNorm,
  contextTemplates,
  yieldToEventLoop,
} from '@medit/core';

import { averagedKey, keysAtSubject } from './compute-key';
import { computeTarget, type TargetResult, type TargetStep } from './compute-target';
import { resolveRomeHparams, type RomeHyperParams } from './hparams';

export interface RomeEditorOptions {
  /** Precomputed statistics by layer (from `computeLayerStats` or a cache file). */
  stats?: Map<number, LayerStats>;
  /** Corpus to compute statistics from when `stats` lacks the layer. */
  corpus?: Corpus;
  /** Where statistics are cached between runs. */
  statsCacheDir?: string;
  /** Fixed context templates (e.g. to reproduce a reference run) instead of generated ones. */
  contextTemplates?: string[];
}

function disposeTarget(t: TargetResult): void {
  for (const x of [t.vStar, t.m0, t.delta]) x.dispose();
}

/** Per-request numbers ROME reports with its delta. */
export interface RomeEditStats {
  subject: string;
  /** the subject token edited: offset from its first token (differs from the last only with `subject_search`) */
  subjectToken: number;
  divisionFactor: number;
  deltaNorm: number;
  updateNorm: number;
  trace: TargetStep[];
  timings: { keyMs: number; targetMs: number; updateMs: number };
}

export class RomeEditor implements Editor {
  readonly name = 'ROME';
  readonly hparams: Partial<RomeHyperParams>;
  private readonly stats: Map<number, LayerStats>;
  private readonly choleskyCache = new Map<string, Tensor>();
  /** statistics this editor computed itself (freed by dispose; caller-given ones are not) */
  private readonly ownStats: LayerStats[] = [];

  constructor(hparams: Partial<RomeHyperParams> = {}, private readonly options: RomeEditorOptions = {}) {
    this.hparams = hparams;
    this.stats = options.stats ?? new Map();
  }

  /** The hyperparameters resolved for a model (defaults filled in). */
  resolve(model: CausalLM): RomeHyperParams {
    return resolveRomeHparams(this.hparams as Record<string, unknown>, model.config.numLayers);
  }

  /** Cholesky factor of C (+ ridge) for a layer, computing statistics when needed. */
  private async covarianceFactor(model: CausalLM, hp: RomeHyperParams, layer: number): Promise<Tensor> {
    const key = `${layer}:${hp.mom2_ridge}`;
    const hit = this.choleskyCache.get(key);
    if (hit) return hit;
    let stats = this.stats.get(layer);
    if (!stats) {
      if (!this.options.corpus) {
        throw new ArgumentError(`ROME: covariance statistics are missing for layer ${layer}; pass stats or a corpus (or set mom2_adjustment: false)`);
      }
      const computed = await computeLayerStats(model, { layers: [layer], corpus: this.options.corpus, maxDocs: hp.mom2_n_samples, cacheDir: this.options.statsCacheDir });
      stats = computed.get(layer)!;
      this.stats.set(layer, stats);
      this.ownStats.push(stats);
    }
    const factor = keep(
      tidy(() => {
        const c = stats!.mean();
        if (hp.mom2_ridge <= 0) return cholesky(c);
        const F = c.shape[0];
        const diag = c.data() as Float64Array;
        let tr = 0;
        for (let i = 0; i < F; i++) tr += diag[i * F + i];
        const ridge = Float64Array.from({ length: F * F }, (_, i) => (i % (F + 1) === 0 ? (hp.mom2_ridge * tr) / F : 0));
        return cholesky(add(c, tensor(ridge, [F, F], 'float64')));
      }),
    );
    this.choleskyCache.set(key, factor);
    return factor;
  }

  async edit(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<EditDelta> {
    await yieldToEventLoop(); // frees the handles of earlier work (see yieldToEventLoop)
    if (!model.tokenizer) throw new ArgumentError('ROME needs a model with a tokenizer');
    if (requests.length === 0) throw new ArgumentError('ROME: expected at least one edit request');
    requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
    const hp = this.resolve(model);
    const layer = hp.layers[0];
    const module = model.rewriteModule(layer);
    const fingerprint = modelFingerprint(model);
    const factor = hp.mom2_adjustment ? await this.covarianceFactor(model, hp, layer) : undefined;
    const templates = this.options.contextTemplates ?? contextTemplates(model, hp.context_template_length_params, hp.context_template_seed);
    const lefts: Tensor[] = [];
    const rights: Tensor[] = [];
    const applied: EditDelta[] = [];
    const stats: RomeEditStats[] = [];
    try {
      for (const [i, r] of requests.entries()) {
        // Progress in v* optimisation steps (most of an edit's time): a single edit moves too.
        const steps = hp.v_num_grad_steps;
        opts.onProgress?.({ stage: 'ROME', done: i * steps, total: requests.length * steps });
        const onStep = (s: TargetStep) => opts.onProgress?.({ stage: 'ROME', done: i * steps + Math.min(s.step + 1, steps), total: requests.length * steps, info: { loss: s.loss } });
        const t0 = Date.now();
        // Target v* (Eq. 4), at the token the update is keyed on.
        const { target, factToken } = this.reachTarget(model, hp, templates, r, opts.signal, onStep);
        const t1 = Date.now();
        // Left vector u = C⁻¹k̄ / ‖C⁻¹k̄‖ (or k̄/‖k̄‖).
        const kbar = averagedKey(model, layer, templates.map((c) => c.replace('{}', r.prompt)), r.subject, factToken);
        const u = keep(
          noGrad(() =>
            tidy(() => {
              let dir = kbar;
              if (factor) dir = cast(reshape(choleskySolve(factor, reshape(cast(kbar, 'float64'), [-1, 1])), [-1]), 'float32');
              const d = dir.data() as Float32Array;
              const n = vectorNorm(d);
              return tensor(d.map((x) => x / n), [d.length]);
            }),
          ),
        );
        kbar.dispose();
        const t2 = Date.now();
        // Right vector Λ = (v* − o*) / (uᵀk*) at the raw prompt.
        const { keys, values } = keysAtSubject(model, layer, [r.prompt], r.subject, factToken);
        const kStar = keys.data() as Float32Array;
        const uData = u.data() as Float32Array;
        let divisionFactor = 0;
        for (let j = 0; j < kStar.length; j++) divisionFactor += kStar[j] * uData[j];
        const lambda = noGrad(() => tidy(() => keep(sub(target.vStar, reshape(values, [-1])))));
        const lam = (lambda.data() as Float32Array).map((x) => x / divisionFactor);
        lambda.dispose();
        keys.dispose();
        values.dispose();
        const C = lam.length;
        const F = uData.length;
        // ΔW = Λ uᵀ in [out, in]; GPT-2's Conv1D stores [in, out] = u Λᵀ.
        const left = module.layout === 'in_out' ? tensor(uData, [F, 1]) : tensor(lam, [C, 1]);
        const right = module.layout === 'in_out' ? tensor(lam, [1, C]) : tensor(uData, [1, F]);
        u.dispose();
        const single = new EditDelta([{ name: module.weightName, left, right }], { method: 'ROME' });
        single.apply(model);
        applied.push(single);
        lefts.push(left);
        rights.push(right);
        const edited = locateSubject(model.tokenizer, r.prompt, r.subject, factToken);
        stats.push({
          subject: r.subject,
          subjectToken: edited.index - edited.subjectSpan[0],
          divisionFactor,
          deltaNorm: vectorNorm(target.delta.data() as Float32Array),
          updateNorm: vectorNorm(lam) * vectorNorm(uData),
          trace: target.trace,
          timings: { targetMs: t1 - t0, keyMs: t2 - t1, updateMs: Date.now() - t2 },
        });
        disposeTarget(target);
      }
    } finally {
      for (let i = applied.length - 1; i >= 0; i--) applied[i].revert(model);
    }
    opts.onProgress?.({ stage: 'ROME', done: requests.length * hp.v_num_grad_steps, total: requests.length * hp.v_num_grad_steps });
    // One delta with every request's rank-one factors: [F, n] @ [n, C] (or the out_in analogue).
    const updates = lefts.map((left, i) => ({ name: module.weightName, left, right: rights[i] }));
    return new EditDelta(updates, { method: 'ROME', modelFingerprint: fingerprint, hparams: hp, requests: requests.map((r) => ({ ...r })), stats: { edits: stats } });
  }

  /**
   * v* at `fact_token`; with `subject_search`, at the subject's last token and, when that
   * leaves the target below {@link SUBJECT_SEARCH_MIN_PROB}, at each other subject token too, keeping the
   * token whose final v* loss is lowest.
   */
  private reachTarget(
    model: CausalLM,
    hp: RomeHyperParams,
    templates: string[],
    r: EditRequest,
    signal?: AbortSignal,
    onStep?: (s: TargetStep) => void,
  ): { target: TargetResult; factToken: FactToken } {
    const ids = targetIds(model.tokenizer!, r.targetNew);
    if (hp.fact_token !== 'subject_search') return { target: computeTarget(model, hp, templates, r.prompt, r.subject, ids, hp.fact_token, signal, onStep), factToken: hp.fact_token };
    const finalStep = (t: TargetResult) => t.trace[t.trace.length - 1];
    let best = { target: computeTarget(model, hp, templates, r.prompt, r.subject, ids, -1, signal, onStep), factToken: -1 as FactToken };
    if (finalStep(best.target).targetProb >= SUBJECT_SEARCH_MIN_PROB) return best;
    const [first, last] = locateSubject(model.tokenizer!, r.prompt, r.subject).subjectSpan;
    try {
      for (let offset = 0; offset < last - first; offset++) {
        const t = computeTarget(model, hp, templates, r.prompt, r.subject, ids, offset, signal);
        if (finalStep(t).loss < finalStep(best.target).loss) {
          disposeTarget(best.target);
          best = { target: t, factToken: offset };
        } else disposeTarget(t);
      }
    } catch (err) {
      disposeTarget(best.target); // cancelled mid-search: free the best so far
      throw err;
    }
    return best;
  }

  /** Frees cached covariance factors and the statistics this editor computed. */
  dispose(): void {
    for (const t of this.choleskyCache.values()) t.dispose();
    this.choleskyCache.clear();
    for (const s of this.ownStats) {
      this.stats.delete(s.layer);
      s.mom2Sum.dispose();
    }
    this.ownStats.length = 0;
  }
}
