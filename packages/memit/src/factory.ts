/** Builds the editor an EasyEdit hyperparameter file names (`alg_name`). */
import type { CausalLM } from '@medit/core';

import { AlphaEditEditor, EmmetEditor, type MassEditorBase, type MassEditorOptions, MemitEditor } from './editor';
import { type MassEditAlgorithm, type MemitHyperParams, algorithmFromName, readMemitHparams } from './hparams';

/**
 * `createMassEditor('AlphaEdit', hparams, options)`, or with a file:
 * `createMassEditor('hparams/AlphaEdit/gpt2-xl.yaml', model, options)` reads it (its
 * `alg_name` picks the class).
 */
export function createMassEditor(alg: MassEditAlgorithm, hparams?: Partial<MemitHyperParams>, options?: MassEditorOptions): MassEditorBase;
export function createMassEditor(file: string, model: CausalLM, options?: MassEditorOptions): MassEditorBase;
export function createMassEditor(a: string, b?: Partial<MemitHyperParams> | CausalLM, options: MassEditorOptions = {}): MassEditorBase {
  let alg: MassEditAlgorithm;
  let hp: Partial<MemitHyperParams>;
  if (['MEMIT', 'EMMET', 'AlphaEdit'].includes(a)) {
    alg = a as MassEditAlgorithm;
    hp = (b as Partial<MemitHyperParams>) ?? {};
  } else {
    const model = b as CausalLM;
    hp = readMemitHparams(a, model.config.numLayers);
    alg = algorithmFromName(hp.alg_name, a);
  }
  if (alg === 'EMMET') return new EmmetEditor(hp, options);
  if (alg === 'AlphaEdit') return new AlphaEditEditor(hp, options);
  return new MemitEditor(hp, options);
}
