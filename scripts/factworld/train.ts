/**
 * Trains the fact-world models with medit's own engine (AdamW through the engine's
 * autograd) and saves them as Hugging Face directories:
 *
 *   node scripts/dist/factworld/train.js --preset fact-tiny  --out test-fixtures/models/fact-tiny
 *   node scripts/dist/factworld/train.js --preset fact-small --out test-fixtures/models/fact-small
 *   node scripts/dist/factworld/train.js --preset fact-llama --out test-fixtures/models/fact-llama
 *
 * A checkpoint is written after every epoch (`<out>.ckpt.safetensors`); `--resume` continues a
 * stopped or killed run from it, bit for bit.
 *
 * Corpus lines are packed whole into 64-token rows (lines joined by <|endoftext|>, rows
 * padded with it and the padding ignored by the loss), shuffled per epoch with a seeded
 * generator; phases follow test-fixtures/factworld/curriculum.json's order (the 100-subject
 * sub-world first, then everything). Deterministic for a given preset and seed.
 * Writes training.json (time, steps, tokens, losses, recall) beside the weights, and
 * answers.json (the facts the model knows, for build-edits).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  AdamW,
  type CausalLM,
  Tensor,
  Tokenizer,
  copyInplace,
  createModel,
  crossEntropy,
  grad,
  mulberry32,
  readTensorDocument,
  saveModel,
  tidy,
  writeTensorDocument,
} from '@medit/core';

import { loadWorld } from './load';
import { measureRecall } from './recall';
import { tinyFacts } from './world';
import { arg } from '../args';

export const ROW = 64;

export interface Phase {
  corpus: string;
  epochs: number;
}

export interface Preset {
  /** config.json fields of the model's family (vocabulary, special ids and dtype are added) */
  model: Record<string, unknown>;
  phases: Phase[];
  batchSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  /** facts to measure recall on at the end: the sub-world or all */
  recallOn: 'tiny' | 'full';
}

/** GPT-2 config.json fields shared by the GPT-2 presets. */
const GPT2 = {
  model_type: 'gpt2',
  architectures: ['GPT2LMHeadModel'],
  n_positions: ROW,
  activation_function: 'gelu_new',
  layer_norm_epsilon: 1e-5,
};

/** Schedule of every preset: batch 16, lr 3e-3 after a 200-step warm-up, as issue 14's PyTorch reference runs. */
const SCHEDULE = { batchSize: 16, lr: 3e-3, warmupSteps: 200, weightDecay: 0.01 };

const PRESETS: Record<string, Preset> = {
  'fact-tiny': {
    model: { ...GPT2, n_embd: 128, n_layer: 2, n_head: 4 },
    phases: [{ corpus: 'train-tiny.txt', epochs: 60 }],
    ...SCHEDULE,
    recallOn: 'tiny',
  },
  'fact-small': {
    model: { ...GPT2, n_embd: 160, n_layer: 4, n_head: 5 },
    phases: [
      { corpus: 'train-tiny.txt', epochs: 20 },
      { corpus: 'train-full.txt', epochs: 10 },
    ],
    ...SCHEDULE,
    recallOn: 'full',
  },
  // The Llama family on the sub-world (issue 8): RMSNorm, rotary positions, SwiGLU MLP and
  // grouped-query attention (4 query heads share 2 key/value heads); 4 layers so that ROME has
  // blocks after its edited layer. Same schedule as fact-tiny.
  'fact-llama': {
    model: {
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      hidden_size: 128,
      intermediate_size: 344,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: ROW,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      hidden_act: 'silu',
    },
    phases: [{ corpus: 'train-tiny.txt', epochs: 60 }],
    ...SCHEDULE,
    recallOn: 'tiny',
  },
};

/** Packs tokenised lines into rows of ROW tokens; returns rows and their loss targets. */
export function packRows(lines: number[][], eos: number, rng: () => number): { ids: number[][]; targets: number[][] } {
  const order = lines.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const ids: number[][] = [];
  const targets: number[][] = [];
  let row: number[] = [];
  const flush = () => {
    if (row.length === 0) return;
    const n = row.length;
    const padded = [...row, ...Array(ROW - n).fill(eos)];
    ids.push(padded);
    // next-token targets; padding positions ignored
    targets.push(padded.map((_, t) => (t + 1 < n ? padded[t + 1] : -100)));
    row = [];
  };
  for (const k of order) {
    const line = lines[k].slice(0, ROW - 1);
    const need = row.length === 0 ? line.length : line.length + 1;
    if (row.length + need > ROW) flush();
    if (row.length > 0) row.push(eos);
    row.push(...line);
  }
  flush();
  return { ids, targets };
}

/** What one training run needs; {@link PRESETS} holds the fact-world models'. */
export interface TrainRun {
  presetName: string;
  preset: Preset;
  worldDir: string;
  out: string;
  seed: number;
  /** continue from `<out>.ckpt.safetensors` when it exists */
  resume?: boolean;
  /** JSON lines of progress (default: console.log) */
  log?: (row: Record<string, unknown>) => void;
}

/** Format of the resumable checkpoint written after every epoch. */
const CKPT_FORMAT = 'medit-factworld-train';

/** The checkpoint's description: where training stands. */
interface TrainState {
  preset: string;
  seed: number;
  /** the next epoch to run: phase index and epoch within it */
  phase: number;
  epoch: number;
  step: number;
  tokens: number;
  seconds: number;
  adamStep: number;
  stopped: boolean;
  history: { phase: number; epoch: number; loss: number; seconds: number }[];
}

/** `<out>.ckpt.safetensors`: the weights, AdamW's moments and the state, written as one file after each epoch. */
export function checkpointFile(out: string): string {
  return `${out}.ckpt.safetensors`;
}

/**
 * Trains one preset and writes `run.out` as a Hugging Face directory with training.json and
 * answers.json (all renamed into place together). After every epoch a checkpoint is written
 * atomically beside it; with `resume`, a run killed at any moment continues from the last one
 * and ends bit for bit where an uninterrupted run would (the epoch shuffles are replayed from
 * the seed). The checkpoint is removed once the model is written.
 */
export async function trainFactWorld(run: TrainRun): Promise<void> {
  const { presetName, preset, worldDir, out, seed } = run;
  const log = run.log ?? ((row) => console.log(JSON.stringify(row)));
  const tokDir = path.join(worldDir, 'tokenizer');
  const tokenizer = Tokenizer.fromFile(path.join(tokDir, 'tokenizer.json'));
  const eos = tokenizer.eosTokenId ?? 0;
  const config = {
    vocab_size: tokenizer.vocabSize,
    bos_token_id: eos,
    eos_token_id: eos,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    ...preset.model,
  };
  const model = createModel(config, { seed, tokenizer });
  const params = [...model.params.values()];
  for (const p of params) p.requiresGrad = true;
  const nParams = params.reduce((s, p) => s + p.size, 0);
  const opt = new AdamW(params, { lr: preset.lr, weightDecay: preset.weightDecay });
  try {
    const rng = mulberry32(seed);
    const corpora = new Map<string, number[][]>();
    const linesOf = (file: string) => {
      if (!corpora.has(file)) {
        const text = fs.readFileSync(path.join(worldDir, 'corpus', file), 'utf8');
        corpora.set(file, text.split('\n').filter((l) => l.trim()).map((l) => tokenizer.encode(l)));
      }
      return corpora.get(file)!;
    };
    const rowsPerEpoch = preset.phases.map((p) => packRows(linesOf(p.corpus), eos, mulberry32(0)).ids.length);
    const totalSteps = preset.phases.reduce((s, p, i) => s + p.epochs * Math.ceil(rowsPerEpoch[i] / preset.batchSize), 0);
    const decayFrom = Math.floor(totalSteps * 0.8);
    const lrAt = (step: number) => {
      if (step < preset.warmupSteps) return (preset.lr * (step + 1)) / preset.warmupSteps;
      if (step < decayFrom) return preset.lr;
      return preset.lr * (1 - (0.9 * (step - decayFrom)) / Math.max(totalSteps - decayFrom, 1));
    };
    const ckpt = checkpointFile(out);
    let state: TrainState = { preset: presetName, seed, phase: 0, epoch: 0, step: 0, tokens: 0, seconds: 0, adamStep: 0, stopped: false, history: [] };
    if (run.resume && fs.existsSync(ckpt)) {
      state = await restore(ckpt, model, opt, presetName, seed);
      // replay the shuffles of the epochs already run, so the generator is where it was
      for (let pi = 0; pi <= state.phase && pi < preset.phases.length; pi++) {
        const done = pi < state.phase ? preset.phases[pi].epochs : state.epoch;
        for (let e = 0; e < done; e++) packRows(linesOf(preset.phases[pi].corpus), eos, rng);
      }
      log({ resumed: ckpt, phase: state.phase, epoch: state.epoch, step: state.step });
    }
    const started = Date.now() - state.seconds * 1000;
    log({ preset: presetName, params: nParams, totalSteps });
    // `touch <out>.stop` ends training after the current epoch (the model is still saved).
    const stopFile = `${out}.stop`;
    for (let pi = state.phase; pi < preset.phases.length && !state.stopped; pi++) {
      const phase = preset.phases[pi];
      for (let epoch = pi === state.phase ? state.epoch : 0; epoch < phase.epochs && !state.stopped; epoch++) {
        const { ids, targets } = packRows(linesOf(phase.corpus), eos, rng);
        let lossSum = 0;
        let batches = 0;
        for (let b = 0; b < ids.length; b += preset.batchSize) {
          const bIds = ids.slice(b, b + preset.batchSize);
          const bT = targets.slice(b, b + preset.batchSize).flat();
          const loss = tidy(() => {
            const l = crossEntropy(model.forward(bIds).logits, bT);
            opt.update(grad(l, params), lrAt(state.step));
            return l.item();
          });
          lossSum += loss;
          batches++;
          state.step++;
          state.tokens += bT.filter((t) => t !== -100).length;
        }
        const entry = { phase: pi, epoch, loss: lossSum / batches, seconds: (Date.now() - started) / 1000 };
        state.history.push(entry);
        log({ ...entry, step: state.step, tokens: state.tokens, tokensPerSecond: Math.round(state.tokens / entry.seconds) });
        if (fs.existsSync(stopFile)) {
          fs.rmSync(stopFile);
          state.stopped = true;
        }
        const last = epoch + 1 === phase.epochs;
        Object.assign(state, { phase: last ? pi + 1 : pi, epoch: last ? 0 : epoch + 1, seconds: entry.seconds, adamStep: opt.exportState().step });
        await checkpoint(ckpt, model, opt, state);
      }
    }
    const trainSeconds = (Date.now() - started) / 1000;
    for (const p of params) p.requiresGrad = false;
    const world = loadWorld(path.join(worldDir, 'world.json'));
    const facts = preset.recallOn === 'tiny' ? tinyFacts(world) : world.facts;
    const recall = measureRecall(model, world, facts);
    log({ recall: { train: recall.train, heldout: recall.heldout, answered: recall.answered.length, facts: facts.length } });
    const report = {
      preset: presetName,
      seed,
      params: nParams,
      config: preset,
      steps: state.step,
      tokens: state.tokens,
      trainSeconds,
      finalLoss: state.history[state.history.length - 1]?.loss,
      stoppedEarly: state.stopped,
      history: state.history,
      recall: { train: recall.train, heldout: recall.heldout, answeredFacts: recall.answered.length, checkedFacts: facts.length },
      command: `node scripts/dist/factworld/train.js --preset ${presetName} --out ${out} --seed ${seed}`,
      threads: { OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? 'default', OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? 'default' },
    };
    // A kill between these two steps leaves no model but the checkpoint: a resumed run writes it again.
    fs.rmSync(out, { recursive: true, force: true });
    await saveModel(model, out, {
      sideFilesFrom: tokDir,
      metadata: { medit_trained: presetName },
      extraFiles: {
        'training.json': JSON.stringify(report, null, 2) + '\n',
        'answers.json': JSON.stringify({ format: 'factworld-answers/1', answered: recall.answered }) + '\n',
      },
    });
    fs.rmSync(ckpt, { force: true });
  } finally {
    opt.dispose();
    model.dispose();
  }
}

async function checkpoint(file: string, model: CausalLM, opt: AdamW, state: TrainState): Promise<void> {
  const tensors = new Map<string, ReturnType<Tensor['handle']>>();
  for (const [name, t] of model.params) tensors.set(`param.${name}`, t.handle());
  opt.exportState().moments.forEach((m, i) => {
    if (!m) return;
    tensors.set(`adamw.${i}.m`, m.m.handle());
    tensors.set(`adamw.${i}.v`, m.v.handle());
  });
  await writeTensorDocument(file, tensors, CKPT_FORMAT, state);
}

async function restore(file: string, model: CausalLM, opt: AdamW, presetName: string, seed: number): Promise<TrainState> {
  const doc = await readTensorDocument(file, CKPT_FORMAT, 'training checkpoint');
  const tensors = new Map([...doc.tensors].map(([k, h]) => [k, new Tensor(h)]));
  try {
    const state = doc.document as unknown as TrainState;
    if (state.preset !== presetName || state.seed !== seed) {
      throw new Error(`${file}: a checkpoint of preset ${state.preset} seed ${state.seed}, not ${presetName} seed ${seed}; remove it or resume that run`);
    }
    for (const [name, p] of model.params) {
      const t = tensors.get(`param.${name}`);
      if (!t) throw new Error(`${file}: no weight ${name}`);
      copyInplace(p, t);
    }
    opt.importState({
      step: state.adamStep,
      moments: opt.params.map((_, i) => {
        const m = tensors.get(`adamw.${i}.m`);
        const v = tensors.get(`adamw.${i}.v`);
        return m && v ? { m, v } : null;
      }),
    });
    return state;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

async function main(): Promise<void> {
  const presetName = arg('preset');
  const preset = PRESETS[presetName];
  if (!preset) throw new Error(`unknown preset ${presetName} (known: ${Object.keys(PRESETS).join(', ')})`);
  await trainFactWorld({
    presetName,
    preset,
    worldDir: arg('world', 'test-fixtures/factworld'),
    out: arg('out'),
    seed: Number(arg('seed', '1')),
    resume: process.argv.includes('--resume'),
  });
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
