/**
 * Target vectors for many requests at once (MEMIT:memit/compute_z.py; spec §1.6, §4 step 1).
 * For request i, one free vector δ_i is added to an activation of the edited layer (MEMIT:
 * the block output `resid_out` of the z layer; ROME: the MLP output) at the subject token
 * of each of its rows, and minimises
 *
 *   L_i(δ_i) = mean_j [ −(1/T_i) Σ_τ log P(t_τ | x_ij, t_<τ) ]
 *              + kl_factor · KL(P_δ(·|s_KL) ‖ P_0(·|s_KL)) + v_weight_decay · ‖δ_i‖ / ‖h0_i‖²
 *
 * The references optimise one request at a time. Here the rows of several requests share
 * one forward pass, each row carrying its own request's δ. The rows are separate sequences,
 * so L_j does not depend on δ_i (j ≠ i) and ∇_{δ_i} Σ_j L_j = ∇L_i; Adam is element-wise,
 * so one Adam over the stacked [m, C] δ takes exactly each request's own steps. A request
 * that stops (L_i < 0.05) leaves the batch with its δ frozen, as a lone run would stop.
 * Result: z_i = h0_i + δ_i, with h0_i the activation at the raw prompt's subject token.
 *
 * Requests on one subject (`shareSubjects`): their keys are identical (the key is read at the
 * subject token, before the relation's words), so independent z's for them would be averaged
 * by the least-squares solve and none reached. Instead they share one δ, optimised on the sum
 * of their losses L = Σ_i NLL_i + kl_factor·KL + v_weight_decay·‖δ‖/‖h0‖² (one KL and one decay
 * term per subject): one z that states every requested fact of the subject. Each request's
 * z is its own h0 plus the shared δ: δ was added to each prompt's own activation, and a
 * subject inside a prompt ("The country where {} is") has another h0 than one that opens it.
 */
import {
  AdamW,
  type CausalLM,
  CancelledError,
  type FactToken,
  type HookPoint,
  type Tensor,
  add,
  addAt,
  copyInplace,
  crossEntropy,
  fillTemplate,
  gatherAt,
  grad,
  hookName,
  indexSelect,
  keep,
  klDiv,
  l2Norm,
  logSoftmax,
  mul,
  mulScalar,
  noGrad,
  locateSubject,
  reshape,
  rightPad,
  sum,
  tensor,
  tidy,
  zeros,
} from '@medit/core';
import type { TargetStep } from '@medit/rome';


/** One request, tokenised target included. */
export interface ZRequest {
  prompt: string;
  subject: string;
  /** target token ids (leading space included) */
  target: number[];
  /** this request's subject token, overriding `fact_token` (subject_search) */
  factToken?: FactToken;
}

/** The optimisation settings (MEMIT's field names). */
export interface ZSettings {
  fact_token: FactToken;
  v_num_grad_steps: number;
  v_lr: number;
  v_weight_decay: number;
  clamp_norm_factor: number;
  kl_factor: number;
}

export interface ZOptions {
  /** where δ is added (default 'resid_out', MEMIT; 'mlp_out' gives ROME's v*) */
  point?: HookPoint;
  /** requests with the same subject share one δ (default false: one δ per request) */
  shareSubjects?: boolean;
  /** requests optimised together in one forward pass (default 16) */
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface ZResult {
  /** z = h0 + δ per request [n, C] (caller owns) */
  zs: Tensor;
  /** h0: the activation at each raw prompt's subject token before the edit [n, C] (caller owns) */
  h0: Tensor;
  /** the loss trace of each request */
  traces: TargetStep[][];
  /** ‖δ_i‖ per request */
  deltaNorms: number[];
}

const KL_TEMPLATE = '{} is a';
const STOP_LOSS = 5e-2;

/** The rows of one δ: every template row of each of its requests, then the KL row. */
interface Prepared {
  rows: number[][];
  /** subject index per row (last row: the KL prompt) */
  lookup: number[];
  /** per row, label per position (−100 = none) */
  labels: number[][];
  /** per row, 1/(T·R) of its request: the mean over its R rows of each row's mean NLL (KL row: 0) */
  weights: number[];
  /** per request, the index of its raw-prompt ("{}") row */
  rawRows: number[];
  /** every target has one token (the logits are needed at one position per row) */
  oneToken: boolean;
}

function prepare(model: CausalLM, templates: string[], reqs: ZRequest[], factToken: FactToken): Prepared {
  const tok = model.tokenizer!;
  const out: Prepared = { rows: [], lookup: [], labels: [], weights: [], rawRows: [], oneToken: reqs.every((r) => r.target.length === 1) };
  for (const r of reqs) {
    out.rawRows.push(out.rows.length);
    for (const c of templates) {
      const located = locateSubject(tok, fillTemplate(c, r.prompt), r.subject, r.factToken ?? factToken);
      const ids = [...located.ids, ...r.target.slice(0, -1)];
      out.rows.push(ids);
      out.lookup.push(located.index);
      // logits at position p predict token p+1: the last prompt token scores target[0].
      const n0 = located.ids.length - 1;
      out.labels.push(ids.map((_, p) => (p >= n0 ? r.target[p - n0] : -100)));
      out.weights.push(1 / (r.target.length * templates.length));
    }
  }
  const kl = locateSubject(tok, KL_TEMPLATE, reqs[0].subject, reqs[0].factToken ?? factToken);
  out.rows.push(kl.ids);
  out.lookup.push(kl.index);
  out.labels.push(kl.ids.map(() => -100));
  out.weights.push(0);
  return out;
}

/**
 * Optimises the target vectors of `requests` at `layer` with the flat list of context
 * `templates` (the first must be "{}", the raw prompt).
 * @throws CancelledError when `signal` aborts
 */
export function computeZs(model: CausalLM, hp: ZSettings, layer: number, templates: string[], requests: ZRequest[], opts: ZOptions = {}): ZResult {
  if (!model.tokenizer) throw new Error('computeZs needs a model with a tokenizer');
  if (templates[0] !== '{}') throw new Error(`computeZs: the first context template must be "{}" (the raw prompt) but is ${JSON.stringify(templates[0])}`);
  const C = model.config.hiddenSize;
  const n = requests.length;
  const batchSize = opts.batchSize ?? 16;
  const zData = new Float32Array(n * C);
  const h0Data = new Float32Array(n * C);
  const traces: TargetStep[][] = requests.map(() => []);
  const deltaNorms: number[] = new Array(n).fill(0);
  // The requests of each δ: one each, or all of a subject's.
  const bySubject = new Map<string, number[]>();
  const groups: number[][] = [];
  requests.forEach((r, i) => {
    const g = opts.shareSubjects ? bySubject.get(r.subject) : undefined;
    if (g) g.push(i);
    else {
      groups.push([i]);
      if (opts.shareSubjects) bySubject.set(r.subject, groups[groups.length - 1]);
    }
  });
  const multi = (g: number[]) => Number(g.some((i) => requests[i].target.length > 1));
  // One-token targets first, so that most chunks take the one-position fast path.
  const order = groups.map((_, i) => i).sort((a, b) => multi(groups[a]) - multi(groups[b]) || a - b);
  let done = 0;
  for (let start = 0; start < order.length; start += batchSize) {
    const chunkGroups = order.slice(start, start + batchSize).map((g) => groups[g]);
    const chunk = chunkGroups.map((g) => prepare(model, templates, g.map((i) => requests[i]), hp.fact_token));
    const out = optimiseChunk(model, hp, hookName(layer, opts.point ?? 'resid_out'), chunk, opts.signal);
    chunkGroups.forEach((g, i) => {
      g.forEach((j, k) => {
        const h = out.h0[i].subarray(k * C, (k + 1) * C);
        h0Data.set(h, j * C);
        for (let c = 0; c < C; c++) zData[j * C + c] = h[c] + out.delta[i * C + c];
        traces[j] = out.traces[i];
        deltaNorms[j] = out.deltaNorms[i];
      });
      done += g.length;
    });
    opts.onProgress?.(done, n);
  }
  return { zs: tensor(zData, [n, C]), h0: tensor(h0Data, [n, C]), traces, deltaNorms };
}

function optimiseChunk(
  model: CausalLM,
  hp: ZSettings,
  hook: string,
  reqs: Prepared[],
  signal?: AbortSignal,
): { delta: Float32Array; h0: Float32Array[]; traces: TargetStep[][]; deltaNorms: number[] } {
  const C = model.config.hiddenSize;
  const m = reqs.length;
  const pad = model.config.eosTokenId ?? 0;
  const delta = keep(zeros([m, C]));
  delta.requiresGrad = true;
  const opt = new AdamW([delta], { lr: hp.v_lr, weightDecay: 0 });
  /** per δ, the unedited activation at each of its requests' raw prompts [k·C] */
  const h0: Float32Array[] = reqs.map((p) => new Float32Array(p.rawRows.length * C));
  /** ‖h0‖² of each δ's first request (the scale of its clamp and weight decay) */
  const h0Norm2: number[] = new Array(m).fill(0);
  const initKl = new Map<number, Float32Array>();
  const active = new Set(reqs.map((_, i) => i));
  const traces: TargetStep[][] = reqs.map(() => []);
  try {
    for (let step = 0; step < hp.v_num_grad_steps && active.size > 0; step++) {
      if (signal?.aborted) throw new CancelledError('edit cancelled while computing target vectors');
      const act = [...active];
      // Batch: every active request's rewriting rows, then its KL row.
      const rows: number[][] = [];
      const rowLabels: number[][] = [];
      const rowWeight: number[] = []; // 1/(T·R): the mean over rows of each row's mean NLL
      const positions: { batch: number; token: number }[] = [];
      const owner: number[] = []; // chunk index of each row's request
      const klPositions: { batch: number; token: number }[] = [];
      const firstRow: number[] = [];
      for (const r of act) {
        const p = reqs[r];
        const R = p.rows.length - 1;
        firstRow.push(rows.length);
        p.rows.forEach((ids, j) => {
          const b = rows.length;
          positions.push({ batch: b, token: p.lookup[j] });
          owner.push(r);
          if (j === R) klPositions.push({ batch: b, token: p.lookup[j] });
          rows.push(ids);
          rowLabels.push(p.labels[j]);
          rowWeight.push(p.weights[j]);
        });
      }
      const { ids, mask } = rightPad(rows, pad);
      const width = ids[0].length;
      // With one-token targets every row reads one position (the last prompt token; the KL
      // row its subject token): the vocabulary projection runs there only (`logitsAt`).
      const single = act.every((r) => reqs[r].oneToken);
      const cols = single ? 1 : width;
      const logitsAt = single ? rowLabels.map((lab, b) => (klPositions.some((q) => q.batch === b) ? positions[b].token : lab.findIndex((y) => y >= 0))) : undefined;
      const targets = new Array<number>(rows.length * cols).fill(-100);
      const weights = new Float32Array(rows.length * cols);
      rowLabels.forEach((lab, b) =>
        lab.forEach((y, t) => {
          if (y < 0) return;
          const at = single ? b : b * width + t;
          targets[at] = y;
          weights[at] = rowWeight[b];
        }),
      );
      const klAt = single ? klPositions.map((q) => ({ batch: q.batch, token: 0 })) : klPositions;
      const result = tidy(() => {
        const { logits } = model.forward(ids, {
          attentionMask: mask,
          logitsAt,
          hooks: {
            [hook]: (out) => {
              if (step === 0) {
                // h0: the unedited activation at each request's raw-prompt ("{}") row.
                const at = act.flatMap((r, a) => reqs[r].rawRows.map((j) => positions[firstRow[a] + j]));
                const d = noGrad(() => gatherAt(out, at)).data() as Float32Array;
                let offset = 0;
                act.forEach((r) => {
                  const k = reqs[r].rawRows.length;
                  h0[r].set(d.subarray(offset * C, (offset + k) * C));
                  let s = 0;
                  for (let c = 0; c < C; c++) s += h0[r][c] ** 2;
                  h0Norm2[r] = s;
                  offset += k;
                });
              }
              // δ_owner at every row's subject token (KL rows included).
              return addAt(out, positions, indexSelect(delta, 0, owner));
            },
          },
        });
        const V = logits.shape[2];
        const logp = logSoftmax(logits);
        const tokLoss = crossEntropy(reshape(logp, [-1, V]), targets, { reduction: 'none' });
        const nllTok = mul(tokLoss, tensor(weights, [weights.length]));
        const klLogp = gatherAt(logp, klAt);
        if (step === 0) {
          const d = klLogp.data() as Float32Array;
          act.forEach((r, a) => initKl.set(r, d.slice(a * V, (a + 1) * V)));
        }
        const init = new Float32Array(act.length * V);
        act.forEach((r, a) => init.set(initKl.get(r)!, a * V));
        const klPer = klDiv(klLogp, tensor(init, [act.length, V]), 'none'); // [a]
        const wdPer = act.map((r) => l2Norm(indexSelect(delta, 0, [r])));
        let loss = add(sum(nllTok), mulScalar(sum(klPer), hp.kl_factor));
        act.forEach((r, a) => (loss = add(loss, mulScalar(wdPer[a], hp.v_weight_decay / h0Norm2[r]))));
        // Per-request values for the trace and the stopping rule.
        const tokData = nllTok.data() as Float32Array;
        const klData = klPer.data() as Float32Array;
        const perReq = act.map((r, a) => {
          let nll = 0;
          const rowsOf = reqs[r].rows.length;
          for (let b = firstRow[a]; b < firstRow[a] + rowsOf; b++) for (let t = 0; t < cols; t++) nll += tokData[b * cols + t];
          const kl = hp.kl_factor * klData[a];
          const wd = (hp.v_weight_decay * wdPer[a].item()) / h0Norm2[r];
          return { nll, kl, wd, loss: nll + kl + wd };
        });
        const last = step === hp.v_num_grad_steps - 1;
        const stopping = perReq.map((v) => last || v.loss < STOP_LOSS);
        act.forEach((r, a) => {
          const v = perReq[a];
          traces[r].push({ step, loss: v.loss, nll: v.nll, kl: v.kl, weightDecay: v.wd, targetProb: Math.exp(-v.nll) });
        });
        if (stopping.every(Boolean)) return { stopping, snapshot: null };
        // Snapshot δ of the requests that stop now: Adam's momentum would still move them.
        const snapshot = new Float32Array(delta.data() as Float32Array);
        const [g] = grad(loss, [delta]);
        opt.update([g]);
        return { stopping, snapshot };
      });
      act.forEach((r, a) => {
        if (result.stopping[a]) active.delete(r);
      });
      if (!result.snapshot) break;
      // Restore the stopped rows, then project every active δ_i into its ball ‖δ_i‖ ≤ clamp·‖h0_i‖.
      const d = new Float32Array(delta.data() as Float32Array);
      for (let r = 0; r < m; r++) {
        if (!active.has(r)) {
          d.set(result.snapshot.subarray(r * C, (r + 1) * C), r * C);
          continue;
        }
        let norm = 0;
        for (let k = r * C; k < (r + 1) * C; k++) norm += d[k] * d[k];
        norm = Math.sqrt(norm);
        const maxNorm = hp.clamp_norm_factor * Math.sqrt(h0Norm2[r]);
        if (norm > maxNorm) for (let k = r * C; k < (r + 1) * C; k++) d[k] = (d[k] * maxNorm) / norm;
      }
      const t = tensor(d, [m, C]);
      copyInplace(delta, t);
      t.dispose();
    }
    const dd = new Float32Array(delta.data() as Float32Array);
    const deltaNorms: number[] = [];
    for (let r = 0; r < m; r++) {
      let s = 0;
      for (let k = r * C; k < (r + 1) * C; k++) s += dd[k] * dd[k];
      deltaNorms.push(Math.sqrt(s));
    }
    return { delta: dd, h0, traces, deltaNorms };
  } finally {
    opt.dispose();
    delta.dispose();
  }
}
