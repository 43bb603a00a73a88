/**
 * The KN editor (Dai et al. 2022 §5.1; ROME:baselines/kn/kn_main.py, EE:easyeditor/models/kn):
 * find the knowledge neurons of the *true* answer by integrated gradients (optionally refined
 * across paraphrase prompts), then move their value vectors from the model's current answer to
 * the new target: v_i ← v_i − λ·E[y_old] + λ·E[y_new]. Each request is computed on the unedited
 * model; changes to a neuron shared by several requests add up.
 */
import {
  type CausalLM,
  type EditOptions,
  type EditRequest,
  type Editor,
  ArgumentError,
  CancelledError,
  EditDelta,
  argmax,
  fillTemplate,
  modelFingerprint,
  noGrad,
  targetIds,
  tidy,
  validateRequest,
  yieldToEventLoop,
} from '@medit/core';

import { attributionScores } from './attribution';
import { resolveKnHparams, type KnHyperParams } from './hparams';
import { type Neuron, coarseNeurons, editNeuronsChanges, refineNeurons, valueVectorDelta } from './neurons';

export interface KnEditorOptions {
  /**
   * Paraphrase templates (with `{}` for the subject) of a request, for the prompt-sharing
   * refinement (used when `refine` is true).
   */
  paraphrases?: (request: EditRequest, index: number) => string[];
}

/** Knowledge neurons of one fact. */
export interface FoundNeurons {
  neurons: Neuron[];
  /** the coarse set of each prompt */
  perPrompt: Neuron[][];
}

/** Per-request numbers the KN editor reports. */
export interface KnEditStats {
  subject: string;
  neurons: Neuron[];
  oldToken: number;
  newToken: number;
}

/** Scanned layers (all when `hp.layers` is empty). @internal */
export function scannedLayers(model: CausalLM, hp: KnHyperParams): number[] {
  return hp.layers.length ? hp.layers : Array.from({ length: model.config.numLayers }, (_, l) => l);
}

/**
 * The knowledge neurons of `answer` over full prompts (coarse per prompt; with `hp.refine` and
 * several prompts, those shared by more than p · n prompts; otherwise the first prompt's set).
 */
export function findKnowledgeNeurons(model: CausalLM, prompts: string[], answer: string, hp: KnHyperParams): FoundNeurons {
  const tok = model.tokenizer;
  if (!tok) throw new ArgumentError('KN needs a model with a tokenizer');
  if (prompts.length === 0) throw new ArgumentError('KN: expected at least one prompt');
  const layers = scannedLayers(model, hp);
  const answerIds = targetIds(tok, answer);
  const perPrompt = prompts.map((p) => coarseNeurons(attributionScores(model, tok.encode(p), answerIds, layers, { steps: hp.steps, batchSize: hp.batch_size }), layers, hp.adaptive_threshold));
  const neurons = hp.refine && prompts.length > 1 ? refineNeurons(perPrompt, hp.p) : perPrompt[0];
  return { neurons, perPrompt };
}

/** The model's greedy next token after `ids`. @internal */
export function nextToken(model: CausalLM, ids: number[]): number {
  return noGrad(() => tidy(() => argmax(model.forward([ids], { logitsAt: [ids.length - 1] }).logits).data()[0] as number));
}

/**
 * KN as an {@link Editor}.
 * @example
 * const editor = new KnEditor({ refine: true }, { paraphrases: (r) => ['What country does {} hold citizenship of? The answer is'] });
 * const delta = await editor.edit(model, [{ prompt: '{} is a citizen of', subject: 'Rakem Boskre', targetNew: 'Lasktra', targetTrue: 'Midu' }]);
 */
export class KnEditor implements Editor {
  readonly name = 'KN';
  readonly hparams: Partial<KnHyperParams>;

  constructor(hparams: Partial<KnHyperParams> = {}, private readonly options: KnEditorOptions = {}) {
    this.hparams = hparams;
  }

  resolve(model: CausalLM): KnHyperParams {
    return resolveKnHparams(this.hparams as Record<string, unknown>, model.config.numLayers);
  }

  async edit(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<EditDelta> {
    await yieldToEventLoop(); // frees the handles of earlier work (see yieldToEventLoop)
    const tok = model.tokenizer;
    if (!tok) throw new ArgumentError('KN needs a model with a tokenizer');
    if (requests.length === 0) throw new ArgumentError('KN: expected at least one edit request');
    requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
    requests.forEach((r, i) => {
      // KN attributes the true answer (EE raises without ground_truth too; spec §1.1).
      if (!r.targetTrue?.trim()) throw new ArgumentError(`KN: edit request ${i} needs targetTrue (the answer whose neurons are located)`);
    });
    const hp = this.resolve(model);
    const fingerprint = modelFingerprint(model);
    const allNeurons: Neuron[] = [];
    const allChanges: Float32Array[] = [];
    const stats: KnEditStats[] = [];
    for (const [i, r] of requests.entries()) {
      if (opts.signal?.aborted) throw new CancelledError('KN edit cancelled');
      opts.onProgress?.({ stage: 'KN', done: i, total: requests.length });
      const templates = [r.prompt, ...(this.options.paraphrases?.(r, i) ?? [])];
      const found = findKnowledgeNeurons(
        model,
        templates.map((t) => fillTemplate(t, r.subject)),
        r.targetTrue!,
        hp,
      );
      const oldToken = nextToken(model, tok.encode(fillTemplate(r.prompt, r.subject)));
      const newToken = targetIds(tok, r.targetNew)[0];
      allNeurons.push(...found.neurons);
      allChanges.push(...editNeuronsChanges(model, found.neurons, oldToken, newToken, hp.edit_scale));
      stats.push({ subject: r.subject, neurons: found.neurons, oldToken, newToken });
    }
    opts.onProgress?.({ stage: 'KN', done: requests.length, total: requests.length });
    if (allNeurons.length === 0) throw new ArgumentError('KN: no knowledge neurons found for these requests (lower adaptive_threshold or p)');
    return valueVectorDelta(model, allNeurons, allChanges, {
      method: 'KN',
      modelFingerprint: fingerprint,
      hparams: hp,
      requests: requests.map((r) => ({ ...r })),
      stats: { edits: stats },
    });
  }
}


