/**
 * Post-processors of tokenizer.json (HF tokenizers/src/processors/*): add the special tokens of a
 * single sequence, e.g. `[CLS] … [SEP]` for BERT or `<s> …` for Llama.
 * @internal
 */
import { JsonNode, JsonReader, join } from './json';
import { describe } from './errors';

/** Token-level result of encoding one text. */
export interface Encoding {
  /** Token ids. */
  ids: number[];
  /** Token strings as in the vocabulary (e.g. "Ġthe", "##ing", "<0x0A>"). */
  tokens: string[];
  /** Span [start, end) of each token in the input text, in UTF-16 code units; [0, 0] for tokens added by the post-processor. */
  offsets: Array<[number, number]>;
  /** 1 for special tokens (post-processor tokens and special added tokens), else 0. */
  specialTokensMask: number[];
  /** Segment (token type) id of each token, from the post-processor template; 0 without one. */
  typeIds: number[];
}

/** A special token emitted by a post-processor. */
interface SpecialPiece {
  ids: number[];
  tokens: string[];
  typeId: number;
}

/** @internal */
export interface PostProcessor {
  /** Adds the special tokens around the single sequence `enc`. */
  process(enc: Encoding): Encoding;
  /** Special tokens placed before / after the sequence (used to infer bos/eos/cls/sep). */
  readonly before: string[];
  readonly after: string[];
  /** BERT/RoBERTa processors name their cls and sep tokens. */
  readonly cls?: string;
  readonly sep?: string;
  /** RoBERTa's cls/sep are also its bos/eos (HF RobertaTokenizer). */
  readonly clsIsBos?: boolean;
}

export const SUPPORTED_POST_PROCESSORS = [
  'TemplateProcessing', 'BertProcessing', 'RobertaProcessing', 'ByteLevel', 'Sequence',
] as const;

function wrap(before: SpecialPiece[], after: SpecialPiece[], seqTypeId: number): (enc: Encoding) => Encoding {
  return (enc) => {
    const out: Encoding = { ids: [], tokens: [], offsets: [], specialTokensMask: [], typeIds: [] };
    const addSpecial = (p: SpecialPiece) => {
      p.ids.forEach((id, k) => {
        out.ids.push(id);
        out.tokens.push(p.tokens[k]);
        out.offsets.push([0, 0]);
        out.specialTokensMask.push(1);
        out.typeIds.push(p.typeId);
      });
    };
    before.forEach(addSpecial);
    out.ids.push(...enc.ids);
    out.tokens.push(...enc.tokens);
    out.offsets.push(...enc.offsets);
    out.specialTokensMask.push(...enc.specialTokensMask);
    for (let k = 0; k < enc.ids.length; k++) out.typeIds.push(seqTypeId);
    after.forEach(addSpecial);
    return out;
  };
}

/** `["[SEP]", 102]` → the token and its id. */
function readPair(r: JsonReader, n: JsonNode, key: string): [string, number] {
  const v = n.value[key];
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !Number.isInteger(v[1])) {
    r.fail(`Expected ["token", id] for "${join(n.path, key)}" but received ${describe(v)}`);
  }
  return [v[0], v[1] as number];
}

/** Builds the post-processor described by `n` (a tokenizer.json `post_processor` object). */
export function buildPostProcessor(r: JsonReader, n: JsonNode): PostProcessor {
  const type = r.type(n);
  switch (type) {
    case 'ByteLevel':
      return { process: (e) => e, before: [], after: [] };
    case 'BertProcessing':
    case 'RobertaProcessing': {
      const [cls, clsId] = readPair(r, n, 'cls');
      const [sep, sepId] = readPair(r, n, 'sep');
      const process = wrap([{ ids: [clsId], tokens: [cls], typeId: 0 }], [{ ids: [sepId], tokens: [sep], typeId: 0 }], 0);
      return { process, before: [cls], after: [sep], cls, sep, clsIsBos: type === 'RobertaProcessing' };
    }
    case 'TemplateProcessing': {
      const specials = r.child(n, 'special_tokens');
      const single = r.arr(n, 'single');
      const spath = join(n.path, 'single');
      const before: SpecialPiece[] = [];
      const after: SpecialPiece[] = [];
      let seqTypeId: number | undefined;
      single.forEach((item, i) => {
        const node = r.node(item, `${spath}[${i}]`);
        if (node.value.Sequence !== undefined) {
          const s = r.child(node, 'Sequence');
          if (s.value.id !== 'A') r.fail(`The single template "${spath}" uses sequence ${JSON.stringify(s.value.id)}; only "A" exists for one text`);
          if (seqTypeId !== undefined) r.fail(`The single template "${spath}" uses sequence A twice`);
          seqTypeId = r.int(s, 'type_id', 0);
        } else if (node.value.SpecialToken !== undefined) {
          const s = r.child(node, 'SpecialToken');
          const id = r.str(s, 'id');
          const def = r.optChild(specials, id);
          if (!def) r.fail(`Special token ${JSON.stringify(id)} of "${spath}[${i}]" is missing from "${specials.path}"`);
          const ids = r.arr(def, 'ids');
          const tokens = r.arr(def, 'tokens');
          if (ids.length !== tokens.length || !ids.every((x) => Number.isInteger(x)) || !tokens.every((x) => typeof x === 'string')) {
            r.fail(`Expected "ids" (integers) and "tokens" (strings) of equal length for "${def.path}"`);
          }
          (seqTypeId === undefined ? before : after).push({ ids: ids as number[], tokens: tokens as string[], typeId: r.int(s, 'type_id', 0) });
        } else {
          r.fail(`Expected {"Sequence": …} or {"SpecialToken": …} for "${spath}[${i}]" but received ${JSON.stringify(item)}`);
        }
      });
      if (seqTypeId === undefined) r.fail(`The single template "${spath}" has no {"Sequence": {"id": "A"}}`);
      return {
        process: wrap(before, after, seqTypeId),
        before: before.flatMap((p) => p.tokens),
        after: after.flatMap((p) => p.tokens),
      };
    }
    case 'Sequence': {
      const parts = r.arr(n, 'processors').map((x, i) => buildPostProcessor(r, r.node(x, join(join(n.path, 'processors'), i))));
      return {
        process: (e) => parts.reduce((acc, p) => p.process(acc), e),
        // Later processors wrap the earlier ones' output.
        before: [...parts].reverse().flatMap((p) => p.before),
        after: parts.flatMap((p) => p.after),
        cls: parts.find((p) => p.cls)?.cls,
        sep: parts.find((p) => p.sep)?.sep,
        clsIsBos: parts.some((p) => p.clsIsBos),
      };
    }
    default:
      return r.unsupported('post_processor', n, SUPPORTED_POST_PROCESSORS);
  }
}
