/**
 * `medit train serac`: trains SERAC's scope classifiers (embedding and cross-encoder) and its
 * counterfactual model on training edits (specs/meta-and-memory.md §2.3) and writes the artefact
 * directory `medit eval --method serac --editor DIR` and `Serac.load` read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { readDataset } from '@medit/data';
import { type SeracComponent, trainSerac } from '@medit/serac';

import { type OptionSpecs, UsageError } from '../args';
import { requireFile, resolvePath, shortPath } from '../common';
import { formatDuration } from '../output';
import { commandLine, dataUse } from '../provenance';
import type { TrainMethod } from './train';

const COMPONENTS: readonly SeracComponent[] = ['scope-embedding', 'scope-cross', 'counterfactual'];

/** `--val-share` must leave both sides non-empty: a share in (0, 1), or absent. */
function valShare(v: number | undefined): number | undefined {
  if (v !== undefined && !(v > 0 && v < 1)) throw new UsageError(`Expected a share in (0, 1) for --val-share but received ${v}`, 'train');
  return v;
}

const OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'base model (Hugging Face directory); the counterfactual model starts as a copy of it' },
  dataset: { type: 'string', value: 'FILE[,FILE]', description: 'training split(s): CounterFact / zsRE / KnowEdit files (never the eval split)' },
  validation: { type: 'string', value: 'FILE[,FILE]', description: "validation split(s) to calibrate the classifiers' routing threshold on (instead of --val-share)" },
  out: { type: 'string', value: 'DIR', description: 'SERAC directory: serac.json, scope-embedding/, scope-cross/, counterfactual/' },
  components: { type: 'string', value: 'LIST', description: `what to train, comma-separated (${COMPONENTS.join(', ')}; default all)` },
  'scope-steps': { type: 'string', value: 'N', description: 'classifier optimisation steps (default 1500)' },
  'scope-lr': { type: 'string', value: 'X', description: 'classifier learning rate (default 1e-3)' },
  'scope-positives': { type: 'string', value: 'N', description: 'in-scope queries per edit in a classifier batch (default 2)' },
  'scope-rephrase-share': { type: 'string', value: 'F', description: 'share of those positives drawn from rephrases (default 0)' },
  'cf-steps': { type: 'string', value: 'N', description: 'counterfactual-model optimisation steps (default 1500)' },
  'val-share': { type: 'string', value: 'F', description: 'share of the training subjects held out from the classifiers to choose their routing threshold (default 0: SERAC\'s 0.5)' },
  'scope-init': { type: 'string', value: 'DIR', description: "start the classifiers' encoder from this BERT (e.g. a trained scope-embedding/ for the cross-encoder)" },
  seed: { type: 'string', value: 'N', description: 'seed of the pair sampling and initialisation (default 0)' },
  limit: { type: 'string', value: 'N', description: 'use only the first N cases of each dataset' },
};

export const TRAIN_SERAC: TrainMethod = {
  summary: 'train SERAC (scope classifiers and counterfactual model)',
  usage: 'medit train serac --model DIR --dataset FILE[,FILE] [--validation FILE[,FILE]] --out DIR [--components LIST] [--scope-steps N] [--cf-steps N]',
  options: OPTIONS,
  async run({ io, out, args, argv }) {
    const modelDir = resolvePath(io, args.required('model'));
    const outDir = resolvePath(io, args.required('out'));
    const files = args
      .required('dataset')
      .split(',')
      .map((f) => requireFile(resolvePath(io, f.trim()), 'dataset file'));
    const components = (args.string('components')?.split(',').map((s) => s.trim()) ?? [...COMPONENTS]) as SeracComponent[];
    for (const c of components) if (!COMPONENTS.includes(c)) throw new UsageError(`Expected ${COMPONENTS.join(', ')} in --components but received ${JSON.stringify(c)}`, 'train');
    const existing = components.filter((c) => fs.existsSync(path.join(outDir, c)));
    if (existing.length > 0) throw new UsageError(`${shortPath(io, outDir)} already holds ${existing.join(', ')}; choose another --out or --components`, 'train');
    const limit = args.int('limit', { min: 1 });
    const read = (f: string) => {
      const ds = readDataset(f);
      return { file: f, cases: limit ? ds.cases.slice(0, limit) : ds.cases };
    };
    const trainSets = files.map(read);
    const valSets = (args.string('validation')?.split(',') ?? []).map((f) => read(requireFile(resolvePath(io, f.trim()), 'validation file')));
    if (valSets.length > 0 && args.has('val-share')) throw new UsageError('--validation and --val-share both choose the calibration cases; give one', 'train');
    const cases = trainSets.flatMap((s) => s.cases);
    const validationCases = valSets.length > 0 ? valSets.flatMap((s) => s.cases) : undefined;
    const data = [...trainSets.map((s) => dataUse('train', s.file, s.cases)), ...valSets.map((s) => dataUse('validation', s.file, s.cases))];
    const share = (flag: string) => {
      const v = args.number(flag);
      if (v !== undefined && !(v >= 0 && v <= 1)) throw new UsageError(`Expected a share in [0, 1] for --${flag} but received ${v}`, 'train');
      return v;
    };
    out.line(`training SERAC (${components.join(', ')}) for ${shortPath(io, modelDir)} on ${cases.length} training edits → ${shortPath(io, outDir)}`);
    const bar = out.progress('train');
    const started = Date.now();
    await trainSerac({
      baseModel: modelDir,
      cases,
      out: outDir,
      components,
      seed: args.int('seed', { min: 0 }) ?? 0,
      scope: {
        steps: args.int('scope-steps', { min: 1 }) ?? 1500,
        ...(args.has('scope-lr') ? { lr: args.number('scope-lr') } : {}),
        ...(args.has('scope-positives') ? { positives: args.int('scope-positives', { min: 1 }) } : {}),
        ...(args.has('scope-rephrase-share') ? { rephraseShare: share('scope-rephrase-share') } : {}),
      },
      scopeInit: args.has('scope-init') ? resolvePath(io, args.string('scope-init')!) : undefined,
      counterfactual: { steps: args.int('cf-steps', { min: 1 }) ?? 1500 },
      validationShare: valShare(args.number('val-share')),
      validationCases,
      data,
      command: argv ? commandLine('train', argv) : undefined,
      signal: io.signal,
      onProgress: (p) => bar.update(p.done, p.total, p.stage, { stage: p.stage, ...p.info }),
    });
    bar.end();
    out.line(`done in ${formatDuration(Date.now() - started)}: ${shortPath(io, outDir)}`);
    out.result({ method: 'SERAC', model: modelDir, out: outDir, components, cases: cases.length });
    return 0;
  },
};
