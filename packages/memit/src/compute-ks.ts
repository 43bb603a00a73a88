/**
 * Keys of many requests at one layer (MEMIT:memit/compute_ks.py; spec §4 step 2.1) and the
 * current residual at the z layer (step 2.2), read in the same batched forward passes.
 *
 * A request's key is the rewrite module's input at the subject token, averaged within each
 * template group and then over the groups: with MEMIT's groups [["{}"], [5 prefixes]] the
 * raw prompt weighs ½ and each prefix ⅒. The residual h is the z layer's block output at
 * the subject token of the raw prompt, i.e. of the "{}" row already in the batch.
 */
import {
  type CausalLM,
  type FactToken,
  type Tensor,
  fillTemplate,
  gatherAt,
  hookName,
  locateSubject,
  noGrad,
  rightPad,
  StopForward,
  tensor,
  tidy,
} from '@medit/core';


export interface KeyRequest {
  prompt: string;
  subject: string;
  /** this request's subject token, overriding the `factToken` argument (subject_search) */
  factToken?: FactToken;
}

export interface KeysResult {
  /** averaged keys [n, F] (float64, caller owns) */
  keys: Tensor;
  /** z-layer residual at the raw prompt [n, C] (float32, caller owns); absent when not asked */
  resid?: Tensor;
}

/**
 * @param groups template groups; `groups[0][0]` must be "{}" when `zLayer` is given
 * @param opts.zLayer also read the block output of this layer (≥ layer) at the raw prompts
 * @param opts.maxRows rows per forward pass
 */
export function computeKeys(
  model: CausalLM,
  layer: number,
  groups: string[][],
  requests: KeyRequest[],
  factToken: FactToken,
  opts: { zLayer?: number; maxRows?: number } = {},
): KeysResult {
  const tok = model.tokenizer;
  if (!tok) throw new Error('computeKeys needs a model with a tokenizer');
  const { zLayer } = opts;
  if (zLayer !== undefined && (zLayer < layer || groups[0]?.[0] !== '{}')) {
    throw new Error(`computeKeys: the z layer (${zLayer}) must be ≥ the key layer (${layer}) and the first template "{}"`);
  }
  const module = model.rewriteModule(layer);
  const F = module.keyDim;
  const C = model.config.hiddenSize;
  const flat = groups.flat();
  const perReq = flat.length;
  const reqsPerPass = Math.max(1, Math.floor((opts.maxRows ?? 256) / perReq));
  const keys = new Float64Array(requests.length * F);
  const resid = zLayer !== undefined ? new Float32Array(requests.length * C) : undefined;
  const stopLayer = zLayer ?? layer;
  for (let start = 0; start < requests.length; start += reqsPerPass) {
    const chunk = requests.slice(start, start + reqsPerPass);
    const rows: number[][] = [];
    const positions: { batch: number; token: number }[] = [];
    for (const r of chunk) {
      for (const c of flat) {
        const located = locateSubject(tok, fillTemplate(c, r.prompt), r.subject, r.factToken ?? factToken);
        positions.push({ batch: rows.length, token: located.index });
        rows.push(located.ids);
      }
    }
    const { ids, mask } = rightPad(rows, model.config.eosTokenId ?? 0);
    let k: Float32Array | undefined;
    let h: Float32Array | undefined;
    const hooks: Record<string, (x: Tensor) => void> = {
      [module.keyHook]: (x) => {
        k = gatherAt(x, positions).data() as Float32Array;
        if (stopLayer === layer && zLayer === undefined) throw new StopForward();
      },
    };
    if (zLayer !== undefined) {
      hooks[hookName(zLayer, 'resid_out')] = (x) => {
        h = gatherAt(x, chunk.map((_, i) => positions[i * perReq])).data() as Float32Array;
        throw new StopForward();
      };
    }
    noGrad(() =>
      tidy(() => {
        try {
          model.forward(ids, { attentionMask: mask, hooks });
        } catch (err) {
          if (!(err instanceof StopForward)) throw err;
        }
      }),
    );
    // Mean within each group, then over groups (MEMIT:memit/compute_ks.py).
    chunk.forEach((_, i) => {
      const out = keys.subarray((start + i) * F, (start + i + 1) * F);
      let row = i * perReq;
      for (const g of groups) {
        const w = 1 / (g.length * groups.length);
        for (let j = 0; j < g.length; j++, row++) for (let f = 0; f < F; f++) out[f] += w * k![row * F + f];
      }
    });
    if (resid) resid.set(h!, start * C);
  }
  return { keys: tensor(keys, [requests.length, F], 'float64'), resid: resid ? tensor(resid, [requests.length, C]) : undefined };
}
