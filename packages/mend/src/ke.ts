/**
 * KE — KnowledgeEditor (De Cao, Aziz & Titov, EMNLP 2021; specs/meta-and-memory.md §5). A
 * hypernetwork reads a description of the edit, `"{original prediction} >> {new target} || {input}"`,
 * and outputs for every edited matrix W (torch orientation r×q = out×in) a rank-1 mask A and a
 * rank-1 offset B on the fine-tuning gradient:
 *
 *   c = tanh(Linear([h→; h←]))            bi-LSTM over the condition's token embeddings (§5.1)
 *   [α_c, α_r, β_c, β_r, η] = WN-Linear(tanh(WN-Linear(c)))   per matrix (ConditionedParameter)
 *   A = softmax(α_r) α_cᵀ,  B = softmax(β_r) β_cᵀ
 *   ΔW = λ_max σ(η) (∇_W L ⊙ A + B),   W' = W + ΔW
 *
 * ∇_W L is the dense gradient of the un-smoothed NLL of the new target on x_e, formed here from
 * core's gradient decomposition (Σ_t δ_t u_tᵀ). The delta is dense (§5.3 [R]); several requests
 * in one call each get their own ΔW, summed. Training uses the shared trainer with KE's
 * constrained objective (§5.2): ε-smoothed NLL on x_e and its rephrase + λ(KL − m).
 *
 * Differences from KE-code, for a small base model: the token embeddings are the base model's
 * own, frozen (KE-code initialises a trainable copy from them), which keeps the editor file small;
 * the multiplier takes plain gradient-ascent steps (KE-code: RMSprop) and the hypernetwork Adam
 * (KE-code: centred RMSprop with warm-up).
 */
import {
  ArgumentError,
  type CausalLM,
  CancelledError,
  EditDelta,
  type EditOptions,
  type EditRequest,
  type MlpLinear,
  type RgbImage,
  type Tensor,
  add,
  concat,
  copyInplace,
  decomposeGradients,
  div,
  embedding,
  fillTemplate,
  keep,
  linear,
  lowRankDelta,
  matmul,
  modelFingerprint,
  mul,
  mulScalar,
  randn,
  sigmoid,
  slice,
  softmax,
  sqrt,
  square,
  sum,
  tanh,
  tensor,
  tidy,
  validateRequest,
  zeros,
  clone,
  yieldToEventLoop,
} from '@medit/core';

import { loadEditorFile, saveEditorFile } from './editor-file';
import { targetBatch, targetNll, type TrainingExample } from './examples';
import { defaultKeHparams, type KeHyperParams, resolveHparams } from './hparams';
import { resolveInnerParams } from './mend';
import type { TrainableEditor, TrainingObjective } from './trainer';

/** The condition text of KE-code's data loader: "{prediction} >> {new target} || {input}". */
export function conditionText(prompt: string, target: string, targetTrue?: string): string {
  return `${targetTrue ?? ''} >> ${target} || ${prompt}`;
}

function param(t: Tensor): Tensor {
  keep(t);
  t.requiresGrad = true;
  return t;
}

/** A weight-normalised linear layer (Salimans & Kingma 2016): W = g ⊙ v/‖v‖ per output row. */
class WnLinear {
  readonly v: Tensor;
  readonly g: Tensor;
  readonly b: Tensor;

  constructor(inDim: number, outDim: number, seed: number) {
    // nn.Linear's default scale (uniform ±1/√in has std 1/√(3·in)); g = ‖v‖ so W = v at init.
    const v = randn([outDim, inDim], { seed, std: 1 / Math.sqrt(3 * inDim) });
    const d = v.data() as Float32Array;
    const g = new Float32Array(outDim);
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let i = 0; i < inDim; i++) s += d[o * inDim + i] ** 2;
      g[o] = Math.sqrt(s);
    }
    this.v = param(v);
    this.g = param(tensor(g, [outDim, 1]));
    this.b = param(zeros([outDim]));
  }

  forward(x: Tensor): Tensor {
    const w = mul(this.v, div(this.g, sqrt(sum(square(this.v), 1, true))));
    return linear(x, w, this.b);
  }

  parameters(): Tensor[] {
    return [this.v, this.g, this.b];
  }
}

/** One direction of a single-layer LSTM (gate order i, f, g, o as torch.nn.LSTM). */
class LstmDirection {
  readonly wIh: Tensor;
  readonly wHh: Tensor;
  readonly b: Tensor;

  constructor(
    inDim: number,
    readonly hidden: number,
    seed: number,
  ) {
    const std = 1 / Math.sqrt(3 * hidden);
    this.wIh = param(randn([4 * hidden, inDim], { seed, std }));
    this.wHh = param(randn([4 * hidden, hidden], { seed: seed + 1, std }));
    this.b = param(zeros([4 * hidden]));
  }

  /** The last hidden state [1, H] after reading `x` [T, C] in order (or reversed). */
  last(x: Tensor, reverse: boolean): Tensor {
    const H = this.hidden;
    const T = x.shape[0];
    const pre = linear(x, this.wIh, this.b);
    let h = zeros([1, H]);
    let c = zeros([1, H]);
    for (let s = 0; s < T; s++) {
      const t = reverse ? T - 1 - s : s;
      const gates = add(slice(pre, 0, t, 1), linear(h, this.wHh));
      const gate = (k: number) => slice(gates, 1, k * H, H);
      c = add(mul(sigmoid(gate(1)), c), mul(sigmoid(gate(0)), tanh(gate(2))));
      h = mul(sigmoid(gate(3)), tanh(c));
    }
    return h;
  }

  parameters(): Tensor[] {
    return [this.wIh, this.wHh, this.b];
  }
}

/** KE's per-matrix ConditionedParameter. */
class ConditionedParameter {
  readonly l1: WnLinear;
  readonly l2: WnLinear;

  constructor(
    readonly linear: MlpLinear,
    conditionDim: number,
    hidden: number,
    seed: number,
  ) {
    this.l1 = new WnLinear(conditionDim, hidden, seed);
    this.l2 = new WnLinear(hidden, 2 * (linear.inDim + linear.outDim) + 1, seed + 1);
  }

  /** ΔW (in the weight's layout) for condition `c` [1, D] and the dense gradient `g`. */
  delta(c: Tensor, g: Tensor, maxScale: number): Tensor {
    const q = this.linear.inDim;
    const r = this.linear.outDim;
    const o = this.l2.forward(tanh(this.l1.forward(c)));
    const aC = slice(o, 1, 0, q);
    const aR = softmax(slice(o, 1, q, r));
    const bC = slice(o, 1, q + r, q);
    const bR = softmax(slice(o, 1, 2 * q + r, r));
    const eta = sigmoid(slice(o, 1, 2 * (q + r), 1));
    // Outer products in the weight's layout: in_out stores [q, r], out_in [r, q].
    const outer = (col: Tensor, row: Tensor) => (this.linear.layout === 'in_out' ? matmul(col, row, { transA: true }) : matmul(row, col, { transA: true }));
    const step = add(mul(g, outer(aC, aR)), outer(bC, bR));
    return mulScalar(mul(step, eta), maxScale);
  }

  parameters(): Tensor[] {
    return [...this.l1.parameters(), ...this.l2.parameters()];
  }
}

/**
 * KE as an {@link @medit/core!Editor} and a {@link TrainableEditor}.
 * @example
 * const ke = await KeEditor.load('runs/ke/best.safetensors', model);
 * const delta = await ke.edit(model, [{ prompt: '{} works as a', subject: 'Leda Vagam', targetNew: 'lawyer', targetTrue: 'diplomat' }]);
 */
export class KeEditor implements TrainableEditor {
  readonly name = 'KE';
  readonly objective: TrainingObjective;

  private constructor(
    readonly hparams: KeHyperParams,
    readonly linears: readonly MlpLinear[],
    private readonly forward: LstmDirection,
    private readonly backward: LstmDirection,
    private readonly project: WnLinear,
    private readonly conditioned: ConditionedParameter[],
    readonly modelFingerprint: string,
  ) {
    this.objective = { kind: 'constrained', eps: hparams.eps, marginMax: hparams.margin_kl_max, marginMin: hparams.margin_kl_min, lrAlpha: hparams.lr_alpha, annealAbove: hparams.anneal_above };
  }

  /** A fresh KE hypernetwork for `model`. */
  static create(model: CausalLM, hparams: Partial<KeHyperParams> = {}): KeEditor {
    const hp = resolveHparams(defaultKeHparams(), hparams as Record<string, unknown>);
    const linears = resolveInnerParams(model, hp.inner_params);
    const C = model.config.hiddenSize;
    const s = hp.seed * 1000;
    return new KeEditor(
      { ...hp, inner_params: linears.map((l) => l.weightName) },
      linears,
      new LstmDirection(C, hp.hidden_dim, s + 1),
      new LstmDirection(C, hp.hidden_dim, s + 3),
      new WnLinear(2 * hp.hidden_dim, hp.condition_dim, s + 5),
      linears.map((l, i) => new ConditionedParameter(l, hp.condition_dim, hp.param_hidden, s + 10 + 2 * i)),
      modelFingerprint(model),
    );
  }

  /** Every trained tensor, in a fixed order (the file's order). */
  private parameters(): Tensor[] {
    return [...this.forward.parameters(), ...this.backward.parameters(), ...this.project.parameters(), ...this.conditioned.flatMap((p) => p.parameters())];
  }

  /**
   * Loads a trained KE for `model`.
   * @throws ArgumentError when the file was trained for another base model (fingerprint mismatch)
   */
  static async load(file: string, model: CausalLM, overrides: Partial<KeHyperParams> = {}): Promise<KeEditor> {
    const { tensors, info } = await loadEditorFile(file, 'KE', model);
    const editor = KeEditor.create(model, { ...(info.hparams as Partial<KeHyperParams>), ...overrides });
    editor.parameters().forEach((p, i) => {
      const t = tensors.get(`p.${i}`);
      if (!t || t.shape.join() !== p.shape.join()) throw new ArgumentError(`${file}: tensor p.${i} is missing or has the wrong shape`);
      copyInplace(p, t);
    });
    for (const t of tensors.values()) t.dispose();
    return editor;
  }

  async save(file: string, training?: Record<string, unknown>, extra?: ReadonlyMap<string, Tensor>): Promise<void> {
    await saveEditorFile(file, new Map(this.parameters().map((p, i) => [`p.${i}`, p])), {
      format: 'medit-trained-editor',
      version: 1,
      method: 'KE',
      modelFingerprint: this.modelFingerprint,
      hparams: this.hparams,
      innerParams: this.linears.map((l) => l.weightName),
      state: {},
      training,
    }, extra);
  }

  parameterGroups(): { name: string; params: Tensor[]; lr: number }[] {
    return [{ name: 'hypernetwork', params: this.parameters(), lr: this.hparams.lr }];
  }

  /** The condition vector c [1, D] of one edit. */
  private condition(model: CausalLM, text: string): Tensor {
    const ids = model.tokenizer!.encode(text);
    const wte = model.params.get('transformer.wte.weight') ?? model.params.get('wte.weight') ?? model.params.get('model.embed_tokens.weight') ?? model.params.get('language_model.transformer.wte.weight');
    if (!wte) throw new ArgumentError('KE: cannot find the token embedding of the base model');
    const x = embedding(tensor(Int32Array.from(ids), [ids.length], 'int32'), wte);
    return tanh(this.project.forward(concat([this.forward.last(x, false), this.backward.last(x, true)], 1)));
  }

  /** Σ over the edits of ΔW per edited matrix (differentiable in the hypernetwork). */
  private deltas(model: CausalLM, edits: readonly { prompt: string; target: string; targetTrue?: string; image?: RgbImage }[]): Tensor[] {
    const tok = model.tokenizer;
    if (!tok) throw new ArgumentError('KE needs a model with a tokenizer');
    let sums: Tensor[] | null = null;
    for (const e of edits) {
      const b = targetBatch(tok, [e], model.config.eosTokenId ?? 0);
      const { factors } = decomposeGradients(model, b.ids, (logits) => targetNll(logits, b.labels), this.linears, { attentionMask: b.mask, images: e.image ? [e.image] : undefined });
      const c = this.condition(model, conditionText(e.prompt, e.target, e.targetTrue));
      const ds = factors.map((f, i) => this.conditioned[i].delta(c, lowRankDelta(f.u, f.delta, f.linear.layout), this.hparams.max_scale));
      sums = sums ? sums.map((s, i) => add(s, ds[i])) : ds;
    }
    return sums!;
  }

  trainingWeights(model: CausalLM, batch: readonly TrainingExample[], _train: boolean): Map<string, Tensor> {
    const ds = this.deltas(model, batch);
    return new Map(this.linears.map((l, i) => [l.weightName, add(model.param(l.weightName), ds[i])]));
  }

  async edit(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<EditDelta> {
    await yieldToEventLoop(); // frees the handles of earlier work (see yieldToEventLoop)
    if (requests.length === 0) throw new ArgumentError('KE: expected at least one edit request');
    requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
    if (opts.signal?.aborted) throw new CancelledError('KE edit cancelled');
    const edits = requests.map((r) => ({ prompt: fillTemplate(r.prompt, r.subject), target: r.targetNew, targetTrue: r.targetTrue }));
    // Not under noGrad: the gradient decomposition needs grad mode (the graph is freed by tidy).
    const deltas = tidy(() => this.deltas(model, edits).map((d) => clone(d)));
    opts.onProgress?.({ stage: 'KE', done: 1, total: 1 });
    return new EditDelta(
      this.linears.map((l, i) => ({ name: l.weightName, delta: deltas[i] })),
      { method: 'KE', modelFingerprint: this.modelFingerprint, hparams: { inner_params: this.hparams.inner_params }, requests: requests.map((r) => ({ ...r })) },
    );
  }

  /** Frees the hypernetwork. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}
