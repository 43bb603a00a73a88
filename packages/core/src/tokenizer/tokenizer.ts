/**
 * A Hugging Face `tokenizer.json` tokenizer in pure TypeScript.
 *
 * Pipeline (HF tokenizers/src/tokenizer/mod.rs `encode_single_sequence`): added tokens are cut out
 * of the raw text, the rest is normalized, normalized added tokens are cut out, the pieces are
 * pre-tokenized into words, the model turns each word into tokens, and the post-processor adds
 * special tokens. Decoding maps ids to token strings and runs the decoder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { UnknownTokenError } from '../errors';
import { TokenizerError, describe } from './errors';
import { JsonReader } from './json';
import { NormalizedString } from './normalized-string';
import { Normalizer, buildNormalizer } from './normalizers';
import { PreTokenizer, buildPreTokenizer } from './pre-tokenizers';
import { Model, buildModel } from './models';
import { Decoder, buildDecoder } from './decoders';
import { Encoding, PostProcessor, buildPostProcessor } from './post-processors';
import { AddedVocabulary } from './added-vocabulary';
import { gpt2FilesToJSON } from './gpt2-files';

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Add the post-processor's special tokens (e.g. `[CLS] … [SEP]`, `<s> …`). Default true, as in HF. */
  addSpecialTokens?: boolean;
}

/** Options of {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Leave out special added tokens (those with `special: true`). Default false. */
  skipSpecialTokens?: boolean;
  /**
   * Apply transformers' `clean_up_tokenization` to the decoded text (" ." → ".", " n't" → "n't", …).
   * Default: `clean_up_tokenization_spaces` of tokenizer_config.json, else false.
   */
  cleanUpTokenizationSpaces?: boolean;
}

/** Options of {@link Tokenizer.fromJSON}. */
export interface TokenizerJSONOptions {
  /** Name used in error messages (a file path); default "tokenizer.json". */
  source?: string;
  /** Parsed `tokenizer_config.json`, consulted first for bos/eos/unk/pad/cls/sep/mask tokens. */
  config?: Record<string, unknown>;
  /** Parsed `special_tokens_map.json`, consulted after `config`. */
  specialTokensMap?: Record<string, unknown>;
}

/** Names of the special-token roles a tokenizer can declare. */
export type SpecialTokenRole = 'bos' | 'eos' | 'unk' | 'pad' | 'cls' | 'sep' | 'mask';
const ROLES: readonly SpecialTokenRole[] = ['bos', 'eos', 'unk', 'pad', 'cls', 'sep', 'mask'];

/**
 * A tokenizer read from a Hugging Face `tokenizer.json`: BPE (GPT-2 byte-level and
 * SentencePiece-style with byte fallback), WordLevel and WordPiece models, with their normalizers,
 * pre-tokenizers, post-processors and decoders. Ids match HF `tokenizers` exactly for the supported
 * components; an unsupported component throws a {@link TokenizerError} naming it and the file.
 *
 * @example
 * ```ts
 * const tok = Tokenizer.fromFile('models/gpt2/tokenizer.json');
 * const ids = tok.encode('The Eiffel Tower is in Paris');
 * tok.decode(ids); // 'The Eiffel Tower is in Paris'
 * ```
 */
export class Tokenizer {
  /** File (or label) the tokenizer came from; used in error messages. */
  readonly source: string;
  /** The model type: 'BPE', 'WordLevel' or 'WordPiece'. */
  readonly modelType: Model['type'];
  /** Special-token strings by role (from tokenizer_config.json, special_tokens_map.json, or the tokenizer.json itself). */
  readonly specialTokens: Readonly<Partial<Record<SpecialTokenRole, string>>>;

  private readonly model: Model;
  private readonly normalizer: Normalizer | undefined;
  private readonly preTokenizer: PreTokenizer | undefined;
  private readonly postProcessor: PostProcessor | undefined;
  private readonly decoder: Decoder | undefined;
  private readonly added: AddedVocabulary;
  private readonly specialIds: Partial<Record<SpecialTokenRole, number>>;
  private readonly size: number;
  private readonly cleanUpDefault: boolean;

  private constructor(obj: unknown, opts: TokenizerJSONOptions) {
    const r = new JsonReader(opts.source ?? 'tokenizer.json');
    this.source = r.source;
    const root = r.node(obj, '');
    const version = root.value.version;
    if (version !== undefined && version !== '1.0') r.fail(`Unknown tokenizer.json version ${describe(version)} (expected "1.0")`);
    const opt = (key: string) => r.optChild(root, key);
    const nn = opt('normalizer');
    this.normalizer = nn && buildNormalizer(r, nn);
    const pn = opt('pre_tokenizer');
    this.preTokenizer = pn && buildPreTokenizer(r, pn);
    this.model = buildModel(r, r.child(root, 'model'));
    this.modelType = this.model.type;
    const ppn = opt('post_processor');
    this.postProcessor = ppn && buildPostProcessor(r, ppn);
    const dn = opt('decoder');
    this.decoder = dn && buildDecoder(r, dn);
    this.added = new AddedVocabulary(r, root.value.added_tokens, this.model, this.normalizer);
    let overlap = 0;
    for (const c of this.added.byContent.keys()) if (this.model.vocab.has(c)) overlap++;
    this.size = this.model.vocab.size + this.added.byContent.size - overlap;

    if (this.postProcessor) {
      // The template's special tokens must decode: their ids come from the file, not the vocabulary.
      const wrapped = this.postProcessor.process({ ids: [], tokens: [], offsets: [], specialTokensMask: [], typeIds: [] });
      const bad = wrapped.ids.find((id) => this.idToToken(id) === undefined);
      if (bad !== undefined) r.fail(`The post_processor adds token id ${describe(bad)}, which is not in the vocabulary or added_tokens`);
    }
    const { tokens, ids } = this.resolveSpecialTokens(r, opts);
    this.specialTokens = tokens;
    this.specialIds = ids;
    this.cleanUpDefault = opts.config?.clean_up_tokenization_spaces === true;
  }

  /**
   * Reads a tokenizer from a `tokenizer.json` file, or from a directory holding one. A
   * `tokenizer_config.json` and `special_tokens_map.json` beside it are read for the special-token
   * roles (bos, eos, unk, pad, …).
   * @param file - path of tokenizer.json or of its directory
   * @throws TokenizerError when a file is missing, is not valid JSON, or is malformed or unsupported
   * @example
   * ```ts
   * const tok = Tokenizer.fromFile('test-fixtures/tokenizers/gpt2');
   * ```
   */
  static fromFile(file: string): Tokenizer {
    let p = file;
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) p = path.join(p, 'tokenizer.json');
    const obj = readJsonFile(p, true)!;
    const dir = path.dirname(p);
    return new Tokenizer(obj, {
      source: p,
      config: readJsonFile(path.join(dir, 'tokenizer_config.json'), false) as Record<string, unknown> | undefined,
      specialTokensMap: readJsonFile(path.join(dir, 'special_tokens_map.json'), false) as Record<string, unknown> | undefined,
    });
  }

  /**
   * Builds a tokenizer from parsed tokenizer.json content.
   * @param obj - the parsed JSON
   * @param opts - a source name for errors, and optionally the parsed tokenizer_config.json / special_tokens_map.json
   * @throws TokenizerError naming the source and the offending field when the content is malformed or unsupported
   * @example
   * ```ts
   * const tok = Tokenizer.fromJSON(JSON.parse(text), { source: 'my/tokenizer.json' });
   * ```
   */
  static fromJSON(obj: unknown, opts: TokenizerJSONOptions = {}): Tokenizer {
    return new Tokenizer(obj, opts);
  }

  /**
   * Builds GPT-2's byte-level BPE tokenizer from the original OpenAI files: `encoder.json` (token →
   * id, the same as HF's vocab.json) and `vocab.bpe` (the merges, as HF's merges.txt).
   * `<|endoftext|>`, when in the vocabulary, is registered as a special added token and as
   * bos/eos/unk, as in HF's GPT2Tokenizer.
   * @param encoderJson - path of encoder.json (or vocab.json)
   * @param vocabBpe - path of vocab.bpe (or merges.txt)
   * @throws TokenizerError when a file is missing or malformed
   * @example
   * ```ts
   * const tok = Tokenizer.fromGpt2Files('gpt2/encoder.json', 'gpt2/vocab.bpe');
   * ```
   */
  static fromGpt2Files(encoderJson: string, vocabBpe: string): Tokenizer {
    const encoder = readJsonFile(encoderJson, true);
    let merges: string;
    try {
      merges = fs.readFileSync(vocabBpe, 'utf8');
    } catch (e) {
      throw new TokenizerError(`Cannot read the merges file: ${(e as Error).message}`, vocabBpe);
    }
    const obj = gpt2FilesToJSON(encoder, merges, `${encoderJson} + ${vocabBpe}`);
    const eot = '<|endoftext|>';
    const hasEot = typeof encoder === 'object' && encoder !== null && eot in encoder;
    const config = hasEot ? { bos_token: eot, eos_token: eot, unk_token: eot } : undefined;
    return new Tokenizer(obj, { source: `${encoderJson} + ${vocabBpe}`, config });
  }

  /** Number of distinct tokens: the model's vocabulary plus added tokens not in it (HF `get_vocab_size(true)`). */
  get vocabSize(): number {
    return this.size;
  }

  /** Id of the beginning-of-sequence token, if the tokenizer declares one. */
  get bosTokenId(): number | undefined {
    return this.specialIds.bos;
  }
  /** Id of the end-of-sequence token, if the tokenizer declares one. */
  get eosTokenId(): number | undefined {
    return this.specialIds.eos;
  }
  /** Id of the unknown token, if the tokenizer declares one. */
  get unkTokenId(): number | undefined {
    return this.specialIds.unk;
  }
  /** Id of the padding token, if the tokenizer declares one. */
  get padTokenId(): number | undefined {
    return this.specialIds.pad;
  }
  /** Id of the classifier token (BERT `[CLS]`), if declared. */
  get clsTokenId(): number | undefined {
    return this.specialIds.cls;
  }
  /** Id of the separator token (BERT `[SEP]`), if declared. */
  get sepTokenId(): number | undefined {
    return this.specialIds.sep;
  }
  /** Id of the mask token (BERT `[MASK]`), if declared. */
  get maskTokenId(): number | undefined {
    return this.specialIds.mask;
  }

  /**
   * Encodes text into token ids.
   * @param text - the input text
   * @param opts - `addSpecialTokens` (default true) adds the post-processor's special tokens
   * @returns the token ids
   * @throws TokenizerError when a word cannot be encoded (an unknown word without an unk token in the vocabulary)
   * @example
   * ```ts
   * tok.encode('Hello world', { addSpecialTokens: false }); // e.g. [15496, 995]
   * ```
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.encodeWithOffsets(text, opts).ids;
  }

  /**
   * Encodes text and returns ids with their token strings, the span of the input each token covers
   * (UTF-16 code units; `text.slice(start, end)`), the special-tokens mask and type ids.
   * @param text - the input text
   * @param opts - `addSpecialTokens` (default true)
   * @throws TokenizerError when a word cannot be encoded
   * @example
   * ```ts
   * const { tokens, offsets } = tok.encodeWithOffsets('Hello world');
   * ```
   */
  encodeWithOffsets(text: string, opts: EncodeOptions = {}): Encoding {
    if (typeof text !== 'string') throw new TypeError(`Expected a string for text but received ${describe(text)}`);
    const enc: Encoding = { ids: [], tokens: [], offsets: [], specialTokensMask: [], typeIds: [] };
    const pushAdded = (ns: NormalizedString, id: number, special: boolean) => {
      enc.ids.push(id);
      enc.tokens.push(ns.text);
      enc.offsets.push(ns.span(0, ns.length));
      enc.specialTokensMask.push(special ? 1 : 0);
      enc.typeIds.push(0);
    };
    for (const raw of this.added.split(NormalizedString.fromOriginal(text), 'raw')) {
      if (raw.token) {
        pushAdded(raw.ns, raw.token.id, raw.token.special);
        continue;
      }
      const normalized = this.normalizer ? this.normalizer(raw.ns) : raw.ns;
      for (const piece of this.added.split(normalized, 'normalized')) {
        if (piece.token) {
          pushAdded(piece.ns, piece.token.id, piece.token.special);
          continue;
        }
        const words = this.preTokenizer ? this.preTokenizer(piece.ns) : [piece.ns];
        for (const w of words) {
          for (const t of this.model.tokenize(w.text)) {
            enc.ids.push(t.id);
            enc.tokens.push(this.model.idToToken(t.id)!);
            enc.offsets.push(w.span(t.start, t.end));
            enc.specialTokensMask.push(0);
            enc.typeIds.push(0);
          }
        }
      }
    }
    const add = opts.addSpecialTokens ?? true;
    return add && this.postProcessor ? this.postProcessor.process(enc) : enc;
  }

  /**
   * Decodes token ids into text with the tokenizer's decoder (tokens are joined by spaces when the
   * file has no decoder, as in HF).
   * @param ids - token ids
   * @param opts - `skipSpecialTokens` (default false) leaves out special added tokens
   * @throws RangeError for an id that is not in the vocabulary
   * @example
   * ```ts
   * tok.decode([464, 3139], { skipSpecialTokens: true });
   * ```
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const tokens: string[] = [];
    for (const id of ids) {
      const tok = this.added.decodeForm(id) ?? this.model.idToToken(id);
      if (tok === undefined) {
        throw new RangeError(`Expected a token id of ${this.source} for ids[${tokens.length}] but received ${describe(id)}`);
      }
      if (skip && this.added.isSpecial(tok)) continue;
      tokens.push(tok);
    }
    const text = this.decoder ? this.decoder(tokens).join('') : tokens.join(' ');
    return (opts.cleanUpTokenizationSpaces ?? this.cleanUpDefault) ? cleanUpTokenization(text) : text;
  }

  /**
   * Called instead of throwing when an edit request's subject or target has words this
   * tokenizer maps to its unknown token (editors check with `checkKnownWords`). Unset, the
   * default, such a request is an {@link UnknownTokenError}; set it to allow those edits, e.g.
   * with a warning (the CLI's `--allow-unk`).
   */
  onUnknownToken?: (error: UnknownTokenError) => void;

  /** Id of the token the model gives words it does not know (its unk_token), if it has one. */
  get unknownTokenId(): number | undefined {
    return this.model.unkToken === undefined ? undefined : this.tokenToId(this.model.unkToken);
  }

  /**
   * The words of `text` (whitespace-separated; each once, in order) holding a token that the
   * model maps to its unknown token, counting only tokens that end after character `from` (to
   * look at one part of a text tokenized whole, as a subject inside its prompt). Always empty
   * for tokenizers without an unknown token (byte-level BPE).
   * @example tok.unknownWords('Qqq Ééé is a citizen of'); // ['Qqq', 'Ééé'] for a word-level vocabulary without them
   */
  unknownWords(text: string, from = 0): string[] {
    const unk = this.unknownTokenId;
    if (unk === undefined) return [];
    const enc = this.encodeWithOffsets(text, { addSpecialTokens: false });
    const words: string[] = [];
    enc.ids.forEach((id, i) => {
      if (id !== unk || enc.offsets[i][1] <= from) return;
      let [start, end] = enc.offsets[i];
      while (start < end && /\s/.test(text[start])) start++; // byte-level tokens carry their leading space
      while (start > 0 && !/\s/.test(text[start - 1])) start--;
      while (end < text.length && !/\s/.test(text[end])) end++;
      const word = text.slice(start, end);
      if (!words.includes(word)) words.push(word);
    });
    return words;
  }

  /** Id of a token string (added tokens first, then the model's vocabulary), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.added.byContent.get(token)?.id ?? this.model.vocab.get(token);
  }

  /** Token string of an id (added tokens first, then the model's vocabulary), or undefined. */
  idToToken(id: number): string | undefined {
    return this.added.byId.get(id)?.content ?? this.model.idToToken(id);
  }

  /** True when `token` is a special added token (skipped by `decode(…, {skipSpecialTokens: true})`). */
  isSpecialToken(token: string): boolean {
    return this.added.isSpecial(token);
  }

  /**
   * Special-token roles: tokenizer_config.json first, then special_tokens_map.json, then what the
   * tokenizer.json implies (the model's unk_token; a template's leading/trailing special tokens as
   * bos/eos; BERT/RoBERTa cls/sep, RoBERTa's cls/sep also as bos/eos as in HF's RobertaTokenizer).
   */
  private resolveSpecialTokens(r: JsonReader, opts: TokenizerJSONOptions) {
    const tokens: Partial<Record<SpecialTokenRole, string>> = {};
    const ids: Partial<Record<SpecialTokenRole, number>> = {};
    const dir = path.dirname(this.source);
    const sources: Array<[Record<string, unknown> | undefined, string]> = [
      [opts.config, path.join(dir, 'tokenizer_config.json')],
      [opts.specialTokensMap, path.join(dir, 'special_tokens_map.json')],
    ];
    const inferred: Partial<Record<SpecialTokenRole, string>> = {};
    if (this.model.unkToken !== undefined && this.tokenToId(this.model.unkToken) !== undefined) inferred.unk = this.model.unkToken;
    const pp = this.postProcessor;
    if (pp) {
      const first = pp.before[0];
      const last = pp.after[pp.after.length - 1];
      if (pp.cls !== undefined || first === '[CLS]') inferred.cls = pp.cls ?? first;
      if (pp.sep !== undefined || last === '[SEP]') inferred.sep = pp.sep ?? last;
      // A template's own leading/trailing tokens are bos/eos unless they are BERT's [CLS]/[SEP].
      if (pp.clsIsBos || (pp.cls === undefined && first !== undefined && first !== '[CLS]')) inferred.bos = first;
      if (pp.clsIsBos || (pp.sep === undefined && last !== undefined && last !== '[SEP]')) inferred.eos = last;
    }
    for (const role of ROLES) {
      let value: string | null | undefined;
      let from = this.source;
      for (const [obj, name] of sources) {
        if (!obj || !(`${role}_token` in obj)) continue;
        const v = obj[`${role}_token`];
        if (v === null || typeof v === 'string') value = v;
        else if (typeof v === 'object' && typeof (v as Record<string, unknown>).content === 'string') value = (v as Record<string, string>).content;
        else throw new TokenizerError(`Expected a string, {"content": …} or null for "${role}_token" but received ${describe(v)}`, name);
        from = name;
        break;
      }
      if (value === undefined) value = inferred[role];
      if (value === null || value === undefined) continue;
      const id = this.tokenToId(value);
      if (id === undefined) {
        throw new TokenizerError(`The ${role}_token ${JSON.stringify(value)} is not in the vocabulary or added_tokens of ${r.source}`, from);
      }
      tokens[role] = value;
      ids[role] = id;
    }
    return { tokens, ids };
  }
}

/** transformers' `PreTrainedTokenizerBase.clean_up_tokenization`. */
function cleanUpTokenization(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

/** Reads and parses a JSON file; a missing optional file gives undefined. */
function readJsonFile(file: string, required: boolean): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerError(`Cannot read the file: ${(e as Error).message}`, file);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`Invalid JSON: ${(e as Error).message}`, file);
  }
}
