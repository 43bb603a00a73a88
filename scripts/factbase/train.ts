/**
 * Trains a fact-base model with medit's engine and saves it as a Hugging Face directory. The
 * launch command (README.md in test-fixtures/factbase) — run again after any interruption, it
 * continues from the checkpoint:
 *
 *   npx tsc -b && npx tsc -p scripts
 *   node scripts/dist/factbase/train.js --preset fb-256x6 --out test-fixtures/models/fact-base
 *   node scripts/dist/factbase/train.js --preset fb-256x6 --out /tmp/pilot --max-steps 200   # a pilot
 *   node scripts/dist/factbase/train.js --preset fb-256x6-w8192 --from test-fixtures/models/fact-base \
 *     --out test-fixtures/models/fact-base-w8192                                               # grown from a trained model
 *
 * Every epoch's text is rebuilt from the world (`epochDocuments`: facts in training phrasings,
 * train-split chains, fresh IKE passages, a window of the filler) and tokenised by the committed
 * tokenizer; epoch 0 is checked against the manifest's hash first, so the text trained on is the
 * text the fixtures describe. The loop is the shared resumable one (`../training/trainer`):
 * checkpoints in `<out>.ckpt` (gitignored) every `--checkpoint-every` seconds (default 300) and on
 * SIGINT / SIGTERM; when `<out>.ckpt` holds a checkpoint the run continues from it bit-exactly
 * and adds up the training time (`--resume` insists on one). Progress lines (JSON) go to stdout
 * and are appended to `<out>.ckpt/train.log`.
 *
 * At the end: recall on every fact (training and held-out phrasings), chains, in-context edits
 * (`recall.ts`), then `training.json` and `answers.json` beside the weights. A pilot
 * (`--max-steps N`) stops after N steps and writes `pilot.json` (seconds per step after the
 * first 10, tokens per second, and the full run's projected hours) into `--out` instead. A model
 * over 64 MB in float32 is rounded to bfloat16 before recall is measured, and saved so.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, Tokenizer, cast, copyInplace, createModel, loadModel, saveModel, tidy } from '@medit/core';

import { arg } from '../args';
import { Rng } from '../factworld/prng';
import { packRows } from '../training/pack';
import { hasCheckpoint, trainLanguageModel } from '../training/trainer';
import { widenMlp } from '../training/widen';
import { DEFAULT_BUILD, type BuildConfig } from './build';
import { epochDocuments } from './corpus';
import { measureFactbaseRecall } from './recall';
import type { World } from './world';

/** A model shape and its schedule. */
export interface Preset {
  /** GPT-2 config.json fields (vocabulary and special ids are added) */
  model: Record<string, unknown>;
  /** the MLP layers MEMIT would edit: d_ff × these ≥ 8 × 1,000 (the MEMIT paper's key room per edit) */
  editLayers: number[];
  epochs: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  /**
   * Grown, not trained from scratch: the trained model of preset `preset` (read from `--from`) is
   * widened to this preset's `n_inner` (`widenMlp`: new neurons with zero output weights, so the
   * start computes what the source computes) and trained `epochs` more epochs, on fresh epochs of
   * text numbered after the source's.
   */
  grownFrom?: { preset: string; seed: number };
}

/** Tokens per training row: the model's whole context. */
export const ROW = 384;

const GPT2 = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_positions: ROW, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 };
const SCHEDULE = { epochs: 10, batchSize: 8, lr: 2e-3, warmupSteps: 500, weightDecay: 0.01 };

/** Candidate shapes (issue 26); README.md in test-fixtures/factbase records the pilots. */
export const PRESETS: Record<string, Preset> = {
  // d 256, 6 layers, d_ff 2,048 (8d): layers 1–4 give 4 × 2,048 = 8,192 key dimensions.
  'fb-256x6': { model: { ...GPT2, n_embd: 256, n_layer: 6, n_head: 4, n_inner: 2048 }, editLayers: [1, 2, 3, 4], ...SCHEDULE },
  // d 320, 6 layers, d_ff 1,664: layers 1–5 give 8,320.
  'fb-320x6': { model: { ...GPT2, n_embd: 320, n_layer: 6, n_head: 5, n_inner: 1664 }, editLayers: [1, 2, 3, 4, 5], ...SCHEDULE },
  // d 256, 8 layers, d_ff 1,536: layers 1–6 give 9,216.
  'fb-256x8': { model: { ...GPT2, n_embd: 256, n_layer: 8, n_head: 4, n_inner: 1536 }, editLayers: [1, 2, 3, 4, 5, 6], ...SCHEDULE },
  // fb-256x6 grown to d_ff 8,192 (net2net-style) and trained one more epoch: the key-room pilot
  // (bench/RESULTS.md, "Key room on fact-base") measured the 1,000-edit batch short of room at
  // 2,048 and 4,096 neurons and over the Efficacy bar at 8,192. MEMIT edits layers 0–1 (tuned).
  'fb-256x6-w8192': {
    model: { ...GPT2, n_embd: 256, n_layer: 6, n_head: 4, n_inner: 8192 }, editLayers: [0, 1],
    epochs: 1, batchSize: 8, lr: 1e-3, warmupSteps: 200, weightDecay: 0.01, grownFrom: { preset: 'fb-256x6', seed: 17 },
  },
  // A learning pilot on the small build (`generate.js --small`, 160 subjects): does the recipe teach
  // facts, chains and in-context copying at all? Not a fact-base model.
  'fb-small-pilot': { model: { ...GPT2, n_embd: 128, n_layer: 4, n_head: 4, n_inner: 512 }, editLayers: [1, 2], epochs: 20, batchSize: 8, lr: 3e-3, warmupSteps: 200, weightDecay: 0.01 },
};

/** A preset's config.json: its GPT-2 fields with the tokenizer's vocabulary and EOS as BOS/EOS. */
export function presetConfig(preset: Preset, tokenizer: Tokenizer): Record<string, unknown> {
  const eos = tokenizer.eosTokenId;
  if (eos === undefined) throw new Error('the fact-base tokenizer has no <|endoftext|>');
  return { vocab_size: tokenizer.vocabSize, bos_token_id: eos, eos_token_id: eos, tie_word_embeddings: true, torch_dtype: 'float32', ...preset.model };
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The committed model's size limit (issue 26); a larger model is saved in bfloat16. */
const MAX_COMMITTED_BYTES = 64 * 1024 * 1024;

/** What a grown model records about the model it was grown from. */
export interface GrowthSource {
  dir: string;
  preset: string;
  /** sha256 of the source's model.safetensors */
  sha256: string;
  epochs: number;
  steps: number;
  tokens: number;
  trainSeconds: number;
}

/** Loads the trained model `dir` of preset `grownFrom.preset` and widens it to `preset`'s shape. */
export async function growSource(dir: string, preset: Preset, tokenizer: Tokenizer): Promise<{ model: CausalLM; source: GrowthSource }> {
  const spec = preset.grownFrom!;
  const infoFile = path.join(dir, 'training.json');
  if (!fs.existsSync(infoFile)) throw new Error(`${dir} has no training.json: --from must be a model train.js wrote (preset ${spec.preset})`);
  const info = JSON.parse(fs.readFileSync(infoFile, 'utf8')) as { preset: string; config: { epochs: number }; steps: number; tokens: number; trainSeconds: number };
  if (info.preset !== spec.preset) throw new Error(`${infoFile}: preset ${info.preset}, but this preset grows from ${spec.preset}`);
  const weightsHash = sha256(fs.readFileSync(path.join(dir, 'model.safetensors')));
  const trained = await loadModel(dir);
  const model = widenMlp(trained, Number(preset.model.n_inner), spec.seed, tokenizer.encode(GROWTH_PROBE));
  trained.dispose();
  const want = presetConfig(preset, tokenizer);
  for (const [key, value] of Object.entries(want)) {
    if (JSON.stringify(model.config.raw[key]) !== JSON.stringify(value)) {
      model.dispose();
      throw new Error(`${dir}/config.json: ${key} is ${JSON.stringify(model.config.raw[key])} after widening, the preset needs ${JSON.stringify(value)}`);
    }
  }
  return { model, source: { dir, preset: info.preset, sha256: weightsHash, epochs: info.config.epochs, steps: info.steps, tokens: info.tokens, trainSeconds: info.trainSeconds } };
}

/** Rounds every weight of `model` to `dtype` in place (it stays float32 in memory). */
function roundWeights(model: CausalLM, dtype: 'bfloat16'): void {
  for (const name of model.checkpointNames()) tidy(() => copyInplace(model.param(name), cast(cast(model.param(name), dtype), 'float32')));
}

/** The prompt on which widening is checked to preserve the logits (any fact-base text would do). */
const GROWTH_PROBE = 'The capital of the country Feinaus ter Zursun is a citizen of is';

async function main(): Promise<void> {
  const presetName = arg('preset');
  const preset = PRESETS[presetName];
  if (!preset) throw new Error(`unknown preset ${presetName} (known: ${Object.keys(PRESETS).join(', ')})`);
  const worldDir = arg('world', 'test-fixtures/factbase');
  const out = arg('out');
  const seed = Number(arg('seed', '1'));
  const maxSteps = process.argv.includes('--max-steps') ? Number(arg('max-steps')) : undefined;
  const checkpointEvery = Number(arg('checkpoint-every', '300'));
  const manifest = JSON.parse(fs.readFileSync(path.join(worldDir, 'manifest.json'), 'utf8')) as { config: BuildConfig; counts: { epoch0: { sha256: string } } };
  const build = manifest.config;
  if (JSON.stringify(build) !== JSON.stringify(DEFAULT_BUILD)) console.warn(`note: ${worldDir} was built with another config than DEFAULT_BUILD`);
  const world = JSON.parse(fs.readFileSync(path.join(worldDir, 'world.json'), 'utf8')) as World;
  const filler = fs.readFileSync(path.join(worldDir, 'filler.txt'), 'utf8').split('\n').filter((l) => l.length > 0);
  const epoch0 = epochDocuments(world, filler, build.corpus, 0);
  if (sha256(epoch0.map((d) => JSON.stringify(d)).join('\n')) !== manifest.counts.epoch0.sha256) {
    throw new Error(`epoch 0's text differs from the one ${worldDir}/manifest.json describes: regenerate the fixtures (scripts/factbase/generate.ts) before training`);
  }
  const tokDir = path.join(worldDir, 'tokenizer');
  const tokenizer = Tokenizer.fromFile(path.join(tokDir, 'tokenizer.json'));
  const eos = tokenizer.eosTokenId;
  if (eos === undefined) throw new Error(`${tokDir}/tokenizer.json has no <|endoftext|>`);
  const grown = preset.grownFrom ? await growSource(arg('from', 'test-fixtures/models/fact-base'), preset, tokenizer) : undefined;
  const model = grown?.model ?? createModel(presetConfig(preset, tokenizer), { seed, tokenizer });
  // a grown model goes on with the epochs after its source's (fresh IKE passages and filler windows)
  const firstEpoch = grown?.source.epochs ?? 0;
  const nParams = [...model.params.values()].reduce((n, p) => n + p.size, 0);

  let cached: { epoch: number; docs: number[][] } | undefined;
  let textSeconds = 0;
  const documents = (epoch: number) => {
    if (cached?.epoch !== epoch) {
      const t = Date.now();
      const text = firstEpoch + epoch === 0 ? epoch0 : epochDocuments(world, filler, build.corpus, firstEpoch + epoch);
      cached = { epoch, docs: text.map((d) => tokenizer.encode(d)) };
      textSeconds += (Date.now() - t) / 1000;
    }
    return cached.docs;
  };
  const order = new Rng(0);
  const rowsPerEpoch = packRows(documents(0), eos, () => order.next(), ROW).ids.length;
  const stepsPerEpoch = Math.ceil(rowsPerEpoch / preset.batchSize);
  const totalSteps = preset.epochs * stepsPerEpoch;
  const dff = Number(preset.model.n_inner);

  const checkpointDir = `${out}.ckpt`;
  const resume = process.argv.includes('--resume') || hasCheckpoint(checkpointDir);
  fs.mkdirSync(checkpointDir, { recursive: true });
  const logFile = path.join(checkpointDir, 'train.log');
  const progress = (x: Record<string, unknown>) => {
    const line = JSON.stringify({ time: new Date().toISOString(), ...x });
    console.log(line);
    fs.appendFileSync(logFile, line + '\n');
  };
  progress({ event: resume ? 'resume' : 'start', preset: presetName, grownFrom: grown?.source.dir, params: nParams, keyRoom: dff * preset.editLayers.length, rowsPerEpoch, stepsPerEpoch, totalSteps, checkpoint: checkpointDir, threads: process.env.MEDIT_NUM_THREADS ?? 'default' });
  const abort = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => abort.abort());
  const marks: { step: number; loss: number; seconds: number; tokens: number }[] = [];
  const result = await trainLanguageModel({
    model, row: ROW, eos, seed,
    phases: [{ name: 'fact-base', epochs: preset.epochs, documents }],
    schedule: { batchSize: preset.batchSize, lr: preset.lr, warmupSteps: preset.warmupSteps, weightDecay: preset.weightDecay, totalSteps },
    checkpointDir,
    checkpointEverySeconds: checkpointEvery,
    resume,
    stopAtStep: maxSteps,
    signal: abort.signal,
    logEvery: 10,
    onLog: (r) => { marks.push(r); progress({ ...r, tokensPerSecond: Math.round(r.tokens / r.seconds) }); },
    onEpoch: (e) => progress({ event: 'epoch', ...e, tokensPerSecond: Math.round(e.tokens / e.seconds) }),
  });

  if (maxSteps !== undefined) {
    // Seconds per step after the first 10 (allocation warm-up), and what the whole run would take.
    const a = marks.find((m) => m.step === 10);
    const b = marks[marks.length - 1];
    const secPerStep = a && b && b.step > a.step ? (b.seconds - a.seconds) / (b.step - a.step) : NaN;
    const tokensPerSecond = a && b ? (b.tokens - a.tokens) / (b.seconds - a.seconds) : NaN;
    const pilot = {
      preset: presetName, params: nParams, model: preset.model, editLayers: preset.editLayers, keyRoom: dff * preset.editLayers.length,
      steps: result.steps, secPerStep, stepsPerSecond: 1 / secPerStep, tokensPerSecond, lossAtEnd: b?.loss,
      stepsPerEpoch, totalSteps, textSecondsPerEpoch: textSeconds,
      projectedHours: (totalSteps * secPerStep + preset.epochs * textSeconds) / 3600,
      threads: { MEDIT_NUM_THREADS: process.env.MEDIT_NUM_THREADS ?? 'default' },
      loadAverage: (await import('node:os')).loadavg(),
    };
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'pilot.json'), JSON.stringify(pilot, null, 2) + '\n');
    console.log(JSON.stringify(pilot));
    model.dispose();
    return;
  }
  if (result.stoppedBy !== 'done') {
    progress({ event: 'stopped', by: result.stoppedBy, step: result.steps, resume: `run the same command again (checkpoint in ${checkpointDir})` });
    model.dispose();
    return;
  }
  progress({ event: 'trained', step: result.steps, trainSeconds: result.trainSeconds });
  // What is measured is what is committed: a model over the size limit is rounded to bfloat16 first.
  const dtype = nParams * 4 > MAX_COMMITTED_BYTES ? 'bfloat16' : 'float32';
  if (dtype !== 'float32') roundWeights(model, dtype);
  const recall = measureFactbaseRecall(model, world);
  progress({ event: 'recall', ...recall.summary });
  fs.rmSync(out, { recursive: true, force: true });
  await saveModel(model, out, { sideFilesFrom: tokDir, metadata: { medit_trained: presetName }, dtype });
  const command = `node scripts/dist/factbase/train.js --preset ${presetName} --out ${out} --seed ${seed}${grown ? ` --from ${grown.source.dir}` : ''}`;
  fs.writeFileSync(path.join(out, 'training.json'), JSON.stringify({
    preset: presetName, seed, params: nParams, dtype, config: preset, row: ROW, steps: result.steps, tokens: result.tokens,
    trainSeconds: result.trainSeconds, finalLoss: result.history[result.history.length - 1]?.loss, history: result.history,
    ...(grown ? { grownFrom: grown.source, totalTrainSeconds: grown.source.trainSeconds + result.trainSeconds } : {}),
    recall: recall.summary, command,
    threads: { MEDIT_NUM_THREADS: process.env.MEDIT_NUM_THREADS ?? 'default' },
  }, null, 2) + '\n');
  fs.writeFileSync(path.join(out, 'answers.json'), JSON.stringify({ format: 'factworld-answers/1', answered: recall.answered }) + '\n');
  progress({ event: 'saved', out });
  model.dispose();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
