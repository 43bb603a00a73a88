/**
 * What the method table's factories ask their caller for. Each caller answers from its own
 * inputs: the `medit` command from its flags (with the editors the repository ships for
 * fact-small as defaults), the EasyEdit-shaped API (`@medit/easyedit`) from an EasyEdit hparams
 * file, `medit serve` from its page. A factory asks only for what its method reads, so a
 * caller's errors ("--pool is missing", "archive does not resolve") come up only for methods
 * that need the input.
 */
import type { CausalLM, LayerStats } from '@medit/core';
import type { EditCase } from '@medit/data';

/**
 * The inputs a method may read, named as the `medit` flags that give them: `hparams` (a
 * hyperparameter mapping), `editor` (a trained editor), `pool` and `k` (IKE's demonstrations),
 * `memory` (unrelated texts), `stats-corpus` / `stats-cache` / `stats-file` / `no-covariance`
 * (covariance statistics), `z-cache` (where MEMIT-family target vectors are cached).
 */
export type MethodInput = 'hparams' | 'editor' | 'pool' | 'k' | 'memory' | 'stats-corpus' | 'stats-cache' | 'stats-file' | 'no-covariance' | 'z-cache';

/** Methods whose editor is trained beforehand (`medit train`) and loaded from a path. */
export type TrainedMethod = 'mend' | 'ke' | 'serac' | 'ike';

/** A hyperparameter mapping (EasyEdit's field names, which are medit's) and where it came from. */
export interface HparamsInput {
  values: Record<string, unknown>;
  /** named in validation errors: a file name, or "hparams" */
  source: string;
}

/** Covariance statistics C = E[kkᵀ] per layer, and what the caller reports about them. */
export interface CovarianceInput {
  stats: Map<number, LayerStats>;
  /** corpus, tokens, cache (reported by `medit eval` / `medit edit`); null when there is nothing to say */
  summary: Record<string, unknown> | null;
}

/** Unrelated texts and whether the caller was given them (false: a default text). */
export interface UnrelatedTexts {
  texts: string[];
  given: boolean;
}

/** The caller's side of a method factory; see the file comment. */
export interface MethodInputs {
  /** The hyperparameters; undefined: the method's defaults for the model. */
  hparams(): HparamsInput | undefined;
  /** ROME: use C = I (mom2_adjustment false) whatever the hyperparameters say. */
  noCovariance(): boolean;
  /**
   * Covariance statistics of `layers` (ROME: its one layer; MEMIT, EMMET, AlphaEdit: every
   * edited layer) over at most `maxDocs` documents of the caller's corpus. The caller owns
   * nothing afterwards: the factory frees the statistics with its editor.
   */
  covariance(model: CausalLM, layers: number[], maxDocs: number): Promise<CovarianceInput>;
  /**
   * The trained editor of `method`: MEND / KE weights (a .safetensors file), a SERAC directory
   * (written by `medit train serac`), IKE's retrieval encoder (a BERT directory or .onnx file).
   */
  trainedEditor(method: TrainedMethod): string;
  /** IKE: the records demonstrations are drawn from. */
  demonstrationPool(): readonly EditCase[];
  /** IKE: demonstrations per edit; undefined: 32. */
  demonstrationCount(): number | undefined;
  /** T-Patcher's memory, FT+KL's KL prompts; `method` names the asker in errors. */
  unrelatedTexts(method: string): Promise<UnrelatedTexts>;
  /** MEMIT, EMMET, AlphaEdit: the directory their target vectors z are cached in; undefined (or absent): no cache. */
  zCacheDir?(): string | undefined;
}
