/**
 * The part of `medit train <method>` that every meta-learned editor shares: reading the training
 * split(s), loading the base model, creating or resuming the editor, running `trainEditor` with
 * progress lines, and reporting where the trained editor is.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { CausalLM } from '@medit/core';
import { readDataset } from '@medit/data';
import { type TrainableEditor, type TrainHyperParams, examplesFromCases, readHparamsFile, trainEditor } from '@medit/mend';

import { type OptionSpecs, UsageError } from '../args';
import { type CommandContext, loadModelDir, requireFile, resolvePath, shortPath } from '../common';
import { formatDuration } from '../output';
import { commandLine, dataUse } from '../provenance';

/** Options of every `medit train <method>`. */
export const TRAIN_EDITOR_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'base model (Hugging Face directory) the editor is trained for' },
  dataset: { type: 'string', value: 'FILE[,FILE]', description: 'training split(s): CounterFact / zsRE / KnowEdit files (never the eval split)' },
  validation: { type: 'string', value: 'FILE[,FILE]', description: 'validation split(s) for the validation loss and early stopping (default: a val_fraction share held out of --dataset)' },
  out: { type: 'string', value: 'DIR', description: 'run directory: best.safetensors (the editor), last.safetensors, optimiser state, train-log.jsonl' },
  resume: { type: 'boolean', description: 'continue the run in --out from its last checkpoint' },
  hparams: { type: 'string', value: 'FILE', description: 'hyperparameters (.json or .yaml, EasyEdit/MEND field names)' },
  'max-iters': { type: 'string', value: 'N', description: 'training batches at most (overrides max_iters)' },
  limit: { type: 'string', value: 'N', description: 'use only the first N cases of each dataset' },
};

/** How one method makes (or reloads) its editor. */
export interface EditorFactory<H extends TrainHyperParams> {
  method: string;
  defaults: () => H;
  create(model: CausalLM, hp: Partial<H>): TrainableEditor & { dispose(): void };
  load(file: string, model: CausalLM, overrides: Partial<H>): Promise<TrainableEditor & { dispose(): void }>;
}

/** Runs `medit train <method>` for one editor family. */
export async function runEditorTraining<H extends TrainHyperParams>(ctx: CommandContext, factory: EditorFactory<H>): Promise<number> {
  const { io, out, args, state } = ctx;
  const modelDir = args.required('model');
  const outDir = resolvePath(io, args.required('out'));
  const files = args
    .required('dataset')
    .split(',')
    .map((f) => requireFile(resolvePath(io, f.trim()), 'dataset file'));
  const limit = args.int('limit', { min: 1 });
  const overrides: Partial<H> = args.has('hparams') ? readHparamsFile(requireFile(resolvePath(io, args.string('hparams')!), 'hyperparameter file'), factory.defaults()) : {};
  const maxIters = args.int('max-iters', { min: 1 });
  if (maxIters !== undefined) overrides.max_iters = maxIters;
  const resume = args.flag('resume');
  const last = path.join(outDir, 'last.safetensors');
  if (resume && !fs.existsSync(last)) throw new UsageError(`--resume: ${shortPath(io, outDir)} has no checkpoint (last.safetensors) to resume from`, 'train');
  if (!resume && fs.existsSync(path.join(outDir, 'train-log.jsonl'))) throw new UsageError(`${shortPath(io, outDir)} already holds a training run; pass --resume to continue it or choose another --out`, 'train');

  const read = (f: string) => {
    const ds = readDataset(f);
    return limit ? ds.cases.slice(0, limit) : ds.cases;
  };
  const trainSets = files.map((f) => ({ file: f, cases: read(f) }));
  const valSets = (args.string('validation')?.split(',') ?? []).map((f) => requireFile(resolvePath(io, f.trim()), 'validation file')).map((f) => ({ file: f, cases: read(f) }));
  const examples = examplesFromCases(trainSets.flatMap((s) => s.cases));
  const validation = valSets.length > 0 ? examplesFromCases(valSets.flatMap((s) => s.cases)) : undefined;
  const data = [...trainSets.map((s) => dataUse('train', s.file, s.cases)), ...valSets.map((s) => dataUse('validation', s.file, s.cases))];
  const model = await loadModelDir(io, modelDir);
  const editor = resume ? await factory.load(last, model, overrides) : factory.create(model, overrides);
  const valArg = args.string('validation');
  const command = `medit train ${factory.method.toLowerCase()} --model ${modelDir} --dataset ${args.required('dataset')}${valArg ? ` --validation ${valArg}` : ''} --out ${args.required('out')} --resume`;
  state.resumeHint = `checkpoint saved; resume with: ${command}`;
  try {
    const valNote = validation ? `, validation on ${validation.length} (${valSets.map((s) => shortPath(io, s.file)).join(', ')})` : '';
    out.line(`${resume ? 'resuming' : 'training'} ${factory.method} for ${shortPath(io, resolvePath(io, modelDir))} on ${examples.length} training edits (${files.map((f) => shortPath(io, f)).join(', ')})${valNote} → ${shortPath(io, outDir)}`);
    const started = Date.now();
    const result = await trainEditor(editor, {
      model,
      examples,
      validation,
      data,
      command: ctx.argv ? commandLine('train', ctx.argv) : undefined,
      outDir,
      resume,
      signal: io.signal,
      onProgress: (row) => {
        out.event('progress', { ...row });
        const acc = row.rewriteAcc !== undefined ? ` rewrite acc ${row.rewriteAcc.toFixed(3)}` : '';
        out.line(`${row.kind === 'val' ? 'val  ' : 'train'} iter ${row.iter}  loss ${row.loss.toFixed(4)}  edit ${row.editLoss.toFixed(4)}  loc ${row.locLoss.toFixed(4)}  rephrase acc ${row.editAcc.toFixed(3)}${acc}`);
      },
    });
    out.line(`done in ${formatDuration(Date.now() - started)} (${result.iterations} iterations, ${result.stoppedBy}); best validation loss ${result.bestValLoss.toFixed(4)} at iteration ${result.bestIter}`);
    out.line(`editor: ${shortPath(io, result.bestFile)}`);
    out.result({ method: factory.method, model: modelDir, out: outDir, ...result });
    return 0;
  } finally {
    editor.dispose();
    model.dispose();
  }
}
