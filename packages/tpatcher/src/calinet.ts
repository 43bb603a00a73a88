/**
 * CaliNet (Dong et al., "Calibrating Factual Knowledge in Pretrained Language Models", Findings
 * of EMNLP 2022; specs/meta-and-memory.md §6): a batch of `ex_size` calibration memory slots
 * added in parallel to the FFN of one layer, FFN'(h) = FFN(h) + Ṽ·act(K̃ h), trained jointly on
 * all the facts to calibrate (every paraphrase of each) with the plain next-token cross-entropy
 * and everything else frozen. No activation or memory losses (unlike T-Patcher).
 *
 * For decoder-only models (spec §6.3 [R]): the slots extend the last block's MLP, use the
 * layer's own activation (T5's is ReLU, as CaliNet used), get PyTorch's default nn.Linear
 * initialisation (U(±1/√fan_in), no bias), and the loss is the teacher-forced CE of the targets.
 * The optimiser is Adam at the CaliNet learning rate 1e-2 (CaliNet used Adafactor, constant
 * schedule, which core does not have); training stops once every prompt answers its target
 * (checked every `check_every` steps) or at `max_steps`.
 */
import {
  readHparamsMapping,
  AdamW,
  type CausalLM,
  CancelledError,
  type EditOptions,
  type EditRequest,
  type Editor,
  ArgumentError,
  argmax,
  crossEntropy,
  fillTemplate,
  gatherAt,
  grad,
  keep,
  modelFingerprint,
  mulberry32,
  noGrad,
  reshape,
  targetIds,
  tensor,
  tidy,
  validateRequest,
  zeros,
  yieldToEventLoop,
} from '@medit/core';
import { PatchDelta, patchHooks } from './patch';

export interface CaliNetHyperParams {
  /** extended layer (default: the last; CaliNet's kb_layer) */
  layer: number;
  /** calibration slots d_c (CaliNet's ex_size: 64 for the 100-fact runs) */
  ex_size: number;
  lr: number;
  max_steps: number;
  check_every: number;
  seed: number;
}

export function defaultCaliNetHparams(numLayers: number): CaliNetHyperParams {
  return { layer: numLayers - 1, ex_size: 64, lr: 1e-2, max_steps: 500, check_every: 10, seed: 1 };
}

/**
 * Reads CaliNet hyperparameters from a JSON or YAML file (a mapping of the fields above; any
 * other field is an UnknownFieldError). Values are checked against the model by {@link CaliNetEditor.resolve}.
 */
export function readCaliNetHparams(file: string): Partial<CaliNetHyperParams> {
  return pickCaliNetHparams(readHparamsMapping(file, { known: Object.keys(defaultCaliNetHparams(1)) }));
}

/** The CaliNet fields of a hyperparameter mapping (others, and null values, are left out). */
export function pickCaliNetHparams(rec: Record<string, unknown>): Partial<CaliNetHyperParams> {
  const known = Object.keys(defaultCaliNetHparams(1));
  return Object.fromEntries(Object.entries(rec).filter(([k, v]) => known.includes(k) && v !== undefined && v !== null)) as Partial<CaliNetHyperParams>;
}

export interface CaliNetEditorOptions {
  /** Paraphrase templates (with `{}`) of a request; CaliNet trains on every phrasing of a fact. */
  paraphrases?: (request: EditRequest, index: number) => string[];
}

/** CaliNet as a batch {@link Editor}; the delta is a {@link PatchDelta} of `ex_size` slots. */
export class CaliNetEditor implements Editor {
  readonly name = 'CaliNet';
  readonly hparams: Partial<CaliNetHyperParams>;

  constructor(hparams: Partial<CaliNetHyperParams> = {}, private readonly options: CaliNetEditorOptions = {}) {
    this.hparams = hparams;
  }

  resolve(model: CausalLM): CaliNetHyperParams {
    const h = { ...defaultCaliNetHparams(model.config.numLayers), ...this.hparams };
    for (const [k, v] of Object.entries(h)) if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(`CaliNet hparams: expected a number for ${k} but received ${JSON.stringify(v)}`);
    if (!Number.isInteger(h.layer) || h.layer < 0 || h.layer >= model.config.numLayers) throw new ArgumentError(`CaliNet hparams: layer ${h.layer} is outside the model's ${model.config.numLayers} layers`);
    for (const k of ['ex_size', 'max_steps', 'check_every'] as const) if (!Number.isInteger(h[k]) || h[k] < 1) throw new ArgumentError(`CaliNet hparams: expected a positive integer for ${k} but received ${h[k]}`);
    return h;
  }

  async edit(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<PatchDelta> {
    await yieldToEventLoop(); // frees the handles of earlier work (see yieldToEventLoop)
    const tok = model.tokenizer;
    if (!tok) throw new ArgumentError('CaliNet needs a model with a tokenizer');
    if (requests.length === 0) throw new ArgumentError('CaliNet: expected at least one edit request');
    requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
    const hp = this.resolve(model);
    const fingerprint = modelFingerprint(model);
    // Every phrasing of every fact, teacher-forced: rows prompt + target, labels on the target.
    const rows: { ids: number[]; start: number; target: number[] }[] = [];
    requests.forEach((r, i) => {
      const target = targetIds(tok, r.targetNew);
      for (const t of [r.prompt, ...(this.options.paraphrases?.(r, i) ?? [])]) {
        const prompt = tok.encode(fillTemplate(t, r.subject));
        rows.push({ ids: [...prompt, ...target], start: prompt.length - 1, target });
      }
    });
    const width = Math.max(...rows.map((r) => r.ids.length));
    const pad = model.config.eosTokenId ?? 0;
    const ids = rows.map((r) => [...r.ids, ...Array(width - r.ids.length).fill(pad)]);
    const mask = rows.map((r) => [...Array(r.ids.length).fill(1), ...Array(width - r.ids.length).fill(0)]);
    const positions = rows.flatMap((r, batch) => r.target.map((_, j) => ({ batch, token: r.start + j })));
    const labels = rows.flatMap((r) => r.target);
    const C = model.config.hiddenSize;
    const D = hp.ex_size;
    // nn.Linear's default init: U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5).
    const rng = mulberry32(hp.seed);
    const uniform = (n: number, bound: number) => Float32Array.from({ length: n }, () => (2 * rng() - 1) * bound);
    const keys = keep(tensor(uniform(C * D, 1 / Math.sqrt(C)), [C, D]));
    const values = keep(tensor(uniform(D * C, 1 / Math.sqrt(D)), [D, C]));
    const bias = keep(zeros([D]));
    const patch = { layer: hp.layer, activation: model.config.activation, keys, bias, values };
    const params = [keys, values];
    for (const p of params) p.requiresGrad = true;
    const opt = new AdamW(params, { lr: hp.lr, weightDecay: 0 });
    const trace: { step: number; loss: number; accuracy: number }[] = [];
    let steps = 0;
    let accuracy = 0;
    try {
      for (let step = 0; step < hp.max_steps; step++) {
        if (opts.signal?.aborted) throw new CancelledError('CaliNet edit cancelled');
        const check = (step + 1) % hp.check_every === 0 || step === hp.max_steps - 1;
        const out = tidy(() => {
          const { logits } = model.forward(ids, { attentionMask: mask, hooks: patchHooks(patch) });
          const picked = gatherAt(logits, positions);
          const loss = crossEntropy(reshape(picked, [positions.length, logits.shape[2]]), labels);
          opt.update(grad(loss, params));
          let acc = -1;
          if (check) {
            const pred = noGrad(() => argmax(picked).data() as Int32Array);
            acc = labels.filter((t, i) => pred[i] === t).length / labels.length;
          }
          return { loss: loss.item(), acc };
        });
        steps = step + 1;
        if (!check) continue;
        // accuracy before this step's update: re-check after it when it reached 1
        accuracy = out.acc;
        trace.push({ step: steps, loss: out.loss, accuracy });
        opts.onProgress?.({ stage: 'CaliNet', done: steps, total: hp.max_steps, info: { loss: out.loss, accuracy } });
        if (accuracy === 1) break;
      }
    } finally {
      for (const p of params) p.requiresGrad = false;
      opt.dispose();
    }
    return new PatchDelta(
      patch,
      { method: 'CaliNet', modelFingerprint: fingerprint, hparams: hp, requests: requests.map((r) => ({ ...r })), stats: { steps, accuracy, trace } },
    );
  }
}
