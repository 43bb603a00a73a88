/**
 * Causal tracing of the subject's tokens (Meng et al. 2022, "Locating and Editing Factual
 * Associations in GPT", §2.1 and Fig. 1): which subject token's hidden state, after a given
 * layer, carries the fact to the prediction.
 *
 * Three runs of the prompt: clean; corrupted, with Gaussian noise added to the input
 * embedding of every subject token (ROME's ν = 3σ, σ the standard deviation of the
 * embeddings); and corrupted with one subject token's residual after `layer` restored to its
 * clean value. The indirect effect of token t is P_restored,t(o) − P_corrupted(o), o the
 * clean model's next-token prediction. ROME reads σ over the subject embeddings of its
 * dataset; here σ is taken over the clean prompt's own layer-0 inputs (no dataset needed).
 *
 * A diagnostic of where a fact is read, not a guide to where it can be edited: on the fact
 * world it ranks the first subject token highest for facts that only an edit at the last one
 * changes (Hase et al. 2023 found the same in GPT-J), so ROME/MEMIT's `subject_search` decides
 * by the target vector's own loss instead.
 */
import { keep, noGrad, tidy } from '../engine';
import { ArgumentError } from '../errors';
import { hookName } from '../models/hooks';
import type { CausalLM } from '../models/model';
import { addAt, gatherAt, replaceAt } from '../ops/layout';
import { softmax } from '../ops/nn';
import { randn, tensor, type Tensor } from '../tensor';
import { locateSubject, type EditRequest } from './request';

export interface CausalTraceOptions {
  /** corrupted runs per restoration, averaged (ROME: 10) */
  samples?: number;
  /** noise scale in units of the embeddings' standard deviation (ROME: 3) */
  noise?: number;
  /** seed of the noise; every restoration sees the same noise */
  seed?: number;
}

export interface SubjectTrace {
  /** the clean model's predicted next token o */
  answer: number;
  /** P(o) on the clean prompt */
  clean: number;
  /** mean P(o) with the subject corrupted */
  corrupted: number;
  /** mean P(o) with subject token i (0 = first) restored after the layer */
  restored: number[];
  /** the subject token (offset from its first token) with the largest indirect effect */
  best: number;
  /** the subject's [first, last] token indices in the prompt */
  subjectSpan: [number, number];
}

/**
 * Traces the subject's tokens at the residual stream after `layer`. `prompt` is a template
 * with `{}` for the subject, as in {@link EditRequest}.
 * @throws ArgumentError when the subject is not in the prompt or the model has no tokenizer
 */
export function traceSubjectTokens(model: CausalLM, prompt: string, subject: string, layer: number, opts: CausalTraceOptions = {}): SubjectTrace {
  const tok = model.tokenizer;
  if (!tok) throw new ArgumentError('causal tracing needs a model with a tokenizer');
  if (!Number.isInteger(layer) || layer < 0 || layer >= model.config.numLayers) {
    throw new ArgumentError(`causal tracing: layer ${layer} is outside [0, ${model.config.numLayers})`);
  }
  const samples = opts.samples ?? 10;
  const noise = opts.noise ?? 3;
  const { ids, subjectSpan } = locateSubject(tok, prompt, subject);
  const [first, last] = subjectSpan;
  const T = ids.length;
  const C = model.config.hiddenSize;
  const nSubj = last - first + 1;
  const subjectPositions = (b: number) => Array.from({ length: nSubj }, (_, i) => ({ batch: b, token: first + i }));

  return noGrad(() =>
    tidy(() => {
      // Clean run: the prediction, the embeddings' scale, and the states to restore.
      let sigma = 0;
      let cleanState: Tensor | undefined;
      const clean = model.forward([ids], {
        logitsAt: [T - 1],
        hooks: {
          [hookName(0, 'resid_in')]: (x) => {
            const d = x.data() as Float32Array;
            let m = 0;
            for (const v of d) m += v;
            m /= d.length;
            let s = 0;
            for (const v of d) s += (v - m) ** 2;
            sigma = Math.sqrt(s / d.length);
          },
          [hookName(layer, 'resid_out')]: (h) => {
            cleanState = keep(gatherAt(h, subjectPositions(0)));
          },
        },
      });
      const p0 = softmax(clean.logits).data() as Float32Array;
      let answer = 0;
      for (let v = 1; v < p0.length; v++) if (p0[v] > p0[answer]) answer = v;

      // Rows: for each sample s, one corrupted run and one per restored token (same noise).
      const runs = 1 + nSubj;
      const B = samples * runs;
      const eps = randn([samples, nSubj, C], { seed: opts.seed ?? 0, std: noise * sigma }).data() as Float32Array;
      const noiseRows = new Float32Array(B * nSubj * C);
      for (let s = 0; s < samples; s++) {
        for (let r = 0; r < runs; r++) noiseRows.set(eps.subarray(s * nSubj * C, (s + 1) * nSubj * C), (s * runs + r) * nSubj * C);
      }
      const allSubject = Array.from({ length: B }, (_, b) => subjectPositions(b)).flat();
      const restoreRows = Array.from({ length: B }, (_, b) => b).filter((b) => b % runs !== 0);
      const restorePositions = restoreRows.map((b) => ({ batch: b, token: first + (b % runs) - 1 }));
      const cleanRows = cleanState!.data() as Float32Array;
      const restoreValues = new Float32Array(restoreRows.length * C);
      restoreRows.forEach((b, j) => restoreValues.set(cleanRows.subarray(((b % runs) - 1) * C, (b % runs) * C), j * C));
      const out = model.forward(
        Array.from({ length: B }, () => ids),
        {
          logitsAt: Array(B).fill(T - 1),
          hooks: {
            [hookName(0, 'resid_in')]: (x) => addAt(x, allSubject, tensor(noiseRows, [B * nSubj, C])),
            [hookName(layer, 'resid_out')]: (h) => replaceAt(h, restorePositions, tensor(restoreValues, [restoreRows.length, C])),
          },
        },
      );
      const probs = softmax(out.logits).data() as Float32Array;
      const V = probs.length / B;
      const mean = new Array<number>(runs).fill(0);
      for (let b = 0; b < B; b++) mean[b % runs] += probs[b * V + answer] / samples;
      const restored = mean.slice(1);
      let best = 0;
      for (let i = 1; i < nSubj; i++) if (restored[i] > restored[best]) best = i;
      cleanState!.dispose();
      return { answer, clean: p0[answer], corrupted: mean[0], restored, best, subjectSpan };
    }),
  );
}
