/**
 * A resumable language-model training loop on medit's engine (AdamW through its autograd), shared
 * by the fact-world and fact-base trainers.
 *
 * Each epoch of each phase takes its documents from the caller, packs them into rows
 * ({@link packRows}, shuffled with a seeded generator) and steps through them in batches; the
 * learning rate warms up linearly, stays, and decays linearly to 10 % over the last 20 % of
 * `totalSteps`.
 *
 * Checkpoints (every `checkpointEverySeconds`, when stopped, and at the end) hold the weights, the
 * AdamW moments and step, the generator's position at the start of the current epoch, the next
 * batch, the loss sums, the history and the training time so far; `resume` continues from one
 * bit-exactly: the epoch's rows are rebuilt from the same generator position and documents, and
 * every later step sees the same weights, moments, batch and learning rate as an uninterrupted
 * run. Training time adds up across resumed runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { AdamW, type CausalLM, Tensor, copyInplace, crossEntropy, grad, readTensorDocument, tidy, writeTensorDocument } from '@medit/core';

import { Rng } from '../factworld/prng';
import { packRows } from './pack';

/** A stretch of training over one kind of text. */
export interface TrainingPhase {
  name: string;
  epochs: number;
  /** Tokenised documents of this phase's epoch `epoch` (0-based); called again on resume, so it must be pure. */
  documents(epoch: number): number[][];
}

/** Optimiser schedule. */
export interface TrainingSchedule {
  batchSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  /** Steps the run is planned for (the decay ends there). */
  totalSteps: number;
}

/** One epoch's summary. */
export interface EpochEntry {
  phase: number;
  epoch: number;
  /** mean loss over the epoch's batches */
  loss: number;
  /** training seconds when the epoch ended (all runs together) */
  seconds: number;
  step: number;
  tokens: number;
}

/** Options of {@link trainLanguageModel}. */
export interface TrainOptions {
  model: CausalLM;
  /** Tokens per row (≤ the model's context). */
  row: number;
  /** EOS id: document separator and padding. */
  eos: number;
  /** Seed of the row order. */
  seed: number;
  phases: TrainingPhase[];
  schedule: TrainingSchedule;
  /** Where checkpoints go (`checkpoint.safetensors`: tensors and trainer state in one file); none: no checkpoints. */
  checkpointDir?: string;
  /** Seconds between checkpoints (default 300). */
  checkpointEverySeconds?: number;
  /** Continue from the checkpoint in `checkpointDir`. */
  resume?: boolean;
  /** Write a checkpoint and return once this many steps are done (pilots, interrupted runs). */
  stopAtStep?: number;
  /** Write a checkpoint and return after the current step when aborted (SIGINT / SIGTERM). */
  signal?: AbortSignal;
  /** Called every `logEvery` steps with the mean loss of those steps. */
  onLog?(row: { step: number; loss: number; seconds: number; tokens: number }): void;
  logEvery?: number;
  onEpoch?(entry: EpochEntry): void;
}

/** What {@link trainLanguageModel} returns. */
export interface TrainResult {
  steps: number;
  /** non-padding target tokens trained on */
  tokens: number;
  /** training seconds, all runs together */
  trainSeconds: number;
  history: EpochEntry[];
  /** 'done' when every epoch ran; otherwise why it stopped (a checkpoint was written) */
  stoppedBy: 'done' | 'stopAtStep' | 'signal';
}

/** Everything besides tensors that a checkpoint restores. */
interface TrainerState {
  format: 'medit-lm-trainer/1';
  phase: number;
  epoch: number;
  /** next batch of the current epoch */
  batch: number;
  /** generator position before the current epoch's shuffle */
  epochRng: number;
  step: number;
  tokens: number;
  seconds: number;
  lossSum: number;
  batches: number;
  history: EpochEntry[];
  /** what the run was started with; a resume must match */
  fingerprint: string;
}

const CHECKPOINT = 'checkpoint.safetensors';
const STATE_FORMAT = 'medit-lm-trainer/1';

/**
 * Learning rate at `step` (0-based). Steps past `totalSteps` (packing can give an epoch a few more
 * rows than planned) keep the final 10 %.
 * @internal
 */
export function learningRate(s: TrainingSchedule, step: number): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const decayFrom = Math.floor(s.totalSteps * 0.8);
  if (step < decayFrom) return s.lr;
  return s.lr * Math.max(0.1, 1 - (0.9 * (step - decayFrom)) / Math.max(s.totalSteps - decayFrom, 1));
}

function fingerprint(opts: TrainOptions): string {
  return JSON.stringify({ row: opts.row, eos: opts.eos, seed: opts.seed, schedule: opts.schedule, phases: opts.phases.map((p) => [p.name, p.epochs]), config: opts.model.config.raw });
}

/** Whether `dir` holds a checkpoint to resume from. */
export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(path.join(dir, CHECKPOINT));
}

/** One file (tensors + state in its header), written atomically: a kill leaves the previous checkpoint or this one. */
async function saveCheckpoint(dir: string, model: CausalLM, opt: AdamW, state: TrainerState): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, ReturnType<Tensor['handle']>>();
  for (const [name, p] of model.params) tensors.set(`param.${name}`, p.handle());
  const { step, moments } = opt.exportState();
  moments.forEach((m, i) => {
    if (!m) return;
    tensors.set(`adam.${i}.m`, m.m.handle());
    tensors.set(`adam.${i}.v`, m.v.handle());
  });
  await writeTensorDocument(path.join(dir, CHECKPOINT), tensors, STATE_FORMAT, { ...state, adamStep: step });
}

/** Copies a checkpoint's `param.*` tensors into the model's parameters (`prefix` starts a missing tensor's error). */
function copyParams(owned: Map<string, Tensor>, model: CausalLM, prefix: string): void {
  for (const [name, p] of model.params) {
    const t = owned.get(`param.${name}`);
    if (!t) throw new Error(`${prefix} lacks tensor param.${name}`);
    copyInplace(p, t);
  }
}

/**
 * Loads a checkpoint's weights into `model` (same shape as the trained one) without the trainer
 * state: to look at a run while it trains.
 * @returns the step the checkpoint was written at
 */
export async function loadCheckpointWeights(file: string, model: CausalLM): Promise<number> {
  const doc = await readTensorDocument(file, STATE_FORMAT, 'training checkpoint');
  const owned = new Map([...doc.tensors].map(([k, h]) => [k, new Tensor(h)]));
  try {
    copyParams(owned, model, file);
    return (doc.document as unknown as TrainerState).step;
  } finally {
    for (const t of owned.values()) t.dispose();
  }
}

async function loadCheckpoint(dir: string, model: CausalLM, opt: AdamW, expected: string): Promise<TrainerState> {
  const file = path.join(dir, CHECKPOINT);
  if (!fs.existsSync(file)) throw new Error(`cannot resume: ${file} does not exist`);
  const doc = await readTensorDocument(file, STATE_FORMAT, 'training checkpoint');
  const owned = new Map([...doc.tensors].map(([k, h]) => [k, new Tensor(h)]));
  try {
    const { adamStep, ...state } = doc.document as unknown as TrainerState & { adamStep: number };
    if (state.fingerprint !== expected) throw new Error(`cannot resume: ${file} was written by a run with other settings (model, schedule, phases or seed)`);
    copyParams(owned, model, `cannot resume: ${file}`);
    opt.importState({
      step: adamStep,
      moments: opt.params.map((_, i) => {
        const m = owned.get(`adam.${i}.m`);
        const v = owned.get(`adam.${i}.v`);
        return m && v ? { m, v } : null;
      }),
    });
    return state;
  } finally {
    for (const t of owned.values()) t.dispose();
  }
}

/**
 * Trains `model` in place through `phases`.
 * @throws when resuming from a missing or mismatched checkpoint
 * @example
 * const r = await trainLanguageModel({ model, row: 64, eos: 0, seed: 1, phases, schedule, checkpointDir: 'ckpt' });
 */
export async function trainLanguageModel(opts: TrainOptions): Promise<TrainResult> {
  const { model, schedule } = opts;
  if (opts.row > model.config.maxPositions) throw new Error(`row ${opts.row} exceeds the model's context of ${model.config.maxPositions}`);
  if ((opts.resume || opts.stopAtStep !== undefined || opts.signal) && !opts.checkpointDir) throw new Error('resume, stopAtStep and signal need a checkpointDir');
  const params = [...model.params.values()];
  for (const p of params) p.requiresGrad = true;
  const opt = new AdamW(params, { lr: schedule.lr, weightDecay: schedule.weightDecay });
  const print = fingerprint(opts);
  let state: TrainerState = {
    format: 'medit-lm-trainer/1', phase: 0, epoch: 0, batch: 0, epochRng: opts.seed >>> 0,
    step: 0, tokens: 0, seconds: 0, lossSum: 0, batches: 0, history: [], fingerprint: print,
  };
  try {
    if (opts.resume) state = await loadCheckpoint(opts.checkpointDir!, model, opt, print);
    const started = Date.now();
    const base = state.seconds;
    const seconds = () => base + (Date.now() - started) / 1000;
    let lastCheckpoint = Date.now();
    const every = (opts.checkpointEverySeconds ?? 300) * 1000;
    const checkpoint = async () => {
      if (!opts.checkpointDir) return;
      state.seconds = seconds();
      await saveCheckpoint(opts.checkpointDir, model, opt, state);
      lastCheckpoint = Date.now();
    };
    const logEvery = opts.logEvery ?? 50;
    let recent: number[] = [];
    const rng = new Rng(state.epochRng);
    for (; state.phase < opts.phases.length; state.phase++, state.epoch = 0) {
      const phase = opts.phases[state.phase];
      for (; state.epoch < phase.epochs; state.epoch++) {
        state.epochRng = rng.position();
        const { ids, targets } = packRows(phase.documents(state.epoch), opts.eos, () => rng.next(), opts.row);
        const bs = schedule.batchSize;
        for (; state.batch * bs < ids.length; state.batch++) {
          const b = state.batch * bs;
          const bTargets = targets.slice(b, b + bs).flat();
          const loss = tidy(() => {
            const l = crossEntropy(model.forward(ids.slice(b, b + bs)).logits, bTargets);
            opt.update(grad(l, params), learningRate(schedule, state.step));
            return l.item();
          });
          state.lossSum += loss;
          state.batches++;
          state.step++;
          state.tokens += bTargets.filter((t) => t !== -100).length;
          recent.push(loss);
          if (opts.onLog && state.step % logEvery === 0) {
            opts.onLog({ step: state.step, loss: recent.reduce((x, y) => x + y, 0) / recent.length, seconds: seconds(), tokens: state.tokens });
            recent = [];
          }
          // Yield so a pending SIGINT / SIGTERM can abort between steps.
          await new Promise((resolve) => setImmediate(resolve));
          const stop = opts.stopAtStep !== undefined && state.step >= opts.stopAtStep ? 'stopAtStep' : opts.signal?.aborted ? 'signal' : undefined;
          if (stop) {
            state.batch++;
            await checkpoint();
            return { steps: state.step, tokens: state.tokens, trainSeconds: state.seconds, history: state.history, stoppedBy: stop };
          }
          if (Date.now() - lastCheckpoint >= every) {
            state.batch++;
            await checkpoint();
            state.batch--;
          }
        }
        const entry: EpochEntry = { phase: state.phase, epoch: state.epoch, loss: state.lossSum / Math.max(state.batches, 1), seconds: seconds(), step: state.step, tokens: state.tokens };
        state.history.push(entry);
        opts.onEpoch?.(entry);
        state.batch = 0;
        state.lossSum = 0;
        state.batches = 0;
      }
    }
    state.epochRng = rng.position();
    await checkpoint();
    state.seconds = seconds();
    return { steps: state.step, tokens: state.tokens, trainSeconds: state.seconds, history: state.history, stoppedBy: 'done' };
  } finally {
    opt.dispose();
    for (const p of params) p.requiresGrad = false;
  }
}
