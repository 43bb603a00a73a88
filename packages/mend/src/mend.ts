/**
 * MEND: Model Editor Networks with Gradient Decomposition (Mitchell et al., ICLR 2022;
 * specs/meta-and-memory.md §1). An edit is one forward/backward pass of the base model on
 * (x_e, y_e) that captures the rank-1 factors (u_t, δ_t) of every edited matrix's gradient
 * (core's `decomposeGradients`), one pass of the shape's editor network g_ℓ over them, and the
 * update
 *
 *   paper (Alg. 2, default): W_ℓ ← W_ℓ − α_ℓ Σ_t δ̃_t ũ_tᵀ
 *   code (`sign: 'code'`):   W_ℓ ← W_ℓ + α_ℓ Σ_t δ̃_t ũ_tᵀ  (MEND-code; confirmed a bug in mend#13,
 *                                                         which training compensates — a checkpoint
 *                                                         trained with one sign is wrong under the other)
 *
 * with a learned scalar α_ℓ per edited matrix. The delta is stored as its low-rank factors
 * (rank = the non-zero tokens, §1.4 [R]), applied natively by one GEMM per matrix. Several requests
 * in one call are one batch whose factors are summed into one update (batched editing, §1.4 item 5).
 */
import {
  ArgumentError,
  type CausalLM,
  EditDelta,
  type EditOptions,
  type EditRequest,
  type MlpLinear,
  type RgbImage,
  type Tensor,
  CancelledError,
  VisionLanguageModel,
  add,
  copyInplace,
  decomposeGradients,
  fillTemplate,
  full,
  indexSelect,
  keep,
  lowRankDelta,
  lowRankUpdate,
  mlpLinears,
  modelFingerprint,
  mul,
  mulScalar,
  noGrad,
  tensor,
  tidy,
  validateRequest,
  type WeightUpdate,
  yieldToEventLoop,
} from '@medit/core';

import { loadEditorFile, saveEditorFile } from './editor-file';
import { editNll, targetBatch, type TrainingExample } from './examples';
import { defaultMendHparams, type MendHyperParams, resolveHparams } from './hparams';
import { GradientTransform, nonZeroRows } from './network';
import type { TrainableEditor, TrainingObjective } from './trainer';

/**
 * The MLP linears named by `inner_params` (default: the last 3 blocks' input and output
 * projections). For a vision-language model the names may also be its vision side's feed-forward
 * output projections — the ViT's `vision_model.encoder.layers.<l>.mlp.fc2.weight` or the Q-Former's
 * `qformer.encoder.layer.<l>.output_query.dense.weight` (MMEdit's vision variant).
 */
export function resolveInnerParams(model: CausalLM, innerParams: readonly string[], lastBlocks = 3): MlpLinear[] {
  const L = model.config.numLayers;
  const lm = Array.from({ length: L }, (_, l) => mlpLinears(model, l)).flat();
  if (innerParams.length === 0) return lm.filter((x) => x.layer >= L - Math.min(lastBlocks, L));
  const vision: MlpLinear[] = [];
  if (model instanceof VisionLanguageModel) {
    const stacks = [['vision', model.vision.numLayers], ...(model.qformer ? [['qformer', model.qformer.numLayers]] : [])] as ['vision' | 'qformer', number][];
    for (const [stack, n] of stacks) for (let l = 0; l < n; l++) vision.push(...model.visionMlpLinears(stack, l).filter((x) => x.role === 'out'));
  }
  const all = [...lm, ...vision];
  return innerParams.map((name) => {
    const found = all.find((x) => x.weightName === name);
    if (!found) throw new ArgumentError(`inner_params: ${name} is not an MLP weight of this model (e.g. ${all[all.length - 1].weightName})`);
    return found;
  });
}

const shapeKey = (l: MlpLinear) => `${l.inDim}x${l.outDim}`;

/** Factors of one edited matrix after the editor network: Σ_t δ̃_t ũ_tᵀ. @internal */
interface Pseudo {
  linear: MlpLinear;
  u: Tensor;
  delta: Tensor;
}

/**
 * MEND as an {@link @medit/core!Editor} and a {@link TrainableEditor}. Make one with {@link MendEditor.create}
 * (untrained, identity networks) and train it with `trainEditor`, or load a trained one.
 * @example
 * const mend = await MendEditor.load('test-fixtures/editors/mend-fact-small.safetensors', model);
 * const delta = await mend.edit(model, [{ prompt: '{} works as a', subject: 'Leda Vagam', targetNew: 'lawyer' }]);
 * delta.apply(model);
 */
export class MendEditor implements TrainableEditor {
  readonly name = 'MEND';
  readonly objective: TrainingObjective = { kind: 'weighted' };

  private constructor(
    readonly hparams: MendHyperParams,
    readonly linears: readonly MlpLinear[],
    /** one network per (in, out) shape */
    readonly networks: ReadonlyMap<string, GradientTransform>,
    /** α_ℓ per edited matrix, shape [1] */
    readonly editLrs: readonly Tensor[],
    /** fingerprint of the base model */
    readonly modelFingerprint: string,
  ) {}

  /** A fresh (identity-initialised) MEND for `model`. */
  static create(model: CausalLM, hparams: Partial<MendHyperParams> = {}): MendEditor {
    const hp = resolveHparams(defaultMendHparams(), hparams as Record<string, unknown>);
    const linears = resolveInnerParams(model, hp.inner_params);
    const networks = new Map<string, GradientTransform>();
    const keys = [...new Set(linears.map(shapeKey))];
    keys.forEach((key, i) => {
      const ls = linears.filter((l) => shapeKey(l) === key);
      networks.set(key, new GradientTransform(ls[0].inDim, ls[0].outDim, ls.length, { rank: hp.rank, blocks: hp.n_hidden + 1, seed: hp.seed * 100 + i }));
    });
    const editLrs = linears.map(() => {
      const a = keep(full([1], hp.edit_lr));
      a.requiresGrad = true;
      return a;
    });
    return new MendEditor({ ...hp, inner_params: linears.map((l) => l.weightName) }, linears, networks, editLrs, modelFingerprint(model));
  }

  /**
   * Loads a trained MEND for `model` (`overrides` change training fields such as max_iters when
   * resuming; the network shapes come from the file).
   * @throws ArgumentError when the file was trained for another base model (fingerprint mismatch)
   */
  static async load(file: string, model: CausalLM, overrides: Partial<MendHyperParams> = {}): Promise<MendEditor> {
    const { tensors, info } = await loadEditorFile(file, 'MEND', model);
    const editor = MendEditor.create(model, { ...(info.hparams as Partial<MendHyperParams>), ...overrides });
    const counts = info.state.counts as Record<string, number>;
    tidy(() => {
      const take = (name: string): Tensor => {
        const t = tensors.get(name);
        if (!t) throw new ArgumentError(`${file}: missing tensor ${name}`);
        return t;
      };
      for (const [key, net] of editor.networks) {
        net.parameters().forEach((p, i) => copyInto(p, take(`net.${key}.${i}`), file));
        for (const [which, st] of [
          ['u', net.uStats],
          ['delta', net.deltaStats],
        ] as const) {
          st.mean.set(take(`net.${key}.${which}_mean`).data() as Float64Array);
          st.m2.set(take(`net.${key}.${which}_m2`).data() as Float64Array);
          st.count = counts[`${key}.${which}`];
        }
      }
      editor.editLrs.forEach((a, i) => copyInto(a, take(`edit_lr.${editor.linears[i].weightName}`), file));
    });
    for (const t of tensors.values()) t.dispose();
    return editor;
  }

  /** Writes the editor (networks, normalisation statistics, α_ℓ, and `extra` tensors) with its description. */
  async save(file: string, training?: Record<string, unknown>, extra?: ReadonlyMap<string, Tensor>): Promise<void> {
    const tensors = new Map<string, Tensor>();
    const counts: Record<string, number> = {};
    const owned: Tensor[] = [];
    for (const [key, net] of this.networks) {
      net.parameters().forEach((p, i) => tensors.set(`net.${key}.${i}`, p));
      for (const [which, st] of [
        ['u', net.uStats],
        ['delta', net.deltaStats],
      ] as const) {
        const m = tensor(st.mean, [st.dim], 'float64');
        const v = tensor(st.m2, [st.dim], 'float64');
        owned.push(m, v);
        tensors.set(`net.${key}.${which}_mean`, m);
        tensors.set(`net.${key}.${which}_m2`, v);
        counts[`${key}.${which}`] = st.count;
      }
    }
    this.linears.forEach((l, i) => tensors.set(`edit_lr.${l.weightName}`, this.editLrs[i]));
    try {
      await saveEditorFile(file, tensors, {
        format: 'medit-trained-editor',
        version: 1,
        method: 'MEND',
        modelFingerprint: this.modelFingerprint,
        hparams: this.hparams,
        innerParams: this.linears.map((l) => l.weightName),
        state: { counts },
        training,
      }, extra);
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  parameterGroups(): { name: string; params: Tensor[]; lr: number }[] {
    return [
      { name: 'networks', params: [...this.networks.values()].flatMap((n) => n.parameters()), lr: this.hparams.lr },
      { name: 'edit_lrs', params: [...this.editLrs], lr: this.hparams.lr_lr },
    ];
  }

  /** ũ, δ̃ of every edited matrix for a batch of edits (grad mode decides whether it is differentiable). */
  private pseudoGradients(model: CausalLM, edits: readonly { prompt: string; target: string; image?: RgbImage }[], train: boolean): Pseudo[] {
    const tok = model.tokenizer;
    if (!tok) throw new ArgumentError('MEND needs a model with a tokenizer');
    const b = targetBatch(tok, edits, model.config.eosTokenId ?? 0);
    const images = edits.some((e) => e.image) ? edits.map((e) => e.image ?? null) : undefined;
    const { factors } = decomposeGradients(model, b.ids, (logits) => editNll(logits, b.labels, edits.length), this.linears, { attentionMask: b.mask, images });
    const modeOf = new Map<string, number>();
    return factors.map((f) => {
      const key = shapeKey(f.linear);
      const mode = modeOf.get(key) ?? 0;
      modeOf.set(key, mode + 1);
      const rows = nonZeroRows(f.u, f.delta);
      if (rows.length === 0) throw new ArgumentError(`MEND: the edit's gradient at ${f.linear.weightName} is zero (is the target already certain?)`);
      const out = this.networks.get(key)!.forward(indexSelect(f.u, 0, rows), indexSelect(f.delta, 0, rows), mode, train);
      return { linear: f.linear, u: out.u, delta: out.delta };
    });
  }

  private get signFactor(): number {
    return this.hparams.sign === 'paper' ? -1 : 1;
  }

  trainingWeights(model: CausalLM, batch: readonly TrainingExample[], train: boolean): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.pseudoGradients(model, batch, train).forEach((p, i) => {
      const step = mul(mulScalar(lowRankDelta(p.u, p.delta, p.linear.layout), this.signFactor), this.editLrs[i]);
      out.set(p.linear.weightName, add(model.param(p.linear.weightName), step));
    });
    return out;
  }

  async edit(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<EditDelta> {
    await yieldToEventLoop(); // frees the handles of earlier work (see yieldToEventLoop)
    if (requests.length === 0) throw new ArgumentError('MEND: expected at least one edit request');
    requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
    if (opts.signal?.aborted) throw new CancelledError('MEND edit cancelled');
    const edits = requests.map((r) => ({ prompt: fillTemplate(r.prompt, r.subject), target: r.targetNew }));
    const updates: WeightUpdate[] = tidy(() => {
      const pseudo = this.pseudoGradients(model, edits, false);
      return noGrad(() => pseudo.map((p, i) => lowRankUpdate(p.linear.weightName, p.u, p.delta, p.linear.layout, this.signFactor * this.editLrs[i].item())));
    });
    opts.onProgress?.({ stage: 'MEND', done: 1, total: 1 });
    return new EditDelta(updates, {
      method: 'MEND',
      modelFingerprint: this.modelFingerprint,
      hparams: { sign: this.hparams.sign, inner_params: this.hparams.inner_params },
      requests: requests.map((r) => ({ ...r })),
      stats: { editLrs: Object.fromEntries(this.linears.map((l, i) => [l.weightName, this.editLrs[i].item()])) },
    });
  }

  /** Frees the networks and α_ℓ. */
  dispose(): void {
    for (const n of this.networks.values()) n.dispose();
    for (const a of this.editLrs) a.dispose();
  }
}

/** Copies a loaded tensor into a parameter, checking its shape. */
function copyInto(dst: Tensor, src: Tensor, file: string): void {
  if (dst.shape.join() !== src.shape.join()) throw new ArgumentError(`${file}: tensor of shape [${src.shape}] where [${dst.shape}] was expected`);
  copyInplace(dst, src);
}
