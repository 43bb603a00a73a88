/**
 * Trains the fact-world models with medit's own engine (AdamW through the engine's
 * autograd) and saves them as Hugging Face directories:
 *
 *   node scripts/dist/factworld/train.js --preset fact-tiny  --out test-fixtures/models/fact-tiny
 *   node scripts/dist/factworld/train.js --preset fact-small --out test-fixtures/models/fact-small
 *   node scripts/dist/factworld/train.js --preset fact-llama --out test-fixtures/models/fact-llama
 *
 * Corpus lines are packed whole into 64-token rows (lines joined by <|endoftext|>, rows
 * padded with it and the padding ignored by the loss), shuffled per epoch with a seeded
 * generator; phases follow test-fixtures/factworld/curriculum.json's order (the 100-subject
 * sub-world first, then everything). Deterministic for a given preset and seed. The loop is
 * the shared resumable one (`../training/trainer`): checkpoints go to `<out>.ckpt` every five
 * minutes and on SIGINT / SIGTERM, and `--resume` continues bit-exactly.
 * Writes training.json (time, steps, tokens, losses, recall) beside the weights, and
 * answers.json (the facts the model knows, for build-edits).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Tokenizer, createModel, mulberry32, saveModel } from '@medit/core';

import { loadWorld } from './load';
import { measureRecall } from './recall';
import { tinyFacts } from './world';
import { arg } from '../args';
import { packRows as packRowsOf } from '../training/pack';
import { hasCheckpoint, trainLanguageModel } from '../training/trainer';

export const ROW = 64;

interface Phase {
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
  return packRowsOf(lines, eos, rng, ROW);
}

/** What one training run needs; {@link PRESETS} holds the fact-world models'. */
export interface TrainRun {
  presetName: string;
  preset: Preset;
  worldDir: string;
  out: string;
  seed: number;
  /** continue from the checkpoint in {@link checkpointFile}(out) when there is one */
  resume?: boolean;
  /** seconds between checkpoints (default 300) */
  checkpointEverySeconds?: number;
  /** stop with a checkpoint once this many steps are done */
  stopAtStep?: number;
  /** stop with a checkpoint after the current step when aborted */
  signal?: AbortSignal;
  /** JSON rows of progress (default: console.log) */
  log?: (row: Record<string, unknown>) => void;
}

/** Where a run writing `out` keeps its checkpoint: a folder beside it. */
export function checkpointFile(out: string): string {
  return `${out}.ckpt`;
}

/**
 * Trains one preset and writes `run.out` as a Hugging Face directory with training.json and
 * answers.json, all renamed into place together; the checkpoint is removed once the model is
 * written. A run stopped early (signal, stopAtStep) leaves its checkpoint and no model.
 * @returns how the run ended
 */
export async function trainFactWorld(run: TrainRun): Promise<'done' | 'stopAtStep' | 'signal'> {
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
  try {
    const nParams = [...model.params.values()].reduce((n, p) => n + p.size, 0);
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
    log({ preset: presetName, params: nParams, totalSteps });
    const ckpt = checkpointFile(out);
    const result = await trainLanguageModel({
      model, row: ROW, eos, seed,
      phases: preset.phases.map((p) => ({ name: p.corpus, epochs: p.epochs, documents: () => linesOf(p.corpus) })),
      schedule: { batchSize: preset.batchSize, lr: preset.lr, warmupSteps: preset.warmupSteps, weightDecay: preset.weightDecay, totalSteps },
      checkpointDir: ckpt,
      checkpointEverySeconds: run.checkpointEverySeconds,
      resume: run.resume === true && hasCheckpoint(ckpt),
      stopAtStep: run.stopAtStep,
      signal: run.signal,
      onEpoch: (e) => log({ ...e, tokensPerSecond: Math.round(e.tokens / e.seconds) }),
    });
    if (result.stoppedBy !== 'done') {
      log({ stopped: result.stoppedBy, step: result.steps, resume: `the same command with --resume (checkpoint in ${ckpt})` });
      return result.stoppedBy;
    }
    const world = loadWorld(path.join(worldDir, 'world.json'));
    const facts = preset.recallOn === 'tiny' ? tinyFacts(world) : world.facts;
    const recall = measureRecall(model, world, facts);
    log({ recall: { train: recall.train, heldout: recall.heldout, answered: recall.answered.length, facts: facts.length } });
    const report = {
      preset: presetName,
      seed,
      params: nParams,
      config: preset,
      steps: result.steps,
      tokens: result.tokens,
      trainSeconds: result.trainSeconds,
      finalLoss: result.history[result.history.length - 1]?.loss,
      history: result.history,
      recall: { train: recall.train, heldout: recall.heldout, answeredFacts: recall.answered.length, checkedFacts: facts.length },
      command: `node scripts/dist/factworld/train.js --preset ${presetName} --out ${out} --seed ${seed}`,
      threads: { MEDIT_NUM_THREADS: process.env.MEDIT_NUM_THREADS ?? 'default', OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? 'default' },
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
    fs.rmSync(ckpt, { recursive: true, force: true });
    return 'done';
  } finally {
    model.dispose();
  }
}

async function main(): Promise<void> {
  const presetName = arg('preset');
  const preset = PRESETS[presetName];
  if (!preset) throw new Error(`unknown preset ${presetName} (known: ${Object.keys(PRESETS).join(', ')})`);
  const abort = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => abort.abort());
  await trainFactWorld({
    presetName,
    preset,
    worldDir: arg('world', 'test-fixtures/factworld'),
    out: arg('out'),
    seed: Number(arg('seed', '1')),
    resume: process.argv.includes('--resume'),
    signal: abort.signal,
  });
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
