/**
 * Trains MMEdit's learned editors for the image world's VLM on the train split of `--tasks` (`vqa`,
 * `caption` or both, the default; MMEdit trains one editor per task), with MMEdit's loss weights (c_edit = i_edit = 0.1, c_loc = 1);
 * the validation split picks the best checkpoint (MEND, KE) and SERAC's routing threshold:
 *
 *   flock /work/.heavy.lock node scripts/dist/imageworld/train-editors.js --method mend --out DIR [--resume]
 *
 * Methods (what each edits, spec §8.3):
 * - `mend`: the language model's FFNs (c_fc, c_proj) of the last 3 layers;
 * - `mend-vision`: the vision side's feed-forward output projections of every layer (Q-Former
 *   `output_query.dense`, as MMEdit; with the pooled projector, the ViT blocks' `mlp.fc2`);
 * - `ke`: KnowledgeEditor's hypernetwork over the same LM FFNs, conditioned on "{pred} >> {alt} || {src}";
 * - `serac`: text-only embedding scope classifier + counterfactual VLM (own projection and LM).
 * MEND and KE train with `@medit/mend`'s resumable trainer (checkpoints in DIR) on the records
 * plus `--renamed-copies` re-targeted copies of each (names from the training texts, see
 * {@link withRenamedCopies}; `--renamed-names edited` draws only the train answers' names,
 * `words` any word of the train texts, see {@link renamePool}), stopping after `--patience` iterations (default 5,000) without a
 * better validation loss; SERAC writes its artefact directory to DIR, its counterfactual model
 * with frozen token embeddings and name re-statements (see `@medit/serac`'s multimodal.ts;
 * `--cf-augment-names` their share, `--cf-name-pool words` fills their name slot with any word of
 * the train records' texts instead of their names);
 * `--scope-noise` / `--cf-noise` give the share of the classifier's / counterfactual model's
 * training queries noised with EDA word operations (`--noise-rate` α, words of the train records'
 * questions; `@medit/serac`'s word-noise.ts), `--cf-statement-noise` that of the counterfactual
 * model's edit statements (default: as `--cf-noise`), `--cf-noise-rate` the α of both (default:
 * `--noise-rate`); `--cf-locality-edits` the share of the counterfactual model's training edits
 * made from the records' multimodal-locality questions (`@medit/serac`'s `localityEdit`);
 * `--scope-locality-edits` trains the classifier on those questions as edits too, with question
 * kinds linked by shared answers (`@medit/serac`'s `multimodalScopeSet`).
 * `--scope-encoder base-lm` starts the classifier from a copy of the VLM's own language model,
 * every weight fine-tuned (`@medit/serac`'s `trainLmScopeClassifier`; SERAC starts from a pretrained
 * DistilBERT, and the base LM has read the wordings a BERT from scratch never sees) instead of the
 * default `bert` (a small BERT from scratch over the VLM's word embeddings); the scope set is still
 * the train split's. `--scope-lr` sets the classifier's learning rate (default: the encoder's),
 * `--scope-scale` its κ (log g = −κ‖e(c) − e(x)‖², default 1: the base LM's vectors are far
 * apart, ‖Δ‖² 20–50 between question kinds, so it wants a smaller κ).
 * `--calibrate-on rows` picks SERAC's routing threshold on the validation records' teacher-forced
 * rows (prompt + target, what the router reads in the MMEdit harness) instead of their prompts.
 * `--edit-nll sum` trains MEND / KE on each target's summed token NLL (MEND's Alg. 1) instead of
 * the token mean (MEND-code, the default; `@medit/mend`'s `edit_nll`).
 * `DIR/data.json` records the command, the files (SHA-256) and record indices trained and
 * validated on. Defaults are the settings of the committed editors (bench/RESULTS.md, issue 28).
 *
 * The base model never sees a picture of an unknown flag or landmark, so an editor trained only
 * on the records' own answers learns to write those answers, not a new name; the renamed copies
 * teach it to write the name an edit asks for.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { mulberry32, readPng, type RgbImage, type VisionLanguageModel, loadModel, writeFileAtomic } from '@medit/core';
import { type MmeditCase, readMmedit, withCaseImages } from '@medit/data';
import { type EditNllReduction, KeEditor, MendEditor, type TrainableEditor, type TrainingExample, examplesFromMmedit, trainEditor } from '@medit/mend';
import { textVocabulary, trainMultimodalSerac, trainingNames, trainingWords, type WordNoise } from '@medit/serac';

import { arg } from '../args';

const TRAIN = { max_iters: 20000, val_interval: 1000, val_steps: 200, early_stop_patience: 5000, cedit: 0.1, iedit: 0.1, cloc: 1, batch_size: 1 };

const METHODS = ['mend', 'mend-vision', 'ke', 'serac'] as const;

const TASKS = ['vqa', 'caption'] as const;

/** The records of one split of the given tasks, with their images. */
function splitCases(edits: string, split: 'train' | 'val', tasks: readonly string[]): MmeditCase<RgbImage>[] {
  return tasks.flatMap((task) => readMmedit(path.join(edits, `${task}-${split}.json`)).cases.map((c) => withCaseImages(c, readPng)));
}

/**
 * What an editor was trained on: every file (with its SHA-256) and the record indices read from
 * it, for the training and the validation split — so anyone can check that no eval record was used.
 */
export function dataRecord(role: Record<string, readonly MmeditCase<unknown>[]>): Record<string, { file: string; sha256: string; cases: number[] }[]> {
  const out: Record<string, { file: string; sha256: string; cases: number[] }[]> = {};
  for (const [name, cases] of Object.entries(role)) {
    const files = [...new Set(cases.map((c) => c.source.file))];
    out[name] = files.map((file) => ({
      file: path.relative(process.cwd(), file),
      sha256: createHash('sha256').update(fs.readFileSync(file)).digest('hex'),
      cases: cases.filter((c) => c.source.file === file).map((c) => c.source.index),
    }));
  }
  return out;
}

/**
 * The training examples plus `copies` re-targeted copies of each: the answer's last word replaced
 * by a name drawn (seeded) from the training records' texts — counterfactual edits with many more
 * distinct new names than the records' own answers, so that an editor learns to write a name it
 * has not seen as a target (the eval split's subjects are such names).
 */
export function withRenamedCopies(examples: readonly TrainingExample[], names: readonly string[], copies: number, seed: number): TrainingExample[] {
  const rng = mulberry32(seed);
  const renamed = examples.flatMap((e) => Array.from({ length: copies }, () => ({ ...e, target: e.target.replace(/\S+$/, names[Math.floor(rng() * names.length)]) })));
  return [...examples, ...renamed];
}

/**
 * The names renamed copies draw from: `all`, every capitalised word of the train records
 * ({@link trainingNames}); `edited`, only the last words of their `alt` answers — names the VLM
 * was never trained to write, as the val and eval edits' names (the other names include known
 * landmarks and flags, whose output embeddings the VLM's training made larger); `words`, every word
 * of the train records' texts ({@link trainingWords}), so that the renamed slot is not always a name.
 */
export function renamePool(cases: readonly MmeditCase<unknown>[], which: string): string[] {
  if (which === 'all') return trainingNames(cases);
  if (which === 'words') return trainingWords(cases);
  if (which !== 'edited') throw new Error(`--renamed-names must be all, edited or words, not ${which}`);
  return [...new Set(cases.map((c) => c.alt.split(' ').pop()!).filter((w) => /^[A-Z]/.test(w)))].sort();
}

async function main(): Promise<void> {
  const method = arg('method') as (typeof METHODS)[number];
  if (!METHODS.includes(method)) throw new Error(`--method must be one of ${METHODS.join(', ')}`);
  const modelDir = arg('model', 'test-fixtures/models/image-vlm');
  const edits = arg('edits', 'test-fixtures/imageworld/edits');
  const out = arg('out');
  const maxIters = Number(arg('max-iters', String(TRAIN.max_iters)));
  // MMEdit trains one editor per task; both tasks together is one editor for the two
  const tasks = arg('tasks', TASKS.join(',')).split(',');
  for (const t of tasks) if (!(TASKS as readonly string[]).includes(t)) throw new Error(`--tasks: unknown task ${t} (known: ${TASKS.join(', ')})`);
  const cases = splitCases(edits, 'train', tasks);
  const validation = splitCases(edits, 'val', tasks);
  fs.mkdirSync(out, { recursive: true });
  // one line per list of record indices
  const data = JSON.stringify({ command: process.argv.slice(2), ...dataRecord({ train: cases, validation }) }, null, 1).replace(/\[[\d,\s]+\]/g, (list) => JSON.stringify(JSON.parse(list)));
  writeFileAtomic(path.join(out, 'data.json'), data + '\n');
  const started = Date.now();
  if (method === 'serac') {
    // EDA word noise on training queries (0: none), with the train records' own question words
    const vocabulary = textVocabulary(cases.flatMap((c) => [c.src, c.rephrase, c.loc, c.mLocQ]));
    const rate = arg('noise-rate', '0.1');
    const noise = (share: number, alpha = rate): WordNoise | undefined => (share > 0 ? { share, rate: Number(alpha), vocabulary } : undefined);
    const cfRate = arg('cf-noise-rate', rate);
    const scopeEncoder = arg('scope-encoder', 'bert') as 'bert' | 'base-lm';
    // the BERT's shape and word embeddings; the base LM brings its own
    const bertShape = scopeEncoder === 'bert' ? { hiddenSize: 128, layers: 2, heads: 4 } : {};
    const scopeLr = process.argv.includes('--scope-lr') ? { lr: Number(arg('scope-lr')) } : {};
    const scopeScale = process.argv.includes('--scope-scale') ? { scale: Number(arg('scope-scale')) } : {};
    await trainMultimodalSerac({
      baseModel: modelDir,
      cases,
      validation,
      calibrateOn: arg('calibrate-on', 'prompts') as 'prompts' | 'rows',
      out,
      scopeEncoder,
      scopeEmbeddingsFromBase: scopeEncoder === 'bert',
      scopeLocalityEdits: process.argv.includes('--scope-locality-edits'),
      scope: { steps: Number(arg('scope-steps', '1500')), ...bertShape, rephraseShare: 0.5, queryNoise: noise(Number(arg('scope-noise', '0'))), ...scopeLr, ...scopeScale },
      components: arg('components', 'scope-embedding,counterfactual').split(',') as ('scope-embedding' | 'counterfactual')[],
      counterfactual: { steps: Number(arg('cf-steps', '24000')), batchSize: 16, lr: Number(arg('cf-lr', '3e-4')), augmentNames: Number(arg('cf-augment-names', '0.5')), augmentNamePool: arg('cf-name-pool', 'names') as 'names' | 'words', augmentWords: Number(arg('cf-augment-words', '0.5')), localityEdits: Number(arg('cf-locality-edits', '0')), frozenTokenEmbeddings: true, queryNoise: noise(Number(arg('cf-noise', '0')), cfRate), statementNoise: noise(Number(arg('cf-statement-noise', arg('cf-noise', '0'))), cfRate) },
      onProgress: (p) => {
        if (p.done % 100 === 0) console.log(JSON.stringify({ stage: p.stage, done: p.done, total: p.total, ...p.info }));
      },
    });
    console.log(JSON.stringify({ method, out, cases: cases.length, seconds: (Date.now() - started) / 1000 }));
    return;
  }
  const model = (await loadModel(modelDir)) as VisionLanguageModel;
  const resume = process.argv.includes('--resume') && fs.existsSync(path.join(out, 'last.safetensors'));
  // a small validation split gives a noisy loss: a longer patience keeps training past its dips
  // @medit/mend's resolveHparams rejects any --edit-nll but mean and sum, naming the field
  const common = { ...TRAIN, max_iters: maxIters, early_stop_patience: Number(arg('patience', String(TRAIN.early_stop_patience))), edit_nll: arg('edit-nll', 'mean') as EditNllReduction };
  let editor: TrainableEditor;
  if (method === 'ke') {
    const hp = { ...common, lr: 1e-3, accumulate_bs: 1, hidden_dim: 64, condition_dim: 128, param_hidden: 32 };
    editor = resume ? await KeEditor.load(path.join(out, 'last.safetensors'), model, hp) : KeEditor.create(model, hp);
  } else {
    // the vision variant: the last vision-side feed-forward output projections (MMEdit: Q-Former layer.{10,11}.output_query.dense)
    const side = model.qformer ? { stack: 'qformer' as const, layers: model.qformer.numLayers } : { stack: 'vision' as const, layers: model.vision.numLayers };
    const vision = method === 'mend-vision' ? { inner_params: Array.from({ length: side.layers }, (_, l) => model.visionMlpLinears(side.stack, l)[1].weightName) } : {};
    const hp = { ...common, ...vision, lr: Number(arg('lr', '5e-5')), edit_lr: 1e-4, lr_lr: 1e-3, rank: Number(arg('rank', '64')), n_hidden: Number(arg('n-hidden', '1')), accumulate_bs: 2 };
    editor = resume ? await MendEditor.load(path.join(out, 'last.safetensors'), model, hp) : MendEditor.create(model, hp);
  }
  const result = await trainEditor(editor, {
    model,
    examples: withRenamedCopies(examplesFromMmedit(cases), renamePool(cases, arg('renamed-names', 'all')), Number(arg('renamed-copies', '10')), 28),
    validation: examplesFromMmedit(validation),
    outDir: out,
    resume,
    onProgress: (row) => console.log(JSON.stringify(row)),
  });
  console.log(JSON.stringify({ method, ...result }));
  model.dispose();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
