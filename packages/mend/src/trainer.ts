/**
 * The trainer of meta-learned editors (MEND Alg. 1, specs/meta-and-memory.md §1.5; KE's
 * constrained objective, §5.2). Per batch of `batch_size` training edits:
 *
 *   1. p_pre = f_θ(x_loc), no grad (one locality prompt + its answer per edit);
 *   2. W̃ = EDIT(x_e, y_e), keeping the graph through the editor's parameters (no higher-order
 *      gradients into the base model: u and δ are detached, §1.1);
 *   3. L_e on the rephrase x'_e (the paper, not EasyEdit's x_e, §1.5 item 4 [R]);
 *      L_loc = KL(p_pre ‖ p_W̃) over the tokens of x_loc;
 *   4. MEND: L = c_edit·L_e + c_loc·L_loc.
 *      Multimodal examples (MMEdit, §8.3, EasyEdit `MultimodalTrainer.edit_step`): x_e and x'_e are
 *      asked about the edit's image, and two terms join —
 *      L = c_edit·L_e + c_loc·(L_loc + L_loc^image) + i_edit·L_e^image, with L_e^image on x_e
 *      about a rephrased image and L_loc^image the KL on an image + question locality input;
 *      KE:   L = ε-smoothed NLL on x_e and x'_e + λ(L_loc − m); λ ← max(0, λ + lr_α(L_loc − m))
 *            (gradient ascent on the multiplier), m annealed ×0.8 towards m_min after a
 *            validation whose edit accuracy exceeds `anneal_above`;
 *   5. gradients of L/accumulate_bs are summed; every accumulate_bs batches the global norm is
 *      clipped at grad_clip, a non-finite gradient is skipped, and each parameter group takes an
 *      Adam step (MEND: network lr and a separate Adam for the α_ℓ with lr_lr).
 *
 * Every val_interval batches: val_steps validation batches (the same step without parameter
 * updates and without touching running statistics) on the validation split (`validation`; else
 * a `val_fraction` share held out of the training cases);
 * the lowest `loss/total_edit_val` = c_edit·L_e + L_loc (multimodal: + i_edit·L_e^image, L_loc
 * with the image KL) is kept as `best`, training stops after early_stop_patience batches without
 * improvement or at max_iters. Checkpoints are written atomically to `outDir`: `best`, and `last`
 * holding the editor, the optimiser state and the trainer state in one file; `resume` continues
 * from `last` bit-for-bit (batches are a pure function of (seed, iteration)), whenever the
 * previous run was stopped, even by kill -9.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  AdamW,
  ArgumentError,
  CancelledError,
  type CausalLM,
  type Editor,
  type MlpLinear,
  type RgbImage,
  Tensor,
  add,
  addInplace,
  copyInplace,
  grad,
  isGradEnabled,
  keep,
  logSoftmax,
  mulberry32,
  mulScalar,
  noGrad,
  scalar,
  sub,
  tidy,
  withWeights,
  zeros,
  writeFileAtomic,
} from '@medit/core';

import { localityKl, objectiveNll, smoothedNll, targetBatch, textBatch, tokenAccuracy, type TrainingExample } from './examples';
import { loadEditorFile } from './editor-file';
import type { TrainHyperParams } from './hparams';

/** How the trainer combines the edit and locality losses. */
export type TrainingObjective =
  | { kind: 'weighted' }
  | { kind: 'constrained'; eps: number; marginMax: number; marginMin: number; lrAlpha: number; annealAbove: number };

/** An editor the trainer can train (MEND, KE). */
export interface TrainableEditor extends Editor {
  readonly hparams: TrainHyperParams;
  readonly linears: readonly MlpLinear[];
  readonly objective: TrainingObjective;
  /** Trained tensors by optimiser group, each with its Adam learning rate. */
  parameterGroups(): { name: string; params: Tensor[]; lr: number }[];
  /**
   * The post-edit weights W + ΔW for a batch of edits, differentiable in the editor's parameters
   * (`train`: the pass may update running statistics).
   */
  trainingWeights(model: CausalLM, batch: readonly TrainingExample[], train: boolean): Map<string, Tensor>;
  /** Writes the editor file (`training` goes into its description; `extra` tensors into the same file). */
  save(file: string, training?: Record<string, unknown>, extra?: ReadonlyMap<string, Tensor>): Promise<void>;
}

/** One line of the training log. */
export interface TrainLogRow {
  iter: number;
  kind: 'train' | 'val';
  /** c_edit·L_e + L_loc (the validation criterion), averaged over the batches reported */
  loss: number;
  editLoss: number;
  locLoss: number;
  /** teacher-forced token accuracy of y_e on the rephrase after the edit */
  editAcc: number;
  /** the same on x_e itself */
  rewriteAcc?: number;
  /** multimodal examples: L_e on a rephrased image, its token accuracy, and the image locality KL */
  imageEditLoss?: number;
  imageEditAcc?: number;
  imageLocLoss?: number;
  /** KE: the multiplier λ and the margin m */
  lambda?: number;
  margin?: number;
  seconds: number;
}

export interface TrainOptions {
  model: CausalLM;
  /** the training split (without `validation`, a `val_fraction` share is held out of it) */
  examples: readonly TrainingExample[];
  /** the validation split for the validation loss and early stopping; all of `examples` then train */
  validation?: readonly TrainingExample[];
  /**
   * What the editor was trained and validated on (dataset files, cases), recorded as `data` in
   * the editor file's `training` summary so that what it saw can be checked later.
   */
  data?: readonly object[];
  /** The command that trained the editor, recorded as `command` in the same summary. */
  command?: string;
  /** checkpoints and the JSON-lines log go here */
  outDir: string;
  /** continue from `outDir/last.safetensors` (the editor passed in must be loaded from it) */
  resume?: boolean;
  onProgress?: (row: TrainLogRow) => void;
  signal?: AbortSignal;
  /** report a training row every this many batches (default val_interval / 10) */
  logEvery?: number;
}

/** What {@link trainEditor} returns. */
export interface TrainResult {
  iterations: number;
  bestIter: number;
  bestValLoss: number;
  /** `outDir/best.safetensors` */
  bestFile: string;
  stoppedBy: 'max_iters' | 'early_stop';
  seconds: number;
}

/** Holds out a deterministic `fraction` of the examples for validation. @internal */
export function splitValidation<T>(examples: readonly T[], fraction: number, seed: number): { train: T[]; val: T[] } {
  const order = examples.map((_, i) => i);
  const rng = mulberry32(seed ^ 0x5eed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const nVal = Math.max(1, Math.round(examples.length * fraction));
  if (examples.length - nVal < 1) throw new ArgumentError(`need at least 2 training examples to hold out a validation share, got ${examples.length}`);
  return { val: order.slice(0, nVal).map((i) => examples[i]), train: order.slice(nVal).map((i) => examples[i]) };
}

interface Drawn {
  edits: TrainingExample[];
  rephrases: string[];
  locality: string[];
  /** multimodal batches (every edit has an image): a rephrased image per edit and an image locality input */
  image?: { rephrases: RgbImage[]; locality: { image: RgbImage; text: string }[] };
}

/** The batch of iteration `iter`: a pure function of (seed, iter). */
function draw(pool: readonly TrainingExample[], size: number, seed: number, iter: number): Drawn {
  const rng = mulberry32((seed * 1_000_003 + iter * 7919) >>> 0);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
  const edits = Array.from({ length: size }, () => pick(pool));
  const drawn: Drawn = {
    edits,
    rephrases: edits.map((e) => pick(e.rephrases)),
    locality: edits.map((e) => {
      const l = pick(e.locality);
      return `${l.prompt} ${l.answer}`;
    }),
  };
  if (edits.every((e) => e.image && e.imageRephrases?.length && e.imageLocality?.length)) {
    drawn.image = {
      rephrases: edits.map((e) => pick(e.imageRephrases!)),
      locality: edits.map((e) => {
        const l = pick(e.imageLocality!);
        return { image: l.image, text: `${l.prompt} ${l.answer}` };
      }),
    };
  }
  return drawn;
}

interface StepOut {
  loss: Tensor;
  row: Omit<TrainLogRow, 'iter' | 'kind' | 'seconds'>;
}

/** One forward pass of the objective on a drawn batch (spec §1.5 steps 2–6). */
function objectiveStep(editor: TrainableEditor, model: CausalLM, b: Drawn, train: boolean, lambda: number, margin: number): StepOut {
  const tok = model.tokenizer!;
  const pad = model.config.eosTokenId ?? 0;
  const hp = editor.hparams;
  const loc = textBatch(tok, b.locality, pad);
  const pre = noGrad(() => logSoftmax(model.forward(loc.ids, { attentionMask: loc.mask }).logits));
  // images of the edits (x_e and x'_e ask about them); undefined for text-only training
  const images = b.edits.some((e) => e.image) ? b.edits.map((e) => e.image ?? null) : undefined;
  const mm = b.image;
  const mloc = mm ? textBatch(tok, mm.locality.map((l) => l.text), pad) : null;
  const mlocImages = mm?.locality.map((l) => l.image);
  const preImage = mloc ? noGrad(() => logSoftmax(model.forward(mloc.ids, { attentionMask: mloc.mask, images: mlocImages }).logits)) : null;
  const weights = editor.trainingWeights(model, b.edits, train);
  const reph = targetBatch(
    tok,
    b.edits.map((e, i) => ({ prompt: b.rephrases[i], target: e.target })),
    pad,
  );
  const obj = editor.objective;
  const needRewrite = obj.kind === 'constrained' || !train;
  const rew = needRewrite || mm ? targetBatch(tok, b.edits, pad) : null;
  return withWeights(model, weights, () => {
    const rLogits = model.forward(reph.ids, { attentionMask: reph.mask, images }).logits;
    const editLoss = objectiveNll(rLogits, reph.labels, b.edits.length, hp.edit_nll);
    let locLoss = localityKl(pre, model.forward(loc.ids, { attentionMask: loc.mask }).logits, loc.mask);
    const editAcc = tokenAccuracy(rLogits, reph.labels);
    // MMEdit's image terms: x_e about a rephrased image, and the KL on an image locality input
    let imageEdit: { loss: Tensor; logits: Tensor } | null = null;
    let imageLoc: Tensor | null = null;
    if (mm && rew && mloc && preImage) {
      const iLogits = model.forward(rew.ids, { attentionMask: rew.mask, images: mm.rephrases }).logits;
      imageEdit = { loss: objectiveNll(iLogits, rew.labels, b.edits.length, hp.edit_nll), logits: iLogits };
      imageLoc = localityKl(preImage, model.forward(mloc.ids, { attentionMask: mloc.mask, images: mlocImages }).logits, mloc.mask);
      locLoss = add(locLoss, imageLoc);
    }
    let rewriteAcc: number | undefined;
    let loss: Tensor;
    if (obj.kind === 'weighted') {
      loss = add(mulScalar(editLoss, hp.cedit), mulScalar(locLoss, hp.cloc));
      if (imageEdit) loss = add(loss, mulScalar(imageEdit.loss, hp.iedit));
      if (needRewrite && rew) rewriteAcc = noGrad(() => tokenAccuracy(model.forward(rew.ids, { attentionMask: rew.mask, images }).logits, rew.labels));
    } else {
      const eLogits = model.forward(rew!.ids, { attentionMask: rew!.mask, images }).logits;
      rewriteAcc = tokenAccuracy(eLogits, rew!.labels);
      let cr = add(smoothedNll(eLogits, rew!.labels, obj.eps), smoothedNll(rLogits, reph.labels, obj.eps));
      if (imageEdit) cr = add(cr, smoothedNll(imageEdit.logits, rew!.labels, obj.eps));
      loss = add(cr, mulScalar(sub(locLoss, scalar(margin)), lambda));
    }
    const e = editLoss.item();
    const l = locLoss.item();
    const ie = imageEdit?.loss.item();
    const row: StepOut['row'] = { loss: hp.cedit * e + l + (ie === undefined ? 0 : hp.iedit * ie), editLoss: e, locLoss: l, editAcc, rewriteAcc };
    if (imageEdit && imageLoc) Object.assign(row, { imageEditLoss: ie, imageEditAcc: tokenAccuracy(imageEdit.logits, rew!.labels), imageLocLoss: imageLoc.item() });
    return { loss, row };
  });
}

function mean(rows: StepOut['row'][]): StepOut['row'] {
  const avg = (f: (r: StepOut['row']) => number | undefined) => {
    const xs = rows.map(f).filter((x): x is number => x !== undefined);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
  };
  const out: StepOut['row'] = { loss: avg((r) => r.loss)!, editLoss: avg((r) => r.editLoss)!, locLoss: avg((r) => r.locLoss)!, editAcc: avg((r) => r.editAcc)!, rewriteAcc: avg((r) => r.rewriteAcc) };
  const ie = avg((r) => r.imageEditLoss);
  if (ie !== undefined) Object.assign(out, { imageEditLoss: ie, imageEditAcc: avg((r) => r.imageEditAcc), imageLocLoss: avg((r) => r.imageLocLoss) });
  return out;
}

interface TrainerState {
  iter: number;
  bestIter: number;
  bestValLoss: number;
  lambda: number;
  margin: number;
  seconds: number;
}

/** A copy of the last checkpoint's state for people to read; resuming reads `last.safetensors`. */
const STATE_FILE = 'trainer-state.json';
const LAST_FILE = 'last.safetensors';
const LOG_FILE = 'train-log.jsonl';

/**
 * Writes the checkpoint as ONE file: the editor, the optimiser moments (`optimizer.<group>.<i>.m|v`)
 * and the trainer state (in the description, with `data`: what the editor trains on), so a kill at
 * any moment leaves the previous checkpoint or this one, never an editor from one iteration beside
 * optimiser state from another.
 */
async function saveCheckpoint(outDir: string, editor: TrainableEditor, opts: AdamW[], state: TrainerState, data: Record<string, unknown>): Promise<void> {
  const tensors = new Map<string, Tensor>();
  opts.forEach((o, g) =>
    o.exportState().moments.forEach((m, i) => {
      if (!m) return;
      tensors.set(`optimizer.${g}.${i}.m`, m.m);
      tensors.set(`optimizer.${g}.${i}.v`, m.v);
    }),
  );
  await editor.save(path.join(outDir, LAST_FILE), { ...state, ...data, optimizerSteps: opts.map((o) => o.exportState().step) }, tensors);
  writeFileAtomic(path.join(outDir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

/** Restores the optimisers from `last.safetensors` and returns the trainer state saved with it. */
async function loadCheckpoint(outDir: string, editor: TrainableEditor, opts: AdamW[]): Promise<TrainerState> {
  const file = path.join(outDir, LAST_FILE);
  if (!fs.existsSync(file)) throw new ArgumentError(`cannot resume: ${file} does not exist`);
  const { tensors, info } = await loadEditorFile(file, editor.name);
  try {
    const saved = info.training as (TrainerState & { optimizerSteps?: number[]; data?: unknown; command?: unknown }) | undefined;
    if (!saved || !Array.isArray(saved.optimizerSteps) || saved.optimizerSteps.length !== opts.length) {
      throw new ArgumentError(`cannot resume from ${file}: it holds no trainer checkpoint (a best.safetensors-style editor, or one written by an older medit)`);
    }
    const { optimizerSteps, data: _data, command: _command, ...state } = saved;
    // JSON writes Infinity (no validation yet) as null.
    if (typeof state.bestValLoss !== 'number') state.bestValLoss = Infinity;
    opts.forEach((o, g) => {
      const moments = o.params.map((_, i) => {
        const m = tensors.get(`optimizer.${g}.${i}.m`);
        const v = tensors.get(`optimizer.${g}.${i}.v`);
        return m && v ? { m, v } : null;
      });
      o.importState({ step: optimizerSteps[g], moments });
    });
    return state;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** Drops log rows past the checkpoint a run resumes from (they belong to iterations it will redo). */
function truncateLog(logFile: string, iter: number): void {
  if (!fs.existsSync(logFile)) return;
  const rows = fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const kept = rows.filter((l) => {
    try {
      return (JSON.parse(l) as TrainLogRow).iter <= iter;
    } catch {
      return false; // a line cut by the kill
    }
  });
  if (kept.length !== rows.length) writeFileAtomic(logFile, kept.map((l) => l + '\n').join(''));
}

/**
 * Trains `editor` on `model` (the base model's weights are never changed) and writes
 * `outDir/{best,last}.safetensors`, `trainer-state.json` and `train-log.jsonl`. The editor ends in its last state; load `best` for use.
 * @throws CancelledError when `signal` aborts (after writing a checkpoint to resume from)
 */
export async function trainEditor(editor: TrainableEditor, opts: TrainOptions): Promise<TrainResult> {
  const { model, outDir } = opts;
  const hp = editor.hparams;
  if (!model.tokenizer) throw new ArgumentError('training an editor needs a model with a tokenizer');
  if (!isGradEnabled()) throw new ArgumentError('trainEditor: gradients are disabled (called inside noGrad)');
  fs.mkdirSync(outDir, { recursive: true });
  if (opts.validation?.length === 0) throw new ArgumentError('trainEditor: the validation split is empty');
  const { train, val } = opts.validation ? { train: [...opts.examples], val: [...opts.validation] } : splitValidation(opts.examples, hp.val_fraction, hp.seed);
  const data = { ...(opts.data ? { data: opts.data } : {}), ...(opts.command ? { command: opts.command } : {}) };
  const groups = editor.parameterGroups();
  const optimizers = groups.map((g) => new AdamW(g.params, { lr: g.lr, weightDecay: 0 }));
  const params = groups.flatMap((g) => g.params);
  const obj = editor.objective;
  let state: TrainerState = {
    iter: 0,
    bestIter: -1,
    bestValLoss: Infinity,
    lambda: 1,
    margin: obj.kind === 'constrained' ? obj.marginMax : 0,
    seconds: 0,
  };
  const logFile = path.join(outDir, LOG_FILE);
  if (opts.resume) {
    state = await loadCheckpoint(outDir, editor, optimizers);
    truncateLog(logFile, state.iter);
  }
  const log = (row: TrainLogRow) => {
    fs.appendFileSync(logFile, JSON.stringify(row) + '\n');
    opts.onProgress?.(row);
  };
  const accum = params.map((p) => keep(zeros(p.shape, p.dtype)));
  const logEvery = opts.logEvery ?? Math.max(1, Math.floor(hp.val_interval / 10));
  const t0 = Date.now() - state.seconds * 1000;
  const seconds = () => (Date.now() - t0) / 1000;
  let recent: StepOut['row'][] = [];
  let stoppedBy: TrainResult['stoppedBy'] = 'max_iters';
  let klSum = 0;
  try {
    while (state.iter < hp.max_iters) {
      if (opts.signal?.aborted) {
        state.seconds = seconds();
        await saveCheckpoint(outDir, editor, optimizers, state, data);
        throw new CancelledError(`training cancelled at iteration ${state.iter}; resume from ${outDir}`);
      }
      // Yield to the event loop so a pending SIGINT can abort between batches.
      await new Promise((resolve) => setImmediate(resolve));
      const batch = draw(train, hp.batch_size, hp.seed, state.iter);
      tidy(() => {
        const out = objectiveStep(editor, model, batch, true, state.lambda, state.margin);
        const grads = grad(mulScalar(out.loss, 1 / hp.accumulate_bs), params);
        grads.forEach((g, i) => addInplace(accum[i], g));
        recent.push(out.row);
        klSum += out.row.locLoss;
      });
      state.iter++;
      if (state.iter % hp.accumulate_bs === 0) {
        step(optimizers, groups, accum, hp.grad_clip);
        if (obj.kind === 'constrained') {
          // Gradient ascent on λ with the mean KL of the accumulated batches, clamped at 0.
          state.lambda = Math.max(0, state.lambda + obj.lrAlpha * (klSum / hp.accumulate_bs - state.margin));
        }
        klSum = 0;
      }
      if (state.iter % logEvery === 0) {
        log({ iter: state.iter, kind: 'train', ...mean(recent), ...(obj.kind === 'constrained' ? { lambda: state.lambda, margin: state.margin } : {}), seconds: seconds() });
        recent = [];
      }
      if (state.iter % hp.val_interval === 0 || state.iter === hp.max_iters) {
        const rows: StepOut['row'][] = [];
        for (let v = 0; v < hp.val_steps; v++) {
          if (opts.signal?.aborted) break;
          const vb = draw(val, hp.batch_size, hp.seed + 1, v);
          rows.push(tidy(() => objectiveStep(editor, model, vb, false, state.lambda, state.margin).row));
        }
        const m = mean(rows);
        log({ iter: state.iter, kind: 'val', ...m, seconds: seconds() });
        if (obj.kind === 'constrained' && (m.rewriteAcc ?? 0) > obj.annealAbove) state.margin = Math.max(0.8 * state.margin, obj.marginMin);
        if (m.loss < state.bestValLoss) {
          state.bestValLoss = m.loss;
          state.bestIter = state.iter;
          state.seconds = seconds();
          await editor.save(path.join(outDir, 'best.safetensors'), { ...state, ...data });
        }
        state.seconds = seconds();
        await saveCheckpoint(outDir, editor, optimizers, state, data);
        if (state.iter - state.bestIter >= hp.early_stop_patience) {
          stoppedBy = 'early_stop';
          break;
        }
      }
    }
  } finally {
    for (const a of accum) a.dispose();
    for (const o of optimizers) o.dispose();
  }
  return { iterations: state.iter, bestIter: state.bestIter, bestValLoss: state.bestValLoss, bestFile: path.join(outDir, 'best.safetensors'), stoppedBy, seconds: seconds() };
}

/** Clip the global gradient norm, skip non-finite gradients, step each group, zero the sums. */
function step(optimizers: AdamW[], groups: { params: Tensor[] }[], accum: Tensor[], clip: number): void {
  let sq = 0;
  for (const a of accum) for (const x of a.data() as Float32Array) sq += x * x;
  const norm = Math.sqrt(sq);
  if (Number.isFinite(norm)) {
    const scale = norm > clip ? clip / norm : 1;
    tidy(() => {
      let at = 0;
      optimizers.forEach((o, g) => {
        const gs = accum.slice(at, at + groups[g].params.length).map((a) => (scale === 1 ? a : mulScalar(a, scale)));
        at += groups[g].params.length;
        o.update(gs);
      });
    });
  }
  tidy(() => {
    for (const a of accum) copyInplace(a, zeros(a.shape, a.dtype));
  });
}

