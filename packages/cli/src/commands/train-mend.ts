/** `medit train mend`: trains MEND's editor networks (specs/meta-and-memory.md §1.5). */
import { type MendHyperParams, MendEditor, defaultMendHparams } from '@medit/mend';

import type { TrainMethod } from './train';
import { TRAIN_EDITOR_OPTIONS, runEditorTraining } from './train-editor';

export const TRAIN_MEND: TrainMethod = {
  summary: 'train MEND (gradient-decomposition editor networks)',
  usage: 'medit train mend --model DIR --dataset FILE[,FILE] --out DIR [--hparams FILE] [--max-iters N] [--resume]',
  options: TRAIN_EDITOR_OPTIONS,
  run: (ctx) =>
    runEditorTraining<MendHyperParams>(ctx, {
      method: 'MEND',
      defaults: defaultMendHparams,
      create: (model, hp) => MendEditor.create(model, hp),
      load: (file, model, hp) => MendEditor.load(file, model, hp),
    }),
};
