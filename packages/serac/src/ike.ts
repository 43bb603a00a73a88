/**
 * IKE: in-context knowledge editing (Zheng et al., EMNLP 2023; specs/meta-and-memory.md §4). No
 * weight changes: the new fact and k retrieved demonstrations are put before every query.
 *
 * - Demonstrations (§4.1) come from a pool of CounterFact-style training records, three kinds:
 *   copy (the record's own prompt → its new object), update (a paraphrase → the new object) and
 *   retain (a neighbourhood prompt → its true object), in the fixed ratio 1:3:4 (4/12/16 of k = 32),
 *   shuffled per edit (a stream seeded by the seed and the edit, so each edit has its own order
 *   and the same edit always the same) and assigned to the k retrieved records in similarity order; the list is then
 *   reversed so the most similar demonstration sits next to the query. The edit's own fact follows
 *   as a last copy demonstration, then the query head `New Fact: {fact}\nPrompt:` and the query,
 *   read as IKE's one text has it (after a space, tokenized with the context: {@link RowContext}).
 * - Retrieval (§4.2): k nearest pool records by cosine similarity of sentence vectors (any
 *   {@link TextEncoder}: engine BERT or ONNX MiniLM), record and edit both encoded as their copy
 *   demonstration.
 * - Context budget (§4.4 pitfall 1 [R]): when demonstrations + fact + query exceed the model's
 *   context (with room for a generated answer when the query starts a generation), the
 *   demonstrations farthest from the query are dropped first; {@link IkeDelta.usage} reports how
 *   many were really used.
 */
import { ArgumentError, type CausalLM, type EditDelta, type EditDeltaInfo, type EditOptions, type EditRequest, type Editor, fillTemplate, type Tokenizer, validateRequest, yieldToEventLoop } from '@medit/core';
import type { EditCase } from '@medit/data';

import { embedTexts, type TextEncoder } from './encoder';
import { makeRng } from './examples';
import { type ForwardWrapper, MemoryDelta } from './memory-delta';
import { type RowContext, routedForward } from './routed-forward';

/** The prompt format. `{fact}`, `{prompt}` and `{answer}` are filled in. */
export interface IkeTemplate {
  /** one demonstration (original: `New Fact: {fact}\nPrompt: {prompt} {answer}\n\n`) */
  demo: string;
  /** what precedes the query (original: `New Fact: {fact}\nPrompt:`); the query's tokens follow directly */
  head: string;
}

/** IKE's published format (IKE-code `icl.py`). */
export const IKE_TEMPLATE: IkeTemplate = { demo: 'New Fact: {fact}\nPrompt: {prompt} {answer}\n\n', head: 'New Fact: {fact}\nPrompt:' };

/**
 * The same demonstrations without the "New Fact:" / "Prompt:" labels and newlines, as sentences
 * ("{fact}. {prompt} {answer}."), for word-level vocabularies that lack those tokens (the fact world's).
 */
export const PLAIN_IKE_TEMPLATE: IkeTemplate = { demo: '{fact}. {prompt} {answer}. ', head: '{fact}.' };

/** {@link IKE_TEMPLATE} when the tokenizer encodes its labels without unknown tokens, else {@link PLAIN_IKE_TEMPLATE}. */
export function ikeTemplateFor(tok: { encode(text: string, opts?: { addSpecialTokens?: boolean }): number[]; unkTokenId?: number }): IkeTemplate {
  const ids = tok.encode('New Fact: a\nPrompt: b', { addSpecialTokens: false });
  return tok.unkTokenId !== undefined && ids.includes(tok.unkTokenId) ? PLAIN_IKE_TEMPLATE : IKE_TEMPLATE;
}

/** One pool record: a CounterFact-style edit with its paraphrases and neighbours. */
export interface IkePoolRecord {
  /** filled edit prompt */
  prompt: string;
  targetNew: string;
  targetTrue: string;
  paraphrases: string[];
  neighbours: string[];
  /**
   * The answer of each neighbour, when it is not `targetTrue` (MMEdit records: a neighbour is the
   * text-locality question, answered by `loc_ans`); CounterFact neighbours share the true object.
   */
  neighbourAnswers?: string[];
}

/** Demonstration kinds (IKE-code `order` codes 0, 1, 2). */
export type IkeDemoKind = 'copy' | 'update' | 'retain';

/**
 * Pool records from CounterFact-format training cases (those with a true object, a paraphrase and
 * a neighbourhood prompt).
 */
export function ikePool(cases: readonly EditCase[]): IkePoolRecord[] {
  return cases.flatMap((c) => {
    const neighbours = c.localityPrompts.filter((p) => p.kind === 'neighborhood').map((p) => p.prompt);
    if (c.request.targetTrue === undefined || c.rephrasePrompts.length === 0 || neighbours.length === 0) return [];
    return [{ prompt: fillTemplate(c.request.prompt, c.request.subject), targetNew: c.request.targetNew, targetTrue: c.request.targetTrue, paraphrases: c.rephrasePrompts, neighbours }];
  });
}

function fill(t: string, f: { fact: string; prompt?: string; answer?: string }): string {
  return t.replace('{fact}', f.fact).replace('{prompt}', f.prompt ?? '').replace('{answer}', f.answer ?? '');
}

/** The demonstration of a record of one kind (§4.1 table). */
export function ikeDemo(template: IkeTemplate, r: IkePoolRecord, kind: IkeDemoKind, pick: (n: number) => number): string {
  const fact = `${r.prompt} ${r.targetNew}`;
  if (kind === 'copy') return fill(template.demo, { fact, prompt: r.prompt, answer: r.targetNew });
  if (kind === 'update') return fill(template.demo, { fact, prompt: r.paraphrases[pick(r.paraphrases.length)], answer: r.targetNew });
  // retain: a neighbour keeps its own (true) object
  const i = pick(r.neighbours.length);
  return fill(template.demo, { fact, prompt: r.neighbours[i], answer: r.neighbourAnswers?.[i] ?? r.targetTrue });
}

/** The kinds of k demonstrations in IKE's 1:3:4 ratio (4 copy, 12 update, 16 retain for k = 32). */
export function ikeKinds(k: number): IkeDemoKind[] {
  const copy = Math.round(k / 8);
  const update = Math.round((3 * k) / 8);
  return [...Array(copy).fill('copy'), ...Array(update).fill('update'), ...Array(Math.max(k - copy - update, 0)).fill('retain')];
}

/** Options of {@link IkeEditor}. */
export interface IkeOptions {
  /** demonstration pool (training records; never the evaluated cases) */
  pool: readonly IkePoolRecord[];
  /** retrieval encoder */
  encoder: TextEncoder;
  /** demonstrations per edit (IKE: 32) */
  k?: number;
  template?: IkeTemplate;
  seed?: number;
  /**
   * Where `encoder` was loaded from (a path {@link loadTextEncoder} reads): recorded in the delta
   * (`stats.ikeEncoder`) so that a saved memory of several facts can reload its router.
   */
  encoderSource?: string;
}

function normalise(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  return v.map((x) => x / n);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Everything an applied IKE edit needs: per request, the context text with the m nearest demonstrations, m = 0..k. */
export interface IkeMemory {
  facts: string[];
  /** contexts[r][m]: demonstrations (the m nearest) + own fact demo + head */
  contexts: string[][];
}

/** How many demonstrations the queries really saw (the context budget may drop some). */
export interface IkeUsage {
  rows: number;
  demonstrations: number;
  /** rows whose context had to drop demonstrations */
  truncated: number;
}

/** IKE's edit as an {@link EditDelta}: the contexts, installed as a routed forward of the model itself. */
export class IkeDelta extends MemoryDelta {
  readonly usage: IkeUsage = { rows: 0, demonstrations: 0, truncated: 0 };

  constructor(
    readonly memory: IkeMemory,
    private readonly encoder: TextEncoder | undefined,
    info: EditDeltaInfo,
  ) {
    super([], { ...info, stats: { ...(info.stats ?? {}), ike: memory } });
  }

  /** Reinterprets a delta read by `EditDelta.load` (the encoder is needed only for several facts). */
  static from(delta: EditDelta, encoder?: TextEncoder): IkeDelta {
    const memory = (delta.info.stats as { ike?: IkeMemory } | undefined)?.ike;
    if (!memory) throw new ArgumentError('IkeDelta.from: the delta has no IKE contexts (stats.ike)');
    const { stats, ...rest } = delta.info;
    const { ike: _i, ...other } = (stats ?? {}) as Record<string, unknown>;
    return new IkeDelta(memory, encoder, { ...rest, stats: other });
  }

  protected wrapperFor(model: CausalLM): ForwardWrapper {
    const tok = model.tokenizer;
    if (!tok) throw new ArgumentError('IKE: the model has no tokenizer');
    const { facts, contexts } = this.memory;
    if (facts.length > 1 && !this.encoder) throw new ArgumentError('IKE: several facts need the retrieval encoder to pick one per query');
    const ids = contexts.map((byM) => byM.map((text) => tok.encode(text, { addSpecialTokens: false })));
    const factVectors = facts.length > 1 ? embedTexts(this.encoder!, facts).map(normalise) : [];
    const max = model.config.maxPositions;
    const router = (rows: number[][], reserve: number): RowContext[] => {
      let which = rows.map(() => 0);
      if (facts.length > 1) {
        const q = embedTexts(this.encoder!, rows.map((r) => tok.decode(r, { skipSpecialTokens: true }))).map(normalise);
        which = q.map((v) => factVectors.reduce((best, f, i) => (cosine(v, f) > cosine(v, factVectors[best]) ? i : best), 0));
      }
      return rows.map((row, b) => {
        const byM = ids[which[b]];
        // every context ends in the same head, so the row reads the same after each
        const lead = leadAfter(tok, contexts[which[b]][0], byM[0], row);
        const length = row.length + (lead ? lead.tokens.length - lead.replaced : 0);
        let m = byM.length - 1;
        while (m > 0 && byM[m].length + length + reserve > max) m--;
        this.usage.rows++;
        this.usage.demonstrations += m;
        if (m < byM.length - 1) this.usage.truncated++;
        return { context: byM[m], ...(lead ? { lead } : {}) };
      });
    };
    return (previous) => routedForward(previous, previous, router, max, model.config.eosTokenId ?? 0);
  }
}

/**
 * How a query row reads after an IKE context: IKE writes the query after its head and a space
 * (`…Prompt: {x}`), and the whole text is tokenized at once; the row was tokenized alone, so with
 * a byte-level BPE its first word lacks the leading space the context gives it (" Zirsi" vs
 * "Zirsi": another token, which the demonstrations never show). Returns the row's first tokens as
 * they read there (a sequence-start token such as BOS dropped), or nothing when they read the same
 * (word-level vocabularies), when the row's text does not encode back to the row, or when the
 * context's tokens are not a prefix of the joint text's (no safe boundary).
 */
function leadAfter(tok: Tokenizer, contextText: string, contextIds: number[], row: number[]): RowContext['lead'] | undefined {
  const text = tok.decode(row, { skipSpecialTokens: true });
  // a row its text does not give back (unknown words of a word-level vocabulary) stays as it is
  const again = tok.encode(text);
  if (again.length !== row.length || again.some((id, i) => id !== row[i])) return undefined;
  const joint = tok.encode(`${contextText} ${text}`, { addSpecialTokens: false });
  if (joint.length < contextIds.length || contextIds.some((id, i) => joint[i] !== id)) return undefined;
  const read = joint.slice(contextIds.length);
  let common = 0;
  while (common < row.length && common < read.length && row[row.length - 1 - common] === read[read.length - 1 - common]) common++;
  if (common === row.length && common === read.length) return undefined;
  return { replaced: row.length - common, tokens: read.slice(0, read.length - common) };
}

/** A 32-bit seed of (seed, prompt, target) by FNV-1a: one shuffle per edit, the same on every run. */
function editSeed(seed: number, prompt: string, target: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}\u0000${prompt}\u0000${target}`) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * IKE as an {@link Editor}: `edit` retrieves demonstrations for each request and returns an
 * {@link IkeDelta}; applied, every query the model sees is prefixed with the context (that is IKE's
 * locality cost: unrelated queries read the new fact too).
 */
export class IkeEditor implements Editor {
  readonly name = 'IKE';
  private poolVectors: Float32Array[] | undefined;
  private readonly template: IkeTemplate;

  constructor(private readonly opts: IkeOptions) {
    if (opts.pool.length === 0) throw new ArgumentError('IKE: the demonstration pool is empty');
    const k = opts.k ?? 32;
    if (!Number.isInteger(k) || k < 0 || k > opts.pool.length) throw new ArgumentError(`IKE: k must be an integer in [0, ${opts.pool.length}] (the pool size), not ${k}`);
    this.template = opts.template ?? IKE_TEMPLATE;
  }

  get hparams(): object {
    return { k: this.opts.k ?? 32, template: this.template, pool: this.opts.pool.length, encoder: this.opts.encoder.backend, seed: this.opts.seed ?? 42 };
  }

  /** Demonstration texts for a request, nearest last. */
  demonstrations(r: EditRequest, k = this.opts.k ?? 32, seed = this.opts.seed ?? 42): string[] {
    const pool = this.opts.pool;
    this.poolVectors ??= embedTexts(this.opts.encoder, pool.map((p) => ikeDemo(this.template, p, 'copy', () => 0))).map(normalise);
    const own: IkePoolRecord = { prompt: fillTemplate(r.prompt, r.subject), targetNew: r.targetNew, targetTrue: r.targetTrue ?? '', paraphrases: [], neighbours: [] };
    const q = normalise(embedTexts(this.opts.encoder, [ikeDemo(this.template, own, 'copy', () => 0)])[0]);
    const ranked = pool
      .map((_, i) => ({ i, s: cosine(q, this.poolVectors![i]) }))
      .filter(({ i }) => pool[i].prompt !== own.prompt)
      .sort((a, b) => b.s - a.s || a.i - b.i)
      .slice(0, k);
    const rng = makeRng(editSeed(seed, own.prompt, r.targetNew));
    const kinds = ikeKinds(ranked.length);
    for (let i = kinds.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
    }
    return ranked.map(({ i }, n) => ikeDemo(this.template, pool[i], kinds[n], rng.int)).reverse();
  }

  async edit(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<IkeDelta> {
    await yieldToEventLoop(); // frees the handles of earlier work (see yieldToEventLoop)
    if (!model.tokenizer) throw new ArgumentError('IKE: the model has no tokenizer');
    requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
    const facts: string[] = [];
    const contexts: string[][] = [];
    requests.forEach((r, n) => {
      const prompt = fillTemplate(r.prompt, r.subject);
      const fact = `${prompt} ${r.targetNew}`;
      const demos = this.demonstrations(r);
      const tail = fill(this.template.demo, { fact, prompt, answer: r.targetNew }) + fill(this.template.head, { fact });
      facts.push(fact);
      contexts.push(Array.from({ length: demos.length + 1 }, (_, m) => demos.slice(demos.length - m).join('') + tail));
      opts.onProgress?.({ stage: 'retrieve', done: n + 1, total: requests.length });
    });
    const stats = this.opts.encoderSource === undefined ? undefined : { ikeEncoder: this.opts.encoderSource };
    return new IkeDelta({ facts, contexts }, this.opts.encoder, { method: 'IKE', hparams: this.hparams, requests: requests.map((x) => ({ ...x })), stats });
  }
}
