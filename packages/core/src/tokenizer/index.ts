/**
 * Tokenizers read from Hugging Face `tokenizer.json` files, in pure TypeScript.
 * @packageDocumentation
 */
export { Tokenizer } from './tokenizer';
export type { EncodeOptions, DecodeOptions, TokenizerJSONOptions, SpecialTokenRole } from './tokenizer';
export type { Encoding } from './post-processors';
export { TokenizerError } from './errors';
export { gpt2FilesToJSON } from './gpt2-files';
