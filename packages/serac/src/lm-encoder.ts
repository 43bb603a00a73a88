/**
 * A causal language model (GPT-2) as a sentence encoder: a text's vector is the final hidden
 * state — after the final layer norm, what the LM head reads — at its last token (`last`: the
 * only position that has read the whole text), or the mean over its tokens (`mean`). SERAC's
 * scope classifier over a fine-tuned copy of the edited model's own language model uses it
 * ({@link trainLmScopeClassifier}).
 *
 * A text is read as the LM reads text elsewhere in medit: its tokenizer's own encoding (GPT-2's
 * adds no BOS), no [CLS]/[SEP]. Batches are right-padded with an attention mask, so padding
 * changes neither a row's positions nor what its tokens attend to.
 */
import { ArgumentError, type CausalLM, noGrad, type Tensor, tidy, type Tokenizer } from '@medit/core';

import type { EncoderBatch, Pooling, TextEncoder } from './encoder';

/** A GPT-2 run by the engine as a {@link TextEncoder}; it owns the model (`dispose` frees it). */
export class LmEncoder implements TextEncoder {
  readonly backend = 'engine' as const;
  readonly tokenizer: Tokenizer;

  /** @throws ArgumentError for a model that is not a GPT-2, `cls` pooling, or no tokenizer */
  constructor(
    readonly model: CausalLM,
    readonly pooling: Pooling = 'last',
    tokenizer?: Tokenizer,
  ) {
    if (model.config.modelType !== 'gpt2') throw new ArgumentError(`LmEncoder: expected a GPT-2 (model_type "gpt2"), not ${JSON.stringify(model.config.modelType)}`);
    // a causal LM's first position has read only the first token
    if (pooling === 'cls') throw new ArgumentError('LmEncoder: pooling must be "last" or "mean", not "cls"');
    const tok = tokenizer ?? model.tokenizer;
    if (!tok) throw new ArgumentError('LmEncoder: the language model has no tokenizer (load a directory with tokenizer.json)');
    this.tokenizer = tok;
  }

  get hiddenSize(): number {
    return this.model.config.hiddenSize;
  }

  get maxLength(): number {
    return this.model.config.maxPositions;
  }

  /**
   * The text's tokens, keeping the last `maxLength` (the pooled token is the text's end); an empty
   * text reads as the BOS token alone (GPT-2's `<|endoftext|>`), so every row has a last token.
   * @throws ArgumentError for an empty text when the tokenizer declares no BOS/EOS token
   */
  encode(text: string): number[] {
    const ids = this.tokenizer.encode(text);
    if (ids.length > 0) return ids.slice(-this.maxLength);
    const bos = this.tokenizer.bosTokenId ?? this.tokenizer.eosTokenId;
    if (bos === undefined) throw new ArgumentError('LmEncoder: cannot encode an empty text: the tokenizer declares no BOS or EOS token');
    return [bos];
  }

  /** Final-norm hidden states [B, T, C] as a tensor (differentiable: the scope classifier's training reads it). */
  hidden(batch: EncoderBatch): Tensor {
    // the LM head runs at each row's last token only: its logits are not used
    const out = this.model.forward(batch.ids, { attentionMask: batch.mask, outputHiddenStates: true, logitsAt: batch.mask.map((m) => m.lastIndexOf(1)) });
    return out.hiddenStates![out.hiddenStates!.length - 1];
  }

  lastHidden(batch: EncoderBatch): Float32Array {
    return noGrad(() => tidy(() => this.hidden(batch).data() as Float32Array));
  }

  dispose(): void {
    this.model.dispose();
  }
}
