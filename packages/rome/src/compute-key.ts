/**
 * The key side of ROME (paper Eq. 3–4; ROME:rome/compute_u.py): the rewrite module's
 * input k at the subject token, averaged over context templates, and the left vector
 * u = C⁻¹k̄ / ‖C⁻¹k̄‖ (or k̄/‖k̄‖ without covariance).
 */
import {
  type CausalLM,
  type FactToken,
  type Tensor,
  gatherAt,
  keep,
  locateSubject,
  mean,
  noGrad,
  rightPad,
  StopForward,
  tidy,
} from '@medit/core';

/**
 * Keys (rewrite-module inputs) and values (outputs) of `layer` at the subject token of
 * each template filled with `subject`. Returns k [N, F] and v [N, C] (caller owns).
 */
export function keysAtSubject(
  model: CausalLM,
  layer: number,
  templates: string[],
  subject: string,
  factToken: FactToken,
): { keys: Tensor; values: Tensor } {
  const tok = model.tokenizer!;
  const module = model.rewriteModule(layer);
  const located = templates.map((t) => locateSubject(tok, t, subject, factToken));
  const { ids, mask } = rightPad(located.map((l) => l.ids), model.config.eosTokenId ?? 0);
  const positions = located.map((l, b) => ({ batch: b, token: l.index }));
  let keys: Tensor | undefined;
  let values: Tensor | undefined;
  noGrad(() =>
    tidy(() => {
      try {
        model.forward(ids, {
          attentionMask: mask,
          hooks: {
            [module.keyHook]: (k) => {
              keys = keep(gatherAt(k, positions));
            },
            [module.valueHook]: (v) => {
              values = keep(gatherAt(v, positions));
              throw new StopForward(); // nothing above the module is needed
            },
          },
        });
      } catch (err) {
        if (!(err instanceof StopForward)) throw err;
      }
    }),
  );
  return { keys: keys!, values: values! };
}

/** k̄: the mean key over templates [F]. */
export function averagedKey(model: CausalLM, layer: number, templates: string[], subject: string, factToken: FactToken): Tensor {
  const { keys, values } = keysAtSubject(model, layer, templates, subject, factToken);
  values.dispose();
  const kbar = tidy(() => mean(keys, 0));
  keys.dispose();
  return kbar;
}
