/**
 * SERAC's embedding scope classifier over a fine-tuned copy of a causal language model
 * (specs/meta-and-memory.md §2.3). SERAC starts its classifier from a pretrained DistilBERT: an
 * encoder that has read many wordings of a question before it learns scope. No pretrained BERT can
 * be downloaded here, and one trained from scratch on a few hundred records fails on wordings it
 * never saw ("Which form do the shapes take?" against "Name the shape of the objects."). The
 * closest pretrained encoder at hand is the edited model's own language model, which has read every
 * wording its training data holds: its final-norm hidden state at a text's last token
 * ({@link LmEncoder}) is the sentence vector, and all of its weights train with the BERT
 * classifier's pairs, loss and schedule ({@link trainScopePairs}). Used frozen, those vectors
 * confused e.g. flag questions with text questions answered by a nation; fine-tuning lets the loss
 * pull them apart.
 *
 * Only the init is the edited model's: the classifier's training data, the scope set, still comes
 * from the train split alone. The copy is trained; the source model is not modified.
 */
import { ArgumentError, type CausalLM, GPT2, saveModel } from '@medit/core';

import type { ScopeTrainingEdit } from './examples';
import { LmEncoder } from './lm-encoder';
import type { ScopeConfig } from './scope';
import { float32Copy, scopeRunSettings, type ScopeTrainOptions, trainScopePairs } from './scope-train';

/** Settings of {@link trainLmScopeClassifier}: the run settings of {@link ScopeTrainOptions}, with `last` (default) or `mean` pooling. */
export type LmScopeTrainOptions = Omit<ScopeTrainOptions, 'kind' | 'init' | 'wordEmbeddings' | 'hiddenSize' | 'layers' | 'heads' | 'intermediateSize' | 'maxPositions'>;

/** A trained LM scope classifier: its GPT-2 and config (`encoder: 'lm'`). */
export interface TrainedLmScope {
  lm: CausalLM;
  config: ScopeConfig;
  history: { step: number; loss: number }[];
}

/** A trainable float32 copy of a GPT-2 (the tokenizer is shared). */
function copyLm(src: CausalLM): CausalLM {
  const lm = new GPT2(src.config, float32Copy(src.params));
  lm.tokenizer = src.tokenizer;
  return lm;
}

/**
 * Trains an embedding scope classifier from a copy of `init` (a GPT-2 with its tokenizer, e.g. a
 * vision-language model's `textModel()`): every weight of the copy trains; `init` is not modified.
 * The default learning rate (1e-4) is ten times lower than the BERT trained from scratch: the
 * copy starts from what the LM has learned, as SERAC's DistilBERT (trained at 1e-5) does.
 * @param prefixes - context sentences queries may start with ({@link contextPrefixes})
 * @throws ArgumentError for no edits, a model that is not a GPT-2, or `cls` pooling; CancelledError when `signal` aborts
 * @example const scope = trainLmScopeClassifier(vlm.textModel(), multimodalScopeSet(cases), [], { steps: 1500 });
 */
export function trainLmScopeClassifier(init: CausalLM, edits: readonly ScopeTrainingEdit[], prefixes: readonly string[], opts: LmScopeTrainOptions = {}): TrainedLmScope {
  if (edits.length === 0) throw new ArgumentError('trainLmScopeClassifier: no training edits');
  const pooling = opts.pooling ?? 'last';
  // LmEncoder checks the model, its tokenizer and the pooling before anything is copied
  new LmEncoder(init, pooling);
  const o = scopeRunSettings(opts, 1e-4);
  const lm = copyLm(init);
  try {
    const history = trainScopePairs({ encoder: new LmEncoder(lm, pooling), params: lm.params.values(), head: null, kind: 'embedding', pooling }, edits, prefixes, o, opts, 'trainLmScopeClassifier');
    return { lm, config: { kind: 'embedding', encoder: 'lm', pooling, scale: o.scale }, history };
  } catch (err) {
    lm.dispose();
    throw err;
  }
}

/**
 * Writes an LM classifier directory: the GPT-2 as a Hugging Face directory (config.json,
 * model.safetensors in the weights' dtype, the tokenizer files of `tokenizerDir` as they are: no
 * [CLS]/[SEP] is declared) plus `scope.json`. Atomic (temp + rename).
 * @param tokenizerDir - the base model's directory (its tokenizer is the LM's)
 */
export async function saveLmScopeClassifier(scope: Pick<TrainedLmScope, 'lm' | 'config'>, dir: string, tokenizerDir: string): Promise<void> {
  await saveModel(scope.lm, dir, { sideFilesFrom: tokenizerDir, metadata: { medit_trained: 'serac-scope-lm' }, extraFiles: { 'scope.json': JSON.stringify(scope.config) + '\n' } });
}
