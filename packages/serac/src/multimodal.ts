/**
 * SERAC on a vision-language model, as MMEdit runs it (SERAC_MULTI; specs/meta-and-memory.md §8.3):
 * the scope classifier reads text only (the edit statement and the query's text), and the
 * counterfactual model is a vision-language model of its own — the base model's frozen vision
 * encoder and Q-Former, and its own `language_projection` and language model (MMEdit: a new linear
 * layer from BLIP-2's frozen vision features into OPT-125m) — reading image, edit statement,
 * separator, then the query.
 *
 * Training pairs come from MMEdit train records ({@link MmeditCase}). A text-only classifier
 * cannot tell two images apart, so a record's scope is a *kind of question*: the connected
 * component of question texts that records link as (src, rephrase) pairs (with the scope set's
 * `localityEdits`, also texts sharing an answer, and the locality questions are edits too). In
 * scope: every text of the edit's component; out of scope: its text-locality question,
 * multimodal-locality questions (in MMEdit's VQA template) whose plain text is not of the
 * component, and other components' questions.
 */
import { ArgumentError, type RgbImage, targetIds, type VisionLanguageModel } from '@medit/core';
import { type MmeditCase, MMEDIT_VQA_TEMPLATE, mmeditLocalityPrompt, mmeditRequest } from '@medit/data';

import type { CalibrationCase } from './calibrate';
import { type AnswerSequence, counterfactualContext, separatorId, trainOnAnswers } from './counterfactual';
import { editStatement, makeRng, type Rng, type ScopeTrainingEdit } from './examples';
import type { IkePoolRecord } from './ike';
import type { TrainProgress } from './train-progress';
import { maybePerturbWords, type WordNoise } from './word-noise';

/** `m_loc_q` back out of MMEdit's VQA template. */
function plainQuestion(text: string): string {
  const [head, tail] = MMEDIT_VQA_TEMPLATE.split('{}');
  return text.startsWith(head) && text.endsWith(tail) ? text.slice(head.length, text.length - tail.length) : text;
}

/**
 * Question kinds as component ids: texts linked by records' (src, rephrase) pairs; with
 * `byAnswers`, also texts that share an answer (an edit's `pred` or `alt`, a multimodal-locality
 * question's `m_loc_a`), and the records' multimodal-locality questions are kinds' texts too — a
 * question asked of many images is answered from one set of answers (colours, shapes, nations),
 * so phrasings that no record happened to pair still fall in one kind.
 */
function questionKinds(cases: readonly Pick<MmeditCase, 'src' | 'rephrase' | 'pred' | 'alt' | 'mLocQ' | 'mLocA'>[], byAnswers = false): Map<string, number> {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  const link = (a: string, b: string) => {
    for (const t of [a, b]) if (!parent.has(t)) parent.set(t, t);
    parent.set(find(a), find(b));
  };
  // answers as nodes of their own (a NUL prefix keeps them apart from the question texts)
  const answer = (a: string) => `\0${a}`;
  for (const c of cases) {
    link(c.src, c.rephrase);
    if (byAnswers) {
      for (const a of [c.pred, c.alt]) link(c.src, answer(a));
      link(plainQuestion(c.mLocQ), answer(c.mLocA));
    }
  }
  const ids = new Map<string, number>();
  const out = new Map<string, number>();
  for (const t of parent.keys()) {
    if (t.startsWith('\0')) continue;
    const root = find(t);
    if (!ids.has(root)) ids.set(root, ids.size);
    out.set(t, ids.get(root)!);
  }
  return out;
}

/** Options of {@link multimodalScopeSet}. */
export interface MultimodalScopeSetOptions {
  seed?: number;
  /**
   * also train on every record's multimodal-locality question as an edit of its own
   * ({@link localityEdit}), with kinds linked by shared answers too (see {@link questionKinds}):
   * the classifier then sees every kind of question the records ask, each in several phrasings,
   * instead of the few kinds a model's errors gave (default false)
   */
  localityEdits?: boolean;
}

/**
 * SERAC scope-training edits from MMEdit train records (see the file comment). Deterministic for
 * a seed.
 * @throws ArgumentError for no cases
 */
export function multimodalScopeSet(cases: readonly MmeditCase<unknown>[], opts: MultimodalScopeSetOptions = {}): ScopeTrainingEdit[] {
  if (cases.length === 0) throw new ArgumentError('multimodalScopeSet: no cases');
  const rng = makeRng(opts.seed ?? 0);
  const kinds = questionKinds(cases, opts.localityEdits);
  const edited = opts.localityEdits ? [...cases, ...cases.map(localityEdit)] : cases;
  const byKind = new Map<number, Set<string>>();
  for (const [t, k] of kinds) (byKind.get(k) ?? byKind.set(k, new Set()).get(k)!).add(t);
  const altsOf = new Map<number, string[]>();
  for (const c of edited) (altsOf.get(kinds.get(c.src)!) ?? altsOf.set(kinds.get(c.src)!, []).get(kinds.get(c.src)!)!).push(c.alt);
  const others = [...kinds.keys()];
  return edited.map((c) => {
    const kind = kinds.get(c.src)!;
    const inScope = [...byKind.get(kind)!];
    const outOfScope: ScopeTrainingEdit['outOfScope'] = [];
    for (const o of [c, ...Array.from({ length: 5 }, () => rng.pick(cases))]) {
      outOfScope.push({ query: o.loc, kind: 'locality' });
      if (kinds.get(plainQuestion(o.mLocQ)) !== kind) outOfScope.push({ query: mmeditLocalityPrompt(o.mLocQ), kind: 'random' });
    }
    for (let k = 0; k < 8; k++) {
      const q = rng.pick(others);
      if (kinds.get(q) !== kind) outOfScope.push({ query: q, kind: 'other-subject' });
    }
    const pool = altsOf.get(kind)!;
    const tails = [...new Set([c.alt, c.pred, ...Array.from({ length: 4 }, () => rng.pick(pool))])];
    // a locality question's rephrases: the other texts of its kind (it has no record's rephrase)
    const rephrases = c.rephrase !== c.src ? [c.rephrase] : inScope.filter((t) => t !== c.src);
    return { request: mmeditRequest(c), inScope, rephrases: rephrases.length > 0 ? rephrases : [c.src], outOfScope, tails };
  });
}

/** Options of {@link trainMultimodalCounterfactual}. */
export interface MultimodalCounterfactualOptions {
  steps?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** probability of re-stating an edit with another answer of its question kind (default 0.75) */
  augment?: number;
  /**
   * probability of then replacing the answer's last word with a name drawn from the training
   * records' texts ({@link trainingNames}; default 0): the model learns to copy any name from the
   * statement instead of the few answers the records give (unseen subjects' names are new tokens)
   */
  augmentNames?: number;
  /**
   * where those names come from: `names` ({@link trainingNames}, default) or `words` (every word
   * of the records' texts, {@link trainingWords}): with names alone the model can keep a prior
   * over the training names and write one of them — the one its embedding favours — instead of
   * copying a name it never wrote; a slot that may hold any word leaves copying as the only rule
   */
  augmentNamePool?: 'names' | 'words';
  /**
   * probability of then replacing one word before the last with the word at the same place in
   * another answer of the kind with as many words ({@link withRecombinedWord}; default 0): answers
   * whose word combinations no training record has (a caption's colour pair) are copied too
   */
  augmentWords?: number;
  /**
   * probability that a training edit is made from a record's multimodal-locality question
   * instead ({@link localityEdit}: its image and plain question, the answer re-stated with
   * `augment` from the answers the records give that question; default 0): train-split questions
   * of kinds and with answers the records' own edits lack (a VQA edit set built from a model's
   * errors has few of some kinds: one size question among 274 image-world train records)
   */
  localityEdits?: number;
  /**
   * keep the token embedding (and with it GPT-2's tied output head) as the base model's: training
   * to answer only the training names would otherwise push every other name's output logit down
   */
  frozenTokenEmbeddings?: boolean;
  /**
   * EDA word noise on the query ({@link perturbWords}; default none; the answer stays as it is):
   * the model learns to answer with the statement's answer after phrasings it never saw
   */
  queryNoise?: WordNoise;
  /** the same on the question or prompt of the edit statement, drawn apart from the query's (default none) */
  statementNoise?: WordNoise;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

/** The names of the records' texts, sorted: capitalised words of the answers, and of the questions after their first word. */
export function trainingNames(cases: readonly MmeditCase<unknown>[]): string[] {
  const names = new Set<string>();
  const add = (text: string) => {
    for (const w of text.match(/\b[A-Z][a-z]+\b/g) ?? []) names.add(w);
  };
  for (const c of cases) {
    for (const answer of [c.pred, c.alt, c.locAns, c.mLocA]) add(answer);
    for (const question of [c.src, c.rephrase, c.loc, c.mLocQ]) add(question.replace(/^\S+/, ''));
  }
  return [...names].sort();
}

/** Every word of the records' answers and questions (punctuation stripped), sorted. */
export function trainingWords(cases: readonly MmeditCase<unknown>[]): string[] {
  const words = new Set<string>();
  for (const c of cases) for (const text of [c.pred, c.alt, c.locAns, c.mLocA, c.src, c.rephrase, c.loc, c.mLocQ]) for (const w of text.match(/[A-Za-z]+/g) ?? []) words.add(w);
  return [...words].sort();
}

/**
 * `answer` with one word before its last replaced by the word at the same place in another answer
 * of `pool` with as many words (`answer` itself when the pool has none); deterministic for `rng`.
 * @example withRecombinedWord('the red and orange dome of X', ['the blue and yellow arch of Y'], rng) // 'the red and yellow dome of X' (or another place)
 */
export function withRecombinedWord(answer: string, pool: readonly string[], rng: Rng): string {
  const words = answer.split(' ');
  const others = pool.map((a) => a.split(' ')).filter((w) => w.length === words.length);
  if (words.length < 2 || others.length === 0) return answer;
  const i = rng.int(words.length - 1);
  words[i] = rng.pick(others)[i];
  return words.join(' ');
}

/**
 * A record's multimodal-locality question as an edit record of its own: the locality image asked
 * its plain question (the edit's `src`, `rephrase` and both images), answered with `m_loc_a`.
 */
export function localityEdit<I>(c: MmeditCase<I>): MmeditCase<I> {
  const q = plainQuestion(c.mLocQ);
  return { ...c, src: q, rephrase: q, image: c.mLoc, imageRephrase: c.mLoc, pred: c.mLocA, alt: c.mLocA };
}

/**
 * Names of the counterfactual model's trained weights: its projection and language model (with
 * `frozenTokenEmbeddings`, all of it but the token embedding, which GPT-2's tied head shares).
 */
export function counterfactualTrainedNames(model: VisionLanguageModel, opts: { frozenTokenEmbeddings?: boolean } = {}): string[] {
  return [...model.params.keys()].filter((n) => (n.startsWith('language_model.') || n.startsWith('language_projection.')) && !(opts.frozenTokenEmbeddings && /\.wte\.weight$/.test(n)));
}

/**
 * Fine-tunes a copy of the base vision-language model in place as SERAC's counterfactual model:
 * `language_projection` and the language model learn to answer (image, statement, separator,
 * query) with the statement's answer; the vision encoder, Q-Former and query tokens stay frozen.
 * In-scope queries: the record's src and rephrase about its image, and src about its rephrased
 * image (with `localityEdits`, also records' locality questions as edits); the loss covers the
 * answer tokens only (SERAC's ℓ(ψ)).
 * @returns the per-step losses
 */
export function trainMultimodalCounterfactual(model: VisionLanguageModel, cases: readonly MmeditCase<RgbImage>[], opts: MultimodalCounterfactualOptions = {}): { step: number; loss: number }[] {
  const tok = model.tokenizer;
  if (!tok) throw new ArgumentError('trainMultimodalCounterfactual: the model has no tokenizer');
  if (cases.length === 0) throw new ArgumentError('trainMultimodalCounterfactual: no training cases');
  const steps = opts.steps ?? 1000;
  const B = opts.batchSize ?? 16;
  const augment = opts.augment ?? 0.75;
  const augmentNames = opts.augmentNames ?? 0;
  const augmentWords = opts.augmentWords ?? 0;
  const rng = makeRng(opts.seed ?? 0);
  const namePool = opts.augmentNamePool ?? 'names';
  if (namePool !== 'names' && namePool !== 'words') throw new ArgumentError(`trainMultimodalCounterfactual: augmentNamePool must be "names" or "words", not ${JSON.stringify(opts.augmentNamePool)}`);
  const names = augmentNames > 0 ? (namePool === 'words' ? trainingWords(cases) : trainingNames(cases)) : [];
  const kinds = questionKinds(cases);
  const answers = new Map<number, string[]>();
  for (const c of cases) {
    const kind = kinds.get(c.src)!;
    if (!answers.has(kind)) answers.set(kind, []);
    answers.get(kind)!.push(c.alt);
  }
  const localityEdits = opts.localityEdits ?? 0;
  // a locality question's answers: those the records give that question text
  const localityAnswers = new Map<string, string[]>();
  if (localityEdits > 0) {
    for (const c of cases) {
      const q = plainQuestion(c.mLocQ);
      (localityAnswers.get(q) ?? localityAnswers.set(q, []).get(q)!).push(c.mLocA);
    }
  }
  return trainOnAnswers({
    name: 'trainMultimodalCounterfactual',
    params: counterfactualTrainedNames(model, { frozenTokenEmbeddings: opts.frozenTokenEmbeddings }).map((n) => model.param(n)),
    steps,
    lr: opts.lr ?? 3e-4,
    weightDecay: opts.weightDecay ?? 0.01,
    pad: separatorId(tok),
    signal: opts.signal,
    onProgress: opts.onProgress,
    next: () => {
      const sequences: AnswerSequence[] = [];
      const images: RgbImage[] = [];
      for (let b = 0; b < B; b++) {
        const picked = rng.pick(cases);
        const fromLocality = localityEdits > 0 && rng.next() < localityEdits;
        const c = fromLocality ? localityEdit(picked) : picked;
        const pool = fromLocality ? localityAnswers.get(c.src)! : answers.get(kinds.get(c.src)!)!;
        let target = pool.length > 1 && rng.next() < augment ? rng.pick(pool) : c.alt;
        if (names.length > 0 && rng.next() < augmentNames) target = target.replace(/\S+$/, rng.pick(names));
        if (augmentWords > 0 && rng.next() < augmentWords) target = withRecombinedWord(target, pool, rng);
        const request = mmeditRequest(c);
        const ctx = counterfactualContext(tok, editStatement({ ...request, subject: maybePerturbWords(request.subject, opts.statementNoise, rng), targetNew: target }));
        const which = rng.int(3);
        const query = maybePerturbWords(which === 1 ? c.rephrase : c.src, opts.queryNoise, rng);
        images.push(which === 2 ? c.imageRephrase : c.image);
        const q = tok.encode(query);
        const ids = [...ctx, ...q, ...targetIds(tok, target)];
        if (ids.length > model.config.maxPositions) throw new ArgumentError(`trainMultimodalCounterfactual: a training sequence is ${ids.length} tokens, more than the model's text context (${model.config.maxPositions})`);
        sequences.push({ ids, answerStart: ctx.length + q.length });
      }
      return { sequences, logits: (ids, attentionMask) => model.forward(ids, { attentionMask, images }).logits };
    },
  });
}

/**
 * An MMEdit validation record as threshold calibration reads it: the rephrase must be routed, the
 * text-locality question and the multimodal-locality question (in MMEdit's VQA template) not.
 * With `withTargets` each is followed by its target (the rephrase by `alt`, the locality questions
 * by their answers): the teacher-forced rows the MMEdit harness scores, which is what SERAC's
 * router reads there (as SERAC-code's `run_classifier` decodes the whole `input_ids`); a
 * generation is routed on its prompt alone.
 */
export function mmeditCalibrationCase(c: MmeditCase<unknown>, opts: { withTargets?: boolean } = {}): CalibrationCase {
  const row = (prompt: string, target: string) => (opts.withTargets ? `${prompt} ${target}` : prompt);
  return {
    request: mmeditRequest(c),
    rephrasePrompts: [row(c.rephrase, c.alt)],
    localityPrompts: [{ prompt: row(c.loc, c.locAns) }, { prompt: row(mmeditLocalityPrompt(c.mLocQ), c.mLocA) }],
  };
}

/**
 * IKE demonstration records from MMEdit train records (text only, as MMEdit's IKE): copy = src →
 * alt, update = rephrase → alt, retain = the text-locality question → its answer.
 */
export function mmeditIkePool(cases: readonly MmeditCase<unknown>[]): IkePoolRecord[] {
  return cases.map((c) => ({ prompt: c.src, targetNew: c.alt, targetTrue: c.pred, paraphrases: [c.rephrase], neighbours: [c.loc], neighbourAnswers: [c.locAns] }));
}
