/**
 * T-Patcher (Huang et al., "Transformer-Patcher: One Mistake Worth One Neuron", ICLR 2023;
 * specs/meta-and-memory.md §3) for decoder-only LMs: each mistake gets patch neurons in the last
 * FFN layer, trained with everything else frozen so that they fire on the edit and stay silent
 * on a memory of unrelated queries.
 *
 * Per edit (prompt x, target t, teacher-forced):
 *  - a neuron for every target token the model gets wrong (≤ max_add_neuron_num); the wrong token
 *    t_j is predicted at position |x|−1+j, so its key is initialised from the query there
 *    (spec §3.9 item 5): k = q/‖q‖², b = 0, v = ε ⊙ a (ε ~ N(0,1), a = amplify_con) (§3.3);
 *  - loss l_e + a·l_a + m·(l_m1 + l_m2) (paper Eqs. 13–19, code semantics of §3.2):
 *      l_e  label-smoothed NLL of t (ε = 0.1) / |t|
 *      l_a  mean_j exp(m_a − (q_j·k_j + b_j))                       (activation on the edit)
 *      l_m1 mean_j S(M k_j + b_j − β)                                (silent on memory, β = −3)
 *      l_m2 mean_j S((M k_j + b_j) − (q_j·k_j + b_j) + γ)            (edit beats memory by γ = 3)
 *    with S(v) the mean of the top-k entries of exp(v) (k = memory_top_k);
 *  - Adam (lr 1e-2, decoupled decay 1e-2), gradient-norm clip 5, ReduceLROnPlateau(0.5, 1);
 *  - stopping (§3.6): from start_val_epoch, every check_val_every_n_epoch steps test whether the
 *    greedy (teacher-forced) output is the target; once it is, stop when the validation-memory
 *    loss stops improving by early_delta (use_val) or at once; give up at max_edit_step.
 * With `context_template_length_params` the example is also trained after generated context
 * prefixes (ROME's templates): l_e averages over those rows, l_a takes each neuron's top-5 rows
 * as TP-code does over its repeated batch, the memory losses use the bare example, and the
 * stopping check asks for the target in every row.
 * Edits are sequential: each is trained with the earlier patches installed, and its queries are
 * appended to the memory (update_memory). The batch of repeated copies of the example in the
 * original code only matters with dropout, which T-Patcher disables; one copy is used here.
 */
import {
  AdamW,
  type CausalLM,
  CancelledError,
  type EditOptions,
  type EditRequest,
  type Editor,
  type Tensor,
  ArgumentError,
  StopForward,
  EditDelta,
  add,
  addScalar,
  argmax,
  concat,
  contextTemplates,
  crossEntropy,
  exp,
  fillTemplate,
  full,
  gatherAt,
  grad,
  hookName,
  indexSelect,
  keep,
  logSoftmax,
  matmul,
  mean,
  modelFingerprint,
  mul,
  mulScalar,
  neg,
  noGrad,
  randn,
  reshape,
  rightPad,
  sub,
  sum,
  targetIds,
  tensor,
  tidy,
  topkLast,
  transpose,
  validateRequest,
  zeros,
  yieldToEventLoop,
} from '@medit/core';

import { resolveTPatcherHparams, type TPatcherHyperParams } from './hparams';
import { PatchDelta, concatPatches, patchHooks, type PatchWeights } from './patch';

export interface TPatcherEditorOptions {
  /** Unrelated texts; the layer's queries at all their tokens form the memory M (§3.5). */
  memoryTexts?: string[];
  /** Or the memory itself: queries [M, C] (the editor keeps its own copy). */
  memory?: Tensor;
  /** Texts of the validation memory watched by the stopping rule (default: the memory). */
  validationTexts?: string[];
  /** Keep the patch of an edit that never became correct (default false: reject it). */
  commitFailed?: boolean;
}

/** What happened to one edit. */
export interface TPatcherEditStats {
  subject: string;
  /** the model was already right: nothing to patch */
  skipped: boolean;
  /** the patched model outputs the target (teacher-forced greedy) */
  success: boolean;
  /** the patch was kept */
  accepted: boolean;
  neurons: number;
  steps: number;
  loss: { total: number; edit: number; act: number; mem1: number; mem2: number };
  /** min over the new neurons of the edit pre-activation q·k + b */
  editPreActivation: number;
  /** max over memory rows and new neurons of the pre-activation */
  memoryPreActivation: number;
  ms: number;
}

/**
 * Queries (the FFN input at `layer`, hook `mlp_in`) at every token of each text [N, C].
 * @internal
 */
export function collectQueries(model: CausalLM, layer: number, texts: number[][], chunk = 32, onProgress?: (done: number, total: number) => void): Tensor {
  const parts: Tensor[] = [];
  for (let s = 0; s < texts.length; s += chunk) {
    onProgress?.(s, texts.length);
    const rows = texts.slice(s, s + chunk).filter((r) => r.length > 0);
    if (rows.length === 0) continue;
    const width = Math.max(...rows.map((r) => r.length));
    const pad = model.config.eosTokenId ?? 0;
    const ids = rows.map((r) => [...r, ...Array(width - r.length).fill(pad)]);
    const mask = rows.map((r) => [...Array(r.length).fill(1), ...Array(width - r.length).fill(0)]);
    const positions = rows.flatMap((r, batch) => r.map((_, token) => ({ batch, token })));
    parts.push(
      keep(
        noGrad(() =>
          tidy(() => {
            let q: Tensor | undefined;
            const read = (x: Tensor) => {
              q = x;
              throw new StopForward(); // nothing above the queries is needed
            };
            try {
              model.forward(ids, { attentionMask: mask, hooks: { [hookName(layer, 'mlp_in')]: read } });
            } catch (err) {
              if (!(err instanceof StopForward)) throw err;
            }
            return gatherAt(q!, positions);
          }),
        ),
      ),
    );
  }
  if (parts.length === 0) throw new ArgumentError('T-Patcher: no tokens to collect memory queries from');
  const out = keep(tidy(() => concat(parts, 0)));
  parts.forEach((p) => p.dispose());
  return out;
}

/** Rows over which TP-code's activation loss `top5_exp` averages. */
const ACT_TOP_K = 5;

/**
 * Flat indices (r·n + j) of the `k` rows with the lowest pre-activation of each neuron j in
 * `pre` [R, n], i.e. the top-k of exp(m_a − a). @internal
 */
function weakestRows(pre: Float32Array, R: number, n: number, k: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < n; j++) {
    const rows = Array.from({ length: R }, (_, r) => r).sort((a, b) => pre[a * n + j] - pre[b * n + j]);
    for (const r of rows.slice(0, k)) out.push(r * n + j);
  }
  return out;
}

/** Memory losses for patch keys/biases against memory rows, with the edit pre-activations. @internal */
export function memoryLosses(memory: Tensor, keys: Tensor, bias: Tensor, edit: Tensor, hp: TPatcherHyperParams): { m1: Tensor; m2: Tensor; maxPre: number } {
  const n = bias.shape[0];
  const k = Math.min(hp.memory_top_k, memory.shape[0]);
  // S(·; k) needs the top-k of exp(v): the same rows as the top-k of v, for both losses (the
  // native top-k over each neuron's column of the memory). Only those k rows per neuron reach
  // the losses, so the product over the whole memory (most of T-Patcher's time) runs without
  // autograd just to find them; the gradient flows through the selected rows alone.
  const { rows, maxPre } = noGrad(() =>
    tidy(() => {
      const top = topkLast(transpose(add(matmul(memory, keys), bias)), k); // [n, k], best first
      const best = top.values.data() as Float32Array;
      return { rows: top.indices.data() as Int32Array, maxPre: Math.max(...Array.from({ length: n }, (_, j) => best[j * k])) };
    }),
  );
  // The union of the selected rows, and where each neuron's entries sit in their [U, n] product.
  const position = new Map<number, number>();
  for (const r of rows) if (!position.has(r)) position.set(r, position.size);
  const flat: number[] = [];
  const owner: number[] = [];
  for (let j = 0; j < n; j++) {
    for (let t = 0; t < k; t++) {
      flat.push(position.get(rows[j * k + t])! * n + j);
      owner.push(j);
    }
  }
  const pre = add(matmul(indexSelect(memory, 0, [...position.keys()]), keys), bias); // [U, n]
  const sel = indexSelect(reshape(pre, [position.size * n]), 0, flat);
  const m1 = mean(exp(addScalar(sel, -hp.margin_val2)));
  const m2 = mean(exp(addScalar(sub(sel, indexSelect(edit, 0, owner)), hp.margin_val1)));
  return { m1, m2, maxPre };
}

/**
 * T-Patcher as an {@link Editor}; the delta is a {@link PatchDelta} (added neurons), or an empty
 * EditDelta when no request needed a patch. The editor keeps the memory between calls
 * (sequential model editing); {@link TPatcherEditor.resetMemory} starts over.
 * @example
 * const editor = new TPatcherEditor({}, { memoryTexts: fillerLines });
 * const delta = await editor.edit(model, [{ prompt: '{} is a citizen of', subject: 'Rakem Boskre', targetNew: 'Lasktra' }]);
 * delta.apply(model);
 */
export class TPatcherEditor implements Editor {
  readonly name = 'T-Patcher';
  readonly hparams: Partial<TPatcherHyperParams>;
  private memory: Tensor | undefined;
  private validation: Tensor | undefined;

  constructor(hparams: Partial<TPatcherHyperParams> = {}, private readonly options: TPatcherEditorOptions = {}) {
    this.hparams = hparams;
  }

  resolve(model: CausalLM): TPatcherHyperParams {
    return resolveTPatcherHparams(this.hparams as Record<string, unknown>, model.config.numLayers);
  }

  /** Current memory size (queries). */
  get memorySize(): number {
    return this.memory?.shape[0] ?? 0;
  }

  private ensureMemory(model: CausalLM, hp: TPatcherHyperParams, opts: EditOptions = {}): void {
    if (this.memory) return;
    const tok = model.tokenizer!;
    if (this.options.memory) {
      if (this.options.memory.rank !== 2 || this.options.memory.shape[1] !== model.config.hiddenSize) {
        throw new ArgumentError(`T-Patcher: memory must be [M, ${model.config.hiddenSize}] but is [${this.options.memory.shape}]`);
      }
      this.memory = keep(tidy(() => mulScalar(this.options.memory!, 1)));
    } else if (this.options.memoryTexts?.length) {
      const texts = this.options.memoryTexts;
      // encoding the memory is most of a first edit's time when the memory is large
      this.memory = collectQueries(model, hp.layer, texts.map((t) => tok.encode(t)), undefined, (done, total) => opts.onProgress?.({ stage: 'T-Patcher memory', done, total }));
      opts.onProgress?.({ stage: 'T-Patcher memory', done: texts.length, total: texts.length });
    } else {
      throw new ArgumentError('T-Patcher needs a memory of unrelated queries: pass memoryTexts or memory in the editor options');
    }
    if (this.options.validationTexts?.length) this.validation = collectQueries(model, hp.layer, this.options.validationTexts.map((t) => tok.encode(t)));
  }

  /** Forgets the memory (and the queries appended by past edits). */
  resetMemory(): void {
    this.memory?.dispose();
    this.validation?.dispose();
    this.memory = undefined;
    this.validation = undefined;
  }

  private appendMemory(queries: Tensor): void {
    const grown = keep(tidy(() => concat([this.memory!, queries], 0)));
    this.memory!.dispose();
    this.memory = grown;
    if (this.validation) {
      const v = keep(tidy(() => concat([this.validation!, queries], 0)));
      this.validation.dispose();
      this.validation = v;
    }
  }

  async edit(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<EditDelta> {
    await yieldToEventLoop(); // frees the handles of earlier work (see yieldToEventLoop)
    if (!model.tokenizer) throw new ArgumentError('T-Patcher needs a model with a tokenizer');
    if (requests.length === 0) throw new ArgumentError('T-Patcher: expected at least one edit request');
    requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
    const hp = this.resolve(model);
    this.ensureMemory(model, hp, opts);
    const fingerprint = modelFingerprint(model);
    const committed: PatchDelta[] = [];
    const stats: TPatcherEditStats[] = [];
    try {
      for (const [i, r] of requests.entries()) {
        if (opts.signal?.aborted) throw new CancelledError('T-Patcher edit cancelled');
        opts.onProgress?.({ stage: 'T-Patcher', done: i, total: requests.length });
        const { patch, stats: s, queries } = this.editOne(model, hp, r, i, opts.signal);
        stats.push(s);
        if (patch) {
          const d = new PatchDelta(patch, { method: 'T-Patcher' });
          d.apply(model);
          committed.push(d);
        }
        if (queries) {
          if (hp.update_memory && patch) this.appendMemory(queries);
          queries.dispose();
        }
      }
    } finally {
      for (let i = committed.length - 1; i >= 0; i--) committed[i].revert(model);
    }
    opts.onProgress?.({ stage: 'T-Patcher', done: requests.length, total: requests.length });
    const info = { method: 'T-Patcher', modelFingerprint: fingerprint, hparams: hp, requests: requests.map((r) => ({ ...r })), stats: { edits: stats } };
    if (committed.length === 0) return new EditDelta([], info);
    const merged = concatPatches(committed.map((d) => d.patch));
    committed.forEach((d) => d.dispose());
    return new PatchDelta(merged, info);
  }

  /** Trains the patch of one request on the model as it is (earlier patches installed). */
  private editOne(model: CausalLM, hp: TPatcherHyperParams, r: EditRequest, index: number, signal?: AbortSignal): { patch?: PatchWeights; stats: TPatcherEditStats; queries?: Tensor } {
    const t0 = Date.now();
    const tok = model.tokenizer!;
    const statement = fillTemplate(r.prompt, r.subject);
    const target = targetIds(tok, r.targetNew);
    const T = target.length;
    // Row 0 is the edit example itself; further rows put it after generated context prefixes.
    const templates = hp.context_template_length_params.length > 0 ? contextTemplates(model, hp.context_template_length_params, hp.context_template_seed) : ['{}'];
    const prompts = templates.map((t) => tok.encode(t.replace('{}', statement)));
    const R = prompts.length;
    const { ids, mask } = rightPad(
      prompts.map((p) => [...p, ...target]),
      model.config.eosTokenId ?? 0,
    );
    const predicting = prompts.flatMap((p, batch) => target.map((_, j) => ({ batch, token: p.length - 1 + j })));
    const inHook = hookName(hp.layer, 'mlp_in');
    const V = model.config.vocabSize;
    // Which target tokens the example gets wrong now, the layer's queries of every row, and the
    // residual stream entering the patched block (the blocks below never see the patch: every
    // later pass starts there).
    let below: Tensor | undefined;
    const { wrong, rowQueries } = noGrad(() =>
      tidy(() => {
        let q: Tensor | undefined;
        const hooks = { [hookName(hp.layer, 'resid_in')]: (x: Tensor) => void (below = keep(x)), [inHook]: (x: Tensor) => void (q = x) };
        const { logits } = model.forward(ids, { attentionMask: mask, hooks, logitsFor: predicting.slice(0, T) });
        const pred = argmax(logits).data() as Int32Array;
        return { wrong: target.map((_, j) => j).filter((j) => pred[j] !== target[j]), rowQueries: keep(q!) };
      }),
    );
    const startAt = { layer: hp.layer, hidden: below! };
    const base: TPatcherEditStats = {
      subject: r.subject,
      skipped: false,
      success: false,
      accepted: false,
      neurons: 0,
      steps: 0,
      loss: { total: 0, edit: 0, act: 0, mem1: 0, mem2: 0 },
      editPreActivation: 0,
      memoryPreActivation: 0,
      ms: 0,
    };
    // The example's queries (every token but the last) join the memory after the edit (§3.5).
    const queries = keep(tidy(() => gatherAt(rowQueries, ids[0].slice(0, prompts[0].length + T - 1).map((_, token) => ({ batch: 0, token })))));
    if (wrong.length === 0) {
      rowQueries.dispose();
      queries.dispose();
      below!.dispose();
      return { stats: { ...base, skipped: true, success: true, ms: Date.now() - t0 } };
    }
    const errs = wrong.slice(0, hp.max_add_neuron_num);
    const n = errs.length;
    const C = model.config.hiddenSize;
    // qe [R·n, C]: row r's query where it predicts wrong token errs[j] (row-major in r)
    const qe = keep(tidy(() => gatherAt(rowQueries, prompts.flatMap((p, batch) => errs.map((j) => ({ batch, token: p.length - 1 + j }))))));
    rowQueries.dispose();
    const qData = qe.data() as Float32Array;
    // k_j = q_j / ‖q_j‖² of the example (row 0), so that q_j·k_j = 1 at the start (§3.3)
    const K0 = new Float32Array(C * n);
    for (let j = 0; j < n; j++) {
      let nn = 0;
      for (let c = 0; c < C; c++) nn += qData[j * C + c] ** 2;
      for (let c = 0; c < C; c++) K0[c * n + j] = qData[j * C + c] / nn;
    }
    const keys = keep(tensor(K0, [C, n]));
    const bias = keep(zeros([n]));
    const eps = keep(randn([n, C], { seed: hp.seed + index * 7919 }));
    const amp = keep(full([n, 1], hp.amplify_con));
    const params = [keys, bias, eps, amp];
    for (const p of params) p.requiresGrad = true;
    const opt = new AdamW(params, { lr: hp.lr, weightDecay: hp.weight_decay });
    const qeRows = keep(reshape(qe, [R, n, C]));
    const labels = prompts.flatMap(() => target);
    const eI = hp.label_smoothing / (V - 1);
    const actTop = Math.min(ACT_TOP_K, R);
    const example = Array.from({ length: n }, (_, j) => j);
    let lr = hp.lr;
    let bestLoss = Infinity;
    let badChecks = 0;
    let bestVal = Infinity;
    let success = false;
    let steps = 0;
    let last = base.loss;
    let editPre = 0;
    let memPre = 0;
    const memory = this.memory!;
    const validation = this.validation ?? memory;
    const patchOf = (values: Tensor): PatchWeights => ({ layer: hp.layer, activation: model.config.activation, keys, bias, values });
    // pre-activations q·k_j + b_j of every row at its error positions [R, n]
    const editPreActivations = () => add(sum(mul(qeRows, transpose(keys)), 2), bias);
    const isCorrect = (): boolean =>
      noGrad(() =>
        tidy(() => {
          const { logits } = model.forward(ids, { attentionMask: mask, startAt, hooks: patchHooks(patchOf(mul(eps, amp))), logitsFor: predicting });
          const pred = argmax(logits).data() as Int32Array;
          return labels.every((t, j) => pred[j] === t);
        }),
      );
    try {
      for (let step = 0; step < hp.max_edit_step; step++) {
        if (signal?.aborted) throw new CancelledError('T-Patcher edit cancelled');
        last = tidy(() => {
          const values = mul(eps, amp);
          const { logits: rows } = model.forward(ids, { attentionMask: mask, startAt, hooks: patchHooks(patchOf(values)), logitsFor: predicting }); // [R·T, V]
          // fairseq label_smoothed_nll_loss: (1 − ε − ε/(V−1))·nll + ε/(V−1)·Σ_v −log p_v, per target token
          const nll = crossEntropy(rows, labels, { reduction: 'sum' });
          const smooth = neg(sum(logSoftmax(rows)));
          const lE = mulScalar(add(mulScalar(nll, 1 - hp.label_smoothing - eI), mulScalar(smooth, eI)), 1 / (T * R));
          const sE = reshape(editPreActivations(), [R * n]);
          // l_a: per neuron, the mean of the top-5 exp(m_a − a) over the rows (TP-code top5_exp)
          const lA = mean(exp(addScalar(neg(indexSelect(sE, 0, weakestRows(sE.data() as Float32Array, R, n, actTop))), hp.act_margin_val)));
          const mem = memoryLosses(memory, keys, bias, indexSelect(sE, 0, example), hp);
          const loss = add(add(lE, mulScalar(lA, hp.alc)), mulScalar(add(mem.m1, mem.m2), hp.mlc));
          const gs = grad(loss, params);
          // global gradient-norm clip (Lightning gradient_clip_val)
          const norm = Math.sqrt(gs.reduce((s, g) => s + (g.data() as Float32Array).reduce((a, x) => a + x * x, 0), 0));
          opt.update(norm > hp.gradient_clip ? gs.map((g) => mulScalar(g, hp.gradient_clip / (norm + 1e-6))) : gs, lr);
          editPre = Math.min(...(sE.data() as Float32Array));
          memPre = mem.maxPre;
          return { total: loss.item(), edit: lE.item(), act: lA.item(), mem1: mem.m1.item(), mem2: mem.m2.item() };
        });
        steps = step + 1;
        if (steps < hp.start_val_epoch || (steps - hp.start_val_epoch) % hp.check_val_every_n_epoch !== 0) continue;
        // ReduceLROnPlateau(mode=min, threshold=0.05 relative) on the loss at each check
        if (last.total < bestLoss * (1 - 0.05)) {
          bestLoss = last.total;
          badChecks = 0;
        } else if (++badChecks > hp.lr_scheduler_patience) {
          lr *= hp.lr_scheduler_factor;
          badChecks = 0;
        }
        success = isCorrect();
        if (!success) continue;
        if (!hp.use_val) break;
        const val = noGrad(() =>
          tidy(() => {
            const sE = indexSelect(reshape(editPreActivations(), [R * n]), 0, example);
            const m = memoryLosses(validation, keys, bias, sE, hp);
            return m.m1.item() + m.m2.item();
          }),
        );
        if (bestVal - val < hp.early_delta && bestVal !== Infinity) break;
        bestVal = Math.min(bestVal, val);
      }
      if (steps === hp.max_edit_step) success = isCorrect();
    } finally {
      for (const p of params) p.requiresGrad = false;
      opt.dispose();
      qe.dispose();
      qeRows.dispose();
      below!.dispose();
    }
    const accepted = success || this.options.commitFailed === true;
    const stats: TPatcherEditStats = { ...base, success, accepted, neurons: n, steps, loss: last, editPreActivation: editPre, memoryPreActivation: memPre, ms: Date.now() - t0 };
    if (!accepted) {
      params.forEach((p) => p.dispose());
      queries.dispose();
      return { stats };
    }
    const values = keep(noGrad(() => tidy(() => mul(eps, amp))));
    eps.dispose();
    amp.dispose();
    return { patch: { layer: hp.layer, activation: model.config.activation, keys, bias, values }, stats, queries };
  }
}

/** One step of {@link sequentialEdit}. */
export interface SequentialStep {
  index: number;
  request: EditRequest;
  stats: TPatcherEditStats;
}

/**
 * Sequential model editing (T-Patcher §2, Eqs. 2–5): edits the requests one at a time, leaving
 * each accepted patch applied so that `afterEach` sees f_t (e.g. to score SR and GR right after
 * edit t). Returns the applied deltas in order; revert them in reverse order, or call `revertAll`
 * (reverts what is still applied and frees every delta).
 */
export async function sequentialEdit(
  model: CausalLM,
  editor: TPatcherEditor,
  requests: EditRequest[],
  afterEach?: (step: SequentialStep) => void | Promise<void>,
  opts: EditOptions = {},
): Promise<{ deltas: EditDelta[]; steps: SequentialStep[]; revertAll: () => void }> {
  const deltas: EditDelta[] = [];
  const steps: SequentialStep[] = [];
  for (const [index, request] of requests.entries()) {
    if (opts.signal?.aborted) throw new CancelledError('sequential editing cancelled');
    const delta = await editor.edit(model, [request], { signal: opts.signal });
    delta.apply(model);
    deltas.push(delta);
    const stats = (delta.info.stats!.edits as TPatcherEditStats[])[0];
    const step = { index, request, stats };
    steps.push(step);
    opts.onProgress?.({ stage: 'T-Patcher SME', done: index + 1, total: requests.length });
    await afterEach?.(step);
  }
  return {
    deltas,
    steps,
    revertAll: () => {
      for (let i = deltas.length - 1; i >= 0; i--) deltas[i].dispose();
    },
  };
}
