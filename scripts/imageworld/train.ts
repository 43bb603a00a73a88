/**
 * Trains the image world's vision-language model (`medit-vlm`: ViT + Q-Former + GPT-2) with
 * medit's own engine and saves it as a Hugging Face directory:
 *
 *   flock /work/.heavy.lock node scripts/dist/imageworld/train.js --out test-fixtures/models/image-vlm [--run DIR] [--resume]
 *
 * Batches mix image + text examples and text-only facts (examples.ts, a pure function of
 * (seed, step)); the loss is the next-token cross-entropy over each row's text (prompt, answer,
 * end-of-text), the image tokens unsupervised. AdamW, linear warm-up, constant, then a linear
 * decay over the last 20 %. Every `--ckpt-every` steps the weights, the optimiser state and the
 * step are written atomically to `<run>/ckpt`; `--resume` continues from there bit for bit.
 * `--max-minutes` (or `touch <run>/stop`) checkpoints and exits early, to be resumed.
 * At the end: accuracy on the check sets (accuracy.ts), the directory at `--out`, and
 * `training.json` beside the weights (time, steps, losses, accuracies).
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
  readCheckpoint,
  rightPad,
  saveModel,
  tidy,
  writeCheckpointFile,
  writeFileAtomic,
} from '@medit/core';

import { arg } from '../args';
import { accuracy, checkSets, encodeExample } from './accuracy';
import { type WorldExample, trainingBatch } from './examples';
import { render } from './render';
import type { World } from './world';

/**
 * The model: a ViT of d 64 (2 blocks) over 6×6 patches of a 48×48 image, its 8×8 patch grid
 * mean-pooled 2×2 and projected linearly (17 image tokens), and GPT-2 d 128 (4 layers). A BLIP-2
 * Q-Former (8 queries) was tried first: its near-uniform initial cross-attention averaged the
 * patches, and after 5,700 steps it still answered shape and position questions at chance
 * (colour 100 %), so the image tokens now keep the grid.
 */
export function vlmModelConfig(vocabSize: number, eos: number, imageSize: number): Record<string, unknown> {
  return {
    model_type: 'medit-vlm',
    architectures: ['MeditVlmForConditionalGeneration'],
    vision_config: { image_size: imageSize, patch_size: 6, num_channels: 3, hidden_size: 64, intermediate_size: 256, num_hidden_layers: 2, num_attention_heads: 4, layer_norm_eps: 1e-5, hidden_act: 'gelu', image_mean: [0.5, 0.5, 0.5], image_std: [0.25, 0.25, 0.25] },
    projector_config: { pool_size: 2 },
    text_config: { model_type: 'gpt2', vocab_size: vocabSize, n_embd: 128, n_layer: 4, n_head: 4, n_positions: 64, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, bos_token_id: eos, eos_token_id: eos, tie_word_embeddings: true },
    bos_token_id: eos,
    eos_token_id: eos,
    torch_dtype: 'float32',
  };
}

/** Schedule: batch 32, lr 2e-3 after 300 warm-up steps, decay over the last 20 %. */
const SCHEDULE = { steps: 9000, batchSize: 32, lr: 2e-3, warmupSteps: 300, weightDecay: 0.01 };

/** One batch as ids, mask, flat next-token labels (−100 off the text) and images. @internal */
export function batchTensors(model: CausalLM, world: World, examples: readonly WorldExample[]) {
  const eos = model.config.eosTokenId ?? 0;
  const seqs = examples.map((e) => encodeExample(model, e).ids);
  const { ids, mask } = rightPad(seqs, eos);
  const T = ids[0].length;
  const labels = seqs.flatMap((s) => Array.from({ length: T }, (_, t) => (t + 1 < s.length ? s[t + 1] : -100)));
  const images = examples.map((e) => (e.content ? render(world, e.content, e.seed) : null));
  return { ids, mask, labels, images };
}

interface RunState {
  step: number;
  seconds: number;
  history: { step: number; loss: number; seconds: number }[];
}

async function saveRun(dir: string, model: CausalLM, opt: AdamW, state: RunState): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  await writeCheckpointFile(path.join(tmp, 'model.safetensors'), new Map([...model.params].map(([k, t]) => [k, t.handle()])));
  const moments = new Map<string, ReturnType<Tensor['handle']>>();
  opt.exportState().moments.forEach((m, i) => {
    if (!m) return;
    moments.set(`${i}.m`, m.m.handle());
    moments.set(`${i}.v`, m.v.handle());
  });
  await writeCheckpointFile(path.join(tmp, 'optimizer.safetensors'), moments, { step: String(opt.stepCount) });
  fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(state) + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
}

async function loadRun(dir: string, model: CausalLM, opt: AdamW): Promise<RunState> {
  const weights = await readCheckpoint(dir, { file: 'model.safetensors' });
  for (const [name, h] of weights.tensors) {
    const t = new Tensor(h);
    copyInplace(model.param(name), t);
    t.dispose();
  }
  const ckpt = await readCheckpoint(dir, { file: 'optimizer.safetensors' });
  const owned = new Map([...ckpt.tensors].map(([k, h]) => [k, new Tensor(h)]));
  const params = [...model.params.values()];
  opt.importState({
    step: Number(ckpt.metadata.step),
    moments: params.map((_, i) => (owned.has(`${i}.m`) ? { m: owned.get(`${i}.m`)!, v: owned.get(`${i}.v`)! } : null)),
  });
  for (const t of owned.values()) t.dispose();
  return JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as RunState;
}

async function main(): Promise<void> {
  const worldDir = arg('world', 'test-fixtures/imageworld');
  const out = arg('out');
  const run = arg('run', 'scratch/runs/image-vlm');
  const seed = Number(arg('seed', '1'));
  const steps = Number(arg('steps', String(SCHEDULE.steps)));
  const ckptEvery = Number(arg('ckpt-every', '500'));
  const maxMinutes = Number(arg('max-minutes', 'Infinity'));
  const resume = process.argv.includes('--resume');
  const world = JSON.parse(fs.readFileSync(path.join(worldDir, 'world.json'), 'utf8')) as World;
  const tokDir = path.join(worldDir, 'tokenizer');
  const tokenizer = Tokenizer.fromFile(path.join(tokDir, 'tokenizer.json'));
  const eos = tokenizer.eosTokenId ?? 0;
  const model = createModel(vlmModelConfig(tokenizer.vocabSize, eos, world.imageSize), { seed, tokenizer });
  const params = [...model.params.values()];
  const nParams = params.reduce((s, p) => s + p.size, 0);
  const opt = new AdamW(params, { lr: SCHEDULE.lr, weightDecay: SCHEDULE.weightDecay });
  const ckptDir = path.join(run, 'ckpt');
  let state: RunState = { step: 0, seconds: 0, history: [] };
  if (resume) state = await loadRun(ckptDir, model, opt);
  const decayFrom = Math.floor(steps * 0.8);
  const lrAt = (step: number) => {
    if (step < SCHEDULE.warmupSteps) return (SCHEDULE.lr * (step + 1)) / SCHEDULE.warmupSteps;
    if (step < decayFrom) return SCHEDULE.lr;
    return SCHEDULE.lr * (1 - (0.9 * (step - decayFrom)) / Math.max(steps - decayFrom, 1));
  };
  for (const p of params) p.requiresGrad = true;
  console.log(JSON.stringify({ params: nParams, steps, resumeFrom: state.step }));
  const started = Date.now();
  const base = state.seconds;
  const elapsed = () => base + (Date.now() - started) / 1000;
  const stopFile = path.join(run, 'stop');
  let recent = 0;
  let recentN = 0;
  while (state.step < steps) {
    const b = batchTensors(model, world, trainingBatch(world, seed, state.step, SCHEDULE.batchSize));
    const loss = tidy(() => {
      const l = crossEntropy(model.forward(b.ids, { attentionMask: b.mask, images: b.images }).logits, b.labels);
      opt.update(grad(l, params), lrAt(state.step));
      return l.item();
    });
    state.step++;
    recent += loss;
    recentN++;
    if (state.step % 50 === 0) {
      state.history.push({ step: state.step, loss: recent / recentN, seconds: elapsed() });
      console.log(JSON.stringify(state.history[state.history.length - 1]));
      recent = 0;
      recentN = 0;
    }
    const stopping = fs.existsSync(stopFile) || (Date.now() - started) / 60000 > maxMinutes;
    if (state.step % ckptEvery === 0 || state.step === steps || stopping) {
      state.seconds = elapsed();
      await saveRun(ckptDir, model, opt, state);
      if (stopping && state.step < steps) {
        fs.rmSync(stopFile, { force: true });
        console.log(JSON.stringify({ stopped: state.step, resume: 'run again with --resume' }));
        return;
      }
    }
  }
  for (const p of params) p.requiresGrad = false;
  const accuracies = Object.fromEntries(Object.entries(checkSets(world)).map(([name, set]) => [name, accuracy(model, world, set)]));
  console.log(JSON.stringify({ accuracies }));
  fs.rmSync(out, { recursive: true, force: true });
  await saveModel(model, out, { sideFilesFrom: tokDir, metadata: { medit_trained: 'image-vlm' } });
  const report = {
    model: 'image-vlm',
    seed,
    params: nParams,
    schedule: { ...SCHEDULE, steps },
    steps: state.step,
    trainSeconds: state.seconds,
    finalLoss: state.history[state.history.length - 1]?.loss,
    accuracies,
    history: state.history,
    command: `flock /work/.heavy.lock node scripts/dist/imageworld/train.js --out ${out} --seed ${seed} --steps ${steps} (resumable with --resume)`,
    threads: { OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? 'default', OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? 'default' },
  };
  writeFileAtomic(path.join(out, 'training.json'), JSON.stringify(report, null, 2) + '\n');
  opt.dispose();
  model.dispose();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
