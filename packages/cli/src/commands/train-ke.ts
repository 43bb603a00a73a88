/** `medit train ke`: trains KnowledgeEditor's hypernetwork (specs/meta-and-memory.md §5.2). */
import { type KeHyperParams, KeEditor, defaultKeHparams } from '@medit/mend';

import type { TrainMethod } from './train';
import { TRAIN_EDITOR_OPTIONS, runEditorTraining } from './train-editor';

export const TRAIN_KE: TrainMethod = {
  summary: 'train KE (KnowledgeEditor hypernetwork, constrained objective)',
  usage: 'medit train ke --model DIR --dataset FILE[,FILE] --out DIR [--hparams FILE] [--max-iters N] [--resume]',
  options: TRAIN_EDITOR_OPTIONS,
  run: (ctx) =>
    runEditorTraining<KeHyperParams>(ctx, {
      method: 'KE',
      defaults: defaultKeHparams,
      create: (model, hp) => KeEditor.create(model, hp),
      load: (file, model, hp) => KeEditor.load(file, model, hp),
    }),
};
