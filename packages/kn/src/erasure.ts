/**
 * The erasure experiment of Dai et al. 2022 §5.2 ("Erasing Knowledge"), as the seed reproduces
 * it: for one relation, find the knowledge neurons of each of its facts, keep the `topK` (20 in
 * the paper) that occur in the most facts, erase them (value vectors to 0), and compare the
 * perplexity of the answers of that relation and of every other relation before and after.
 * Success in the seed: the erased relation's perplexity rises ≥ 2× while the others move ≤ 10 %.
 */
import { type CausalLM, ArgumentError, CancelledError, crossEntropy, noGrad, reshape, rightPad, targetIds, tidy } from '@medit/core';

import { resolveKnHparams, type KnHyperParams } from './hparams';
import { findKnowledgeNeurons } from './kn';
import { type Neuron, eraseNeuronsDelta } from './neurons';

/** One fact: full prompts (the subject filled in; paraphrases of one another) and its answer. */
export interface FactPrompts {
  prompts: string[];
  answer: string;
}

/** The facts of one relation. */
export interface RelationFacts {
  relation: string;
  facts: FactPrompts[];
}

/** Options of {@link rankRelationNeurons}. */
export interface RankNeuronsOptions {
  hparams?: Partial<KnHyperParams>;
  signal?: AbortSignal;
  onProgress?: (p: { stage: string; done: number; total: number }) => void;
}

export interface ErasureOptions extends RankNeuronsOptions {
  /** neurons erased: the most frequent ones across the relation's facts (default 20) */
  topK?: number;
  /** required rise of the erased relation's perplexity (default 2) */
  minRatio?: number;
  /** allowed relative change of every other relation's perplexity (default 0.1) */
  maxOtherChange?: number;
}

export interface RelationPerplexity {
  relation: string;
  before: number;
  after: number;
  /** after / before */
  ratio: number;
}

export interface ErasureResult {
  relation: string;
  /** erased neurons with the number of facts whose knowledge neurons include them */
  neurons: (Neuron & { facts: number })[];
  perplexity: RelationPerplexity[];
  erasedRatio: number;
  /** max over the other relations of |ratio − 1| */
  maxOtherChange: number;
  passes: boolean;
}

/**
 * Perplexity of the answers: exp of the mean NLL per answer token over every (prompt, answer)
 * pair, each answer teacher-forced after its prompt (right-padded batches of `batchSize`).
 */
export function answerPerplexity(model: CausalLM, facts: FactPrompts[], batchSize = 32): number {
  const tok = model.tokenizer;
  if (!tok) throw new ArgumentError('answerPerplexity needs a model with a tokenizer');
  const rows = facts.flatMap((f) => {
    const answer = targetIds(tok, f.answer);
    return f.prompts.map((p) => ({ prompt: tok.encode(p), answer }));
  });
  if (rows.length === 0) throw new ArgumentError('answerPerplexity: no facts');
  let nll = 0;
  let count = 0;
  for (let s = 0; s < rows.length; s += batchSize) {
    const chunk = rows.slice(s, s + batchSize);
    const { ids, mask } = rightPad(
      chunk.map((r) => [...r.prompt, ...r.answer]),
      model.config.eosTokenId ?? 0,
    );
    const T = ids[0].length;
    // label at position i is the token i + 1 when that token is part of the answer
    const labels = chunk.flatMap((r) => Array.from({ length: T }, (_, i) => (i >= r.prompt.length - 1 && i < r.prompt.length + r.answer.length - 1 ? r.answer[i - r.prompt.length + 1] : -100)));
    nll += noGrad(() =>
      tidy(() => {
        const { logits } = model.forward(ids, { attentionMask: mask });
        return crossEntropy(reshape(logits, [chunk.length * T, logits.shape[2]]), labels, { reduction: 'sum' }).item();
      }),
    );
    count += chunk.reduce((a, r) => a + r.answer.length, 0);
  }
  return Math.exp(nll / count);
}

/**
 * The knowledge neurons of every fact of a relation, ranked by how many facts they belong to
 * (ties: by layer, then index) — the candidates the erasure experiment takes its top-k from.
 * @throws CancelledError when `signal` aborts
 */
export function rankRelationNeurons(model: CausalLM, facts: FactPrompts[], opts: RankNeuronsOptions = {}): (Neuron & { facts: number })[] {
  const hp = resolveKnHparams((opts.hparams ?? {}) as Record<string, unknown>, model.config.numLayers);
  const counts = new Map<string, Neuron & { facts: number }>();
  for (const [i, fact] of facts.entries()) {
    if (opts.signal?.aborted) throw new CancelledError('erasure experiment cancelled');
    opts.onProgress?.({ stage: 'attribution', done: i, total: facts.length });
    const { neurons } = findKnowledgeNeurons(model, fact.prompts, fact.answer, hp);
    for (const n of neurons) {
      const key = `${n.layer}:${n.index}`;
      const e = counts.get(key) ?? { ...n, facts: 0 };
      e.facts++;
      counts.set(key, e);
    }
  }
  return [...counts.values()].sort((a, b) => b.facts - a.facts || a.layer - b.layer || a.index - b.index);
}

/**
 * Erases `neurons` (value vectors to 0) and measures every relation's answer perplexity before
 * and after; the model is left as it was.
 * @throws ArgumentError when `erased` is not among `relations` or `neurons` is empty
 */
export function measureErasure(
  model: CausalLM,
  relations: RelationFacts[],
  erased: string,
  neurons: (Neuron & { facts: number })[],
  criteria: Pick<ErasureOptions, 'minRatio' | 'maxOtherChange'> = {},
): ErasureResult {
  if (!relations.some((r) => r.relation === erased)) throw new ArgumentError(`erasureExperiment: relation ${JSON.stringify(erased)} is not among ${JSON.stringify(relations.map((r) => r.relation))}`);
  if (neurons.length === 0) throw new ArgumentError(`erasureExperiment: no knowledge neurons found for relation ${erased}`);
  const before = relations.map((r) => answerPerplexity(model, r.facts));
  const delta = eraseNeuronsDelta(model, neurons);
  let after: number[];
  delta.apply(model);
  try {
    after = relations.map((r) => answerPerplexity(model, r.facts));
  } finally {
    delta.dispose();
  }
  const perplexity = relations.map((r, i) => ({ relation: r.relation, before: before[i], after: after[i], ratio: after[i] / before[i] }));
  const erasedRatio = perplexity.find((p) => p.relation === erased)!.ratio;
  const maxOtherChange = Math.max(0, ...perplexity.filter((p) => p.relation !== erased).map((p) => Math.abs(p.ratio - 1)));
  return {
    relation: erased,
    neurons,
    perplexity,
    erasedRatio,
    maxOtherChange,
    passes: erasedRatio >= (criteria.minRatio ?? 2) && maxOtherChange <= (criteria.maxOtherChange ?? 0.1),
  };
}

/**
 * Runs the erasure experiment for `erased` (a `relation` of `relations`): its `topK` most
 * frequent knowledge neurons ({@link rankRelationNeurons}) erased ({@link measureErasure}); the
 * model is left as it was.
 * @throws ArgumentError when the relation is not among `relations` or no neuron is found
 */
export async function erasureExperiment(model: CausalLM, relations: RelationFacts[], erased: string, opts: ErasureOptions = {}): Promise<ErasureResult> {
  const target = relations.find((r) => r.relation === erased);
  // measureErasure names a missing relation; check before the costly attribution
  if (!target) return measureErasure(model, relations, erased, []);
  const ranked = rankRelationNeurons(model, target.facts, opts);
  return measureErasure(model, relations, erased, ranked.slice(0, opts.topK ?? 20), opts);
}
