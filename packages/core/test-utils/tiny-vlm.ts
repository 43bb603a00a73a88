/** A tiny medit-vlm config and deterministic images for the VLM tests. */
import * as path from 'node:path';

import { type RgbImage, Tokenizer, type VisionLanguageModel, createModel } from '../src';

/** 12×12 images, 4×4 patches (9 patches), widths 8, 3 image tokens, a 2-layer GPT-2 over 11 tokens. */
export const TINY_VLM: Record<string, unknown> = {
  model_type: 'medit-vlm',
  num_query_tokens: 3,
  vision_config: { image_size: 12, patch_size: 4, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, image_mean: [0.4, 0.5, 0.6], image_std: [0.3, 0.25, 0.2] },
  qformer_config: { hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, encoder_hidden_size: 8 },
  text_config: { model_type: 'gpt2', vocab_size: 11, n_embd: 8, n_head: 2, n_layer: 2, n_positions: 16 },
};

/** A deterministic pseudo-random image. */
export function testImage(seed: number, size = 12): RgbImage {
  const data = new Uint8Array(size * size * 3);
  let a = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    data[i] = a >>> 24;
  }
  return { width: size, height: size, data };
}

/** The LLaVA-style variant: 16×16 images, a 4×4 patch grid pooled 2×2 → 1 + 4 image tokens. */
export const TINY_POOLED_VLM: Record<string, unknown> = {
  model_type: 'medit-vlm',
  vision_config: { image_size: 16, patch_size: 4, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2, num_attention_heads: 2 },
  projector_config: { pool_size: 2 },
  text_config: { model_type: 'gpt2', vocab_size: 11, n_embd: 8, n_head: 2, n_layer: 2, n_positions: 16 },
};

const IMAGE_WORLD_TOKENIZER = path.resolve(__dirname, '../../../test-fixtures/imageworld/tokenizer/tokenizer.json');

/**
 * A tiny medit-vlm (12×12 images, 2 image tokens) over the image world's tokenizer with seeded
 * random weights, for the editors' multimodal tests: they edit it with the world's words.
 */
export function imageWorldTinyVlm(seed: number, layers: { qformer?: number; text?: number } = {}): VisionLanguageModel {
  const tokenizer = Tokenizer.fromFile(IMAGE_WORLD_TOKENIZER);
  return createModel(
    {
      model_type: 'medit-vlm',
      num_query_tokens: 2,
      vision_config: { image_size: 12, patch_size: 4, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2 },
      qformer_config: { hidden_size: 8, intermediate_size: 16, num_hidden_layers: layers.qformer ?? 1, num_attention_heads: 2 },
      text_config: { vocab_size: tokenizer.vocabSize, n_embd: 16, n_head: 2, n_layer: layers.text ?? 2, n_positions: 48, eos_token_id: 0 },
    },
    { seed, tokenizer },
  ) as VisionLanguageModel;
}
