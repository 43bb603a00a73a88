/**
 * Edits as LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models",
 * eq. 3: h = W₀x + B A x) in Hugging Face PEFT's format (see `io/peft-lora.ts`), and back.
 *
 * An {@link EditDelta}'s low-rank updates (ROME's rank one per request, MEMIT's per-layer
 * K·R factors, MEND's per-token factors) are LoRA modules as they are: the factors of all
 * updates of one weight are concatenated (rank = the sum of theirs). A dense update (FT, KN,
 * a MEMIT batch too large for factors) is factored exactly at its numerical rank
 * (`factorLowRank`); one whose rank is above the limit is refused with the rank it would need.
 * lora_alpha = r for every module, so PEFT's scaling alpha/r is exactly 1 and the adapter adds
 * B A — the edit's ΔW — to each weight.
 */
import { noGrad, tidy } from '../engine';
import { ArgumentError } from '../errors';
import { writeDirAtomic } from '../io/atomic-write';
import { clone } from '../linalg';
import { adapterUpdates, loraPatternKey, loraTargetOfWeight, readPeftAdapter, writePeftAdapter, type LoraModule, type LoraTarget, type PeftLoraConfig } from '../io/peft-lora';
import type { CausalLM } from '../models/model';
import { add } from '../ops/elementwise';
import { cast, concat, transpose } from '../ops/layout';
import { matmul } from '../ops/linalg';
import type { Tensor } from '../tensor';
import { EditDelta, type WeightUpdate } from './edit-delta';
import { factorLowRank } from './low-rank';

/** Options of {@link exportLoraAdapter}. */
export interface LoraExportOptions {
  /**
   * Largest rank a module may have. Default, per weight [out, in]: the largest r whose factors
   * are smaller than the dense change, r·(out + in) < out·in.
   */
  maxRank?: number;
  /** Singular-value tolerance for factoring dense updates (default NumPy's matrix_rank tolerance in float32; see `factorLowRank`). */
  tolerance?: number;
  /** `base_model_name_or_path` of the adapter (default: the directory the model was loaded from). */
  baseModelName?: string;
}

/** One module of a written adapter. */
export interface LoraExportModule {
  module: string;
  weightName: string;
  rank: number;
  /** `factors`: the delta's own low-rank factors; `dense`: factored from a dense change */
  from: 'factors' | 'dense';
}

/** What {@link exportLoraAdapter} wrote. */
export interface LoraExportSummary {
  /** the config's `r` (the most common module rank) */
  r: number;
  modules: LoraExportModule[];
  /** weights whose change is zero at the tolerance (no module written) */
  unchanged: string[];
}

/** The default rank limit of a weight: the largest r with r·(rows + cols) < rows·cols. */
function defaultMaxRank(rows: number, cols: number): number {
  return Math.ceil((rows * cols) / (rows + cols)) - 1;
}

/** B [out, r] and A [r, in] from factors of the stored change `left @ right`. */
function peftFactors(t: LoraTarget, left: Tensor, right: Tensor): { a: Tensor; b: Tensor } {
  // Conv1D stores [in, out] = L R, so torch's [out, in] change is Rᵀ Lᵀ: B = Rᵀ, A = Lᵀ.
  return t.layout === 'in_out' ? { a: transpose(left), b: transpose(right) } : { a: right, b: left };
}

/** One weight's updates as a LoRA module (null when the change is zero). */
function moduleOf(model: CausalLM, name: string, updates: WeightUpdate[], opts: LoraExportOptions): (LoraModule & { info: LoraExportModule }) | null {
  const t = loraTargetOfWeight(model, name);
  const [rows, cols] = model.param(name).shape;
  const limit = opts.maxRank ?? defaultMaxRank(rows, cols);
  const factored = updates.every((u) => u.left && u.right);
  const k = factored ? updates.reduce((s, u) => s + u.left!.shape[1], 0) : Infinity;
  return noGrad(() =>
    tidy(() => {
      if (factored && k <= limit) {
        const left = updates.length === 1 ? updates[0].left! : concat(updates.map((u) => u.left!), 1);
        const right = updates.length === 1 ? updates[0].right! : concat(updates.map((u) => u.right!), 0);
        const { a, b } = peftFactors(t, cast(left, 'float32'), cast(right, 'float32'));
        // copies: the adapter's tensors are disposed after writing, the delta's are not ours
        return { module: t.module, a: clone(a), b: clone(b), info: { module: t.module, weightName: name, rank: k, from: 'factors' as const } };
      }
      // the change as one dense float64 matrix in the stored layout, then its exact factors
      let dense: Tensor | null = null;
      for (const u of updates) {
        const part = u.delta ? cast(u.delta, 'float64') : matmul(cast(u.left!, 'float64'), cast(u.right!, 'float64'));
        dense = dense ? add(dense, part) : part;
      }
      const f = factorLowRank(dense!, { tolerance: opts.tolerance });
      if (f.rank === 0) return null;
      if (f.rank > limit) {
        throw new ArgumentError(
          `LoRA: the change to ${name} [${rows}, ${cols}] has numerical rank ${f.rank} (singular values above ${f.tolerance.toExponential(2)}), ` +
            `above the adapter's rank limit ${limit}${opts.maxRank === undefined ? ' (the largest rank whose factors are smaller than the dense change)' : ''}; ` +
            `exporting it exactly needs rank ${f.rank}`,
        );
      }
      const { a, b } = peftFactors(t, f.left!, f.right!);
      return { module: t.module, a, b, info: { module: t.module, weightName: name, rank: f.rank, from: 'dense' as const } };
    }),
  );
}

/**
 * Converts `delta` (computed on `model`) into PEFT LoRA modules and writes the adapter directory
 * `dir` atomically (`adapter_config.json`, `adapter_model.safetensors`).
 * @throws ArgumentError when `dir` exists, an update changes a weight LoRA cannot adapt
 *   (embeddings, norms, biases; named), or a dense change's rank exceeds the limit (with the
 *   rank it would need)
 * @example await exportLoraAdapter(model, delta, 'out/rome-lora');  // then loadModel(dir, { adapter: 'out/rome-lora' })
 */
export async function exportLoraAdapter(model: CausalLM, delta: EditDelta, dir: string, opts: LoraExportOptions = {}): Promise<LoraExportSummary> {
  if (opts.maxRank !== undefined && !(Number.isInteger(opts.maxRank) && opts.maxRank > 0)) throw new ArgumentError(`Expected a positive integer for maxRank but received ${opts.maxRank}`);
  if (delta.updates.length === 0) throw new ArgumentError('LoRA: the delta has no weight updates, so there is nothing to export');
  const byWeight = new Map<string, WeightUpdate[]>();
  for (const u of delta.updates) byWeight.set(u.name, [...(byWeight.get(u.name) ?? []), u]);
  // check every weight before any factoring, so a refusal names the first offending weight quickly
  for (const name of byWeight.keys()) {
    if (!model.params.has(name)) throw new ArgumentError(`LoRA: the delta changes ${name}, which is not a weight of the model (memory-based edits and added neurons are not weight changes)`);
    loraTargetOfWeight(model, name);
  }
  const modules: (LoraModule & { info: LoraExportModule })[] = [];
  const unchanged: string[] = [];
  try {
    for (const [name, updates] of byWeight) {
      const m = moduleOf(model, name, updates, opts);
      if (m) modules.push(m);
      else unchanged.push(name);
    }
    if (modules.length === 0) throw new ArgumentError(`LoRA: every update of the delta is zero (${unchanged.join(', ')}), so there is nothing to export`);
    const r = mostCommon(modules.map((m) => m.info.rank));
    const pattern: Record<string, number> = {};
    for (const m of modules) if (m.info.rank !== r) pattern[loraPatternKey(m.module)] = m.info.rank;
    const config: PeftLoraConfig = {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: opts.baseModelName ?? model.source ?? null,
      revision: null,
      inference_mode: true,
      r,
      // alpha = r (and per module alpha = its rank): PEFT's scaling alpha / r is 1
      lora_alpha: r,
      lora_dropout: 0,
      target_modules: modules.map((m) => m.module).sort(),
      fan_in_fan_out: modules.some((m) => loraTargetOfWeight(model, m.info.weightName).layout === 'in_out'),
      bias: 'none',
      use_rslora: false,
      use_dora: false,
      rank_pattern: pattern,
      alpha_pattern: { ...pattern },
      modules_to_save: null,
      init_lora_weights: true,
      layers_to_transform: null,
      layers_pattern: null,
    };
    const metadata: Record<string, string> = { medit_edit: delta.info.method };
    if (delta.info.modelFingerprint) metadata.medit_model_fingerprint = delta.info.modelFingerprint;
    await writeDirAtomic(dir, (tmp) => writePeftAdapter(tmp, config, modules, metadata), 'exportLoraAdapter');
    return { r, modules: modules.map((m) => m.info), unchanged };
  } finally {
    for (const m of modules) {
      m.a.dispose();
      m.b.dispose();
    }
  }
}

function mostCommon(xs: number[]): number {
  const counts = new Map<number, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts].sort((p, q) => q[1] - p[1] || q[0] - p[0])[0][0];
}

/**
 * Reads a PEFT LoRA adapter directory as an {@link EditDelta} for `model`: one low-rank update
 * per module (ΔW = scaling · B A in the weight's own layout), to apply, revert or save like any
 * edit. `loadModel(dir, { adapter })` merges one instead.
 * @throws IOError naming the file, field, tensor or module that does not fit the model
 * @example const lora = await loadAdapter(model, 'out/rome-lora'); lora.apply(model);
 */
export async function loadAdapter(model: CausalLM, dir: string): Promise<EditDelta> {
  const adapter = await readPeftAdapter(dir);
  try {
    const updates = adapterUpdates(model, adapter, dir);
    return new EditDelta(updates, {
      method: 'LoRA',
      hparams: { r: adapter.config.r, lora_alpha: adapter.config.lora_alpha, use_rslora: adapter.config.use_rslora, target_modules: adapter.config.target_modules },
      stats: { adapter: dir, baseModel: adapter.config.base_model_name_or_path },
    });
  } finally {
    adapter.dispose();
  }
}
