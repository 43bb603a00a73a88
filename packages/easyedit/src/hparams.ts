/**
 * EasyEdit's hyperparameter files, read unchanged: the YAML (or JSON) files of
 * `zjunlp/EasyEdit` `hparams/<ALG>/<model>.yaml`, e.g. `hparams/ROME/gpt2-xl.yaml` (`alg_name`,
 * `model_name`, `layers`, `v_num_grad_steps`, `mom2_adjustment`, ...). medit's methods already
 * use EasyEdit's field names (`@medit/rome`, `@medit/memit`, `@medit/ft`, `@medit/kn` read them
 * as they are), so what is left to map is `alg_name` to a medit method and the fields that name
 * files on the EasyEdit machine (`model_name`, `archive`, `sentence_model_name`, `stats_dir`,
 * `mom2_dataset`; see `paths.ts`).
 */
import { ArgumentError, readHparamsMapping } from '@medit/core';
import { type FtVariant, ftVariantOf, resolveFtHparams } from '@medit/ft';

/** An EasyEdit hparams file as read. */
export interface EasyEditHparams {
  /** the file, as resolved */
  file: string;
  /** `alg_name` as written */
  algName: string;
  /** every field, with EasyEdit's numeric strings converted (see {@link readEasyEditHparams}) */
  values: Record<string, unknown>;
}

/** EasyEdit `alg_name` → medit method (`@medit/methods`); FT is resolved per file by {@link methodFor}. */
export const ALG_METHODS: Readonly<Record<string, string>> = {
  ROME: 'rome',
  MEMIT: 'memit',
  EMMET: 'emmet',
  AlphaEdit: 'alphaedit',
  FT: 'ft',
  KN: 'kn',
  MEND: 'mend',
  KE: 'ke',
  SERAC: 'serac',
  IKE: 'ike',
  // EasyEdit lists CALINET among its batch methods (editors/batch_editor.py) but ships no
  // hparams for it; T-Patcher is medit's. Accepted under these names.
  CALINET: 'calinet',
  CaliNet: 'calinet',
  'T-Patcher': 'tpatcher',
};

/**
 * Methods `batch_edit` runs: EasyEdit's `BatchEditor.is_batchable_method` list
 * (`easyeditor/editors/batch_editor.py`: CALINET, SERAC, KE, MEND, MEMIT, FT, EMMET, AlphaEdit,
 * ... ) as far as medit has them.
 */
export const BATCH_METHODS: readonly string[] = ['calinet', 'serac', 'ke', 'mend', 'memit', 'ft', 'ft-l', 'ft-m', 'ft+kl', 'emmet', 'alphaedit'];

/** A number written as a string: PyYAML reads `5e-1` (an exponent without a dot) as one. */
const NUMERIC = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/**
 * Reads an EasyEdit hparams file. Top-level string values that are numbers are converted, as
 * EasyEdit's `HyperParams.construct_float_from_scientific_notation` does for every method
 * (`easyeditor/util/hparams.py`), so `v_lr: "5e-1"` is 0.5 whichever YAML reader wrote it.
 * @throws IOError naming the file when it cannot be read or is not a mapping; ArgumentError when
 *   `alg_name` is missing or not a string
 */
export function readEasyEditHparams(file: string): EasyEditHparams {
  const raw = readHparamsMapping(file);
  const values: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) values[k] = typeof v === 'string' && NUMERIC.test(v) ? Number(v) : v;
  const algName = values.alg_name;
  if (typeof algName !== 'string' || algName === '') {
    throw new ArgumentError(`${file}: alg_name is missing; an EasyEdit hparams file names its method (alg_name: ROME, MEMIT, FT, MEND, SERAC, IKE, ...)`);
  }
  return { file, algName, values };
}

const FT_METHODS: Record<FtVariant, string> = { FT: 'ft', 'FT-L': 'ft-l', 'FT-M': 'ft-m', 'FT+KL': 'ft+kl' };

/**
 * The medit method an EasyEdit file runs. `FT` is one name in EasyEdit for several baselines,
 * told apart by its fields: `objective_optimization: prompt_last` with a `norm_constraint` is
 * FT-L, `target_new` is FT-M (the comments of `hparams/FT/gpt2-xl.yaml`), a positive
 * `kl_factor` adds medit's KL term (FT+KL), `prompt_last` without a constraint is plain FT.
 * @throws ArgumentError naming `alg_name` and the known names when medit has no such method
 */
export function methodFor(h: EasyEditHparams, numLayers: number): string {
  const method = Object.prototype.hasOwnProperty.call(ALG_METHODS, h.algName) ? ALG_METHODS[h.algName] : undefined;
  if (!method) throw new ArgumentError(`${h.file}: alg_name ${JSON.stringify(h.algName)} is not a method medit has (known: ${Object.keys(ALG_METHODS).join(', ')})`);
  if (method !== 'ft') return method;
  return FT_METHODS[ftVariantOf(resolveFtHparams(h.values, numLayers, 'FT', h.file))];
}
