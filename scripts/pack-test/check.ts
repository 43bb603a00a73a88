// Type-checked in the scratch project of scripts/pack-test.sh: the installed packages' types
// resolve through their "exports" (moduleResolution node16).
import { type CausalLM, type EditDelta, loadModel } from '@medit/core';
import { type RomeHyperParams, RomeEditor, defaultRomeHparams } from '@medit/rome';

export async function edit(dir: string): Promise<EditDelta> {
  const model: CausalLM = await loadModel(dir);
  const hparams: Partial<RomeHyperParams> = { ...defaultRomeHparams(model.config.numLayers), mom2_adjustment: false };
  return new RomeEditor(hparams).edit(model, [{ prompt: '{} is a citizen of', subject: 'Rakem Boskre', targetNew: 'Lasktra' }]);
}
