/**
 * Target vectors for many requests at once (MEMIT:memit/compute_z.py; spec §1.6, §4 step 1).
 * For request i, one free vector δ_i is added to an activation of the edited layer (MEMIT:
 * the block output `resid_out` of the z layer; ROME: the MLP output) at the subject token
 * of each of its rows, and minimises
 *
 *   L_i(δ_i) = mean_j [ −(1/T_i) Σ_τ log P(t_τ | x_ij, t_<τ) ]
 *              + kl_factor · KL(P_δ(·|s_KL) ‖ P_0(·|s_KL)) + v_weight_decay · ‖δ_i‖ / ‖h0_i‖²
 *              [+ preserve_factor · mean_q KL(P_δ(·|p_q) ‖ P_0(·|p_q))]
 *
 * The last term is medit's, off by default: `preserve_prompts` are prompts about the subject
 * ("{} works for") whose next-token distribution δ must keep. MEMIT's δ moves the subject's
 * representation, which every question about the subject reads, so its other facts drift
 * (KnowEdit's relation specificity: 63.7 for MEMIT on Llama-2-7B, EasyEdit README); ROME's one KL
 * prompt ("{} is a") guards the subject's essence only. A preserve prompt that asks the edited
 * fact itself — the unedited model's top next token there is the one it gives at the start of the
 * request's target — is left out of the term, decided once with δ = 0.
 *
 * The references optimise one request at a time. Here the rows of several requests share
 * one forward pass, each row carrying its own request's δ. The rows are separate sequences,
 * so L_j does not depend on δ_i (j ≠ i) and ∇_{δ_i} Σ_j L_j = ∇L_i; Adam is element-wise,
 * so one Adam over the stacked [m, C] δ takes exactly each request's own steps. A request
 * that stops (L_i < 0.05) leaves the batch with its δ frozen, as a lone run would stop.
 * Result: z_i = h0_i + δ_i, with h0_i the activation at the raw prompt's subject token.
 * What does not depend on δ (the blocks up to the z layer, the tokens before each row's δ
 * token) runs once per chunk (`DeltaPass`); each step runs the rest, with the vocabulary
 * projection at the positions the loss reads.
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
  DeltaPass,
  type DeltaPoint,
  type FactToken,
  type Tensor,
  add,
  argmax,
  copyInplace,
  crossEntropy,
  fillTemplate,
  grad,
  indexSelect,
  keep,
  klDiv,
  locateSubject,
  logSoftmax,
  mul,
  mulScalar,
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
  /** medit: prompts ("{}" = the subject) whose next-token distribution δ keeps (default none) */
  preserve_prompts?: string[];
  /** medit: weight of the mean KL over the kept preserve prompts (default 1) */
  preserve_factor?: number;
}

export interface ZOptions {
  /** where δ is added (default 'resid_out', MEMIT; 'mlp_out' gives ROME's v*) */
  point?: DeltaPoint;
  /** requests with the same subject share one δ (default false: one δ per request) */
  shareSubjects?: boolean;
  /** requests optimised together in one forward pass (default 16) */
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /**
   * Called as each δ is done, with its requests (indices in `requests`, in order) and their
   * rows of the result (e.g. to save them before the other chunks finish).
   */
  onDelta?: (requests: number[], result: DeltaResult) => void;
}

/** One δ's share of a {@link ZResult}: its k requests' z and h0 rows [k·C], its trace and ‖δ‖. */
export interface DeltaResult {
  zs: Float32Array;
  h0: Float32Array;
  trace: TargetStep[];
  deltaNorm: number;
  /** wall-clock ms of the chunk that optimised this δ, shared evenly among the chunk's δ's */
  computeMs: number;
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

/** The rows of one δ: every template row of each of its requests, the KL row, then the preserve rows. */
export interface ZRows {
  rows: number[][];
  /** δ's token per row */
  lookup: number[];
  /** the KL row's index (the rows before it are the requests' template rows) */
  kl: number;
  /** the preserve rows' indices (one per preserve prompt, in order) */
  preserve: number[];
  /** per row, label per position (−100 = none) */
  labels: number[][];
  /** per row, 1/(T·R) of its request: the mean over its R rows of each row's mean NLL (KL row: 0) */
  weights: number[];
  /** per request, the index of its raw-prompt ("{}") row */
  rawRows: number[];
}

/** The token rows δ is optimised on for `reqs` (the requests of one δ), as {@link computeZs} builds them. */
export function zRows(model: CausalLM, templates: string[], reqs: ZRequest[], factToken: FactToken, preservePrompts: readonly string[] = []): ZRows {
  const tok = model.tokenizer!;
  const out: ZRows = { rows: [], lookup: [], kl: 0, preserve: [], labels: [], weights: [], rawRows: [] };
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
  const unlabelled = (template: string) => {
    const located = locateSubject(tok, template, reqs[0].subject, reqs[0].factToken ?? factToken);
    out.rows.push(located.ids);
    out.lookup.push(located.index);
    out.labels.push(located.ids.map(() => -100));
    out.weights.push(0);
    return out.rows.length - 1;
  };
  out.kl = unlabelled(KL_TEMPLATE);
  out.preserve = preservePrompts.map(unlabelled);
  return out;
}

/**
 * The requests of each δ, as indices in first-appearance order: one request each, or with
 * `shareSubjects` all of a subject's (in their order in `requests`).
 */
export function deltaGroups(requests: readonly { subject: string }[], shareSubjects: boolean): number[][] {
  const bySubject = new Map<string, number[]>();
  const groups: number[][] = [];
  requests.forEach((r, i) => {
    const g = shareSubjects ? bySubject.get(r.subject) : undefined;
    if (g) g.push(i);
    else {
      groups.push([i]);
      if (shareSubjects) bySubject.set(r.subject, groups[groups.length - 1]);
    }
  });
  return groups;
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
  const groups = deltaGroups(requests, opts.shareSubjects ?? false);
  const multi = (g: number[]) => Number(g.some((i) => requests[i].target.length > 1));
  // One-token targets first: a chunk's rows are padded to its longest.
  const order = groups.map((_, i) => i).sort((a, b) => multi(groups[a]) - multi(groups[b]) || a - b);
  let done = 0;
  for (let start = 0; start < order.length; start += batchSize) {
    const chunkGroups = order.slice(start, start + batchSize).map((g) => groups[g]);
    const t0 = performance.now();
    const chunk = chunkGroups.map((g) => zRows(model, templates, g.map((i) => requests[i]), hp.fact_token, hp.preserve_prompts));
    const out = optimiseChunk(model, hp, layer, opts.point ?? 'resid_out', chunk, opts.signal);
    const computeMs = (performance.now() - t0) / chunkGroups.length;
    chunkGroups.forEach((g, i) => {
      g.forEach((j, k) => {
        const h = out.h0[i].subarray(k * C, (k + 1) * C);
        h0Data.set(h, j * C);
        for (let c = 0; c < C; c++) zData[j * C + c] = h[c] + out.delta[i * C + c];
        traces[j] = out.traces[i];
        deltaNorms[j] = out.deltaNorms[i];
      });
      if (opts.onDelta) {
        const rows = (data: Float32Array) => {
          const r = new Float32Array(g.length * C);
          g.forEach((j, k) => r.set(data.subarray(j * C, (j + 1) * C), k * C));
          return r;
        };
        opts.onDelta(g, { zs: rows(zData), h0: rows(h0Data), trace: out.traces[i], deltaNorm: out.deltaNorms[i], computeMs });
      }
      done += g.length;
    });
    opts.onProgress?.(done, n);
  }
  return { zs: tensor(zData, [n, C]), h0: tensor(h0Data, [n, C]), traces, deltaNorms };
}

/** A preserve row's unedited log-probabilities [V] and its weight in the loss. */
interface PreserveRow {
  logp: Float32Array;
  weight: number;
}

/**
 * Step 0 (δ = 0): per active δ, its preserve rows with their unedited log-probabilities and
 * weights: factor / (kept rows of the δ), or 0 where the row's top token is one a request of the
 * δ starts its unedited answer with (the prompt asks the edited fact).
 */
function preserveRows(preserveLogp: Tensor, rawLogp: Tensor, preserveOwner: number[], rawOwner: number[], active: number, factor: number): PreserveRow[][] {
  const V = preserveLogp.shape[1];
  const data = preserveLogp.data() as Float32Array;
  const rawTop = argmax(rawLogp).data() as Int32Array;
  const top = argmax(preserveLogp).data() as Int32Array;
  const answers = Array.from({ length: active }, () => new Set<number>());
  rawOwner.forEach((a, i) => answers[a].add(rawTop[i]));
  const rows = Array.from({ length: active }, () => [] as PreserveRow[]);
  preserveOwner.forEach((a, i) => rows[a].push({ logp: data.slice(i * V, (i + 1) * V), weight: answers[a].has(top[i]) ? 0 : 1 }));
  for (const own of rows) {
    const kept = own.filter((q) => q.weight > 0).length;
    for (const q of own) q.weight = kept > 0 ? (q.weight * factor) / kept : 0;
  }
  return rows;
}

function optimiseChunk(
  model: CausalLM,
  hp: ZSettings,
  layer: number,
  point: DeltaPoint,
  reqs: ZRows[],
  signal?: AbortSignal,
): { delta: Float32Array; h0: Float32Array[]; traces: TargetStep[][]; deltaNorms: number[] } {
  const C = model.config.hiddenSize;
  const m = reqs.length;
  // Every row of the chunk: each request's rewriting rows, then its KL row.
  const firstRow: number[] = [];
  const rows: number[][] = [];
  const lookup: number[] = [];
  for (const p of reqs) {
    firstRow.push(rows.length);
    rows.push(...p.rows);
    lookup.push(...p.lookup);
  }
  // δ-independent work once per chunk: the blocks up to the z layer, every token before δ's.
  const all = DeltaPass.create(model, rows, lookup, layer, point, model.config.eosTokenId ?? 0);
  let pass = all;
  let passRequests: number[] = reqs.map((_, i) => i);
  const delta = keep(zeros([m, C]));
  delta.requiresGrad = true;
  const opt = new AdamW([delta], { lr: hp.v_lr, weightDecay: 0 });
  /** per δ, the unedited activation at each of its requests' raw prompts [k·C] */
  const base = all.base.data() as Float32Array;
  const h0: Float32Array[] = reqs.map((p, r) => {
    const out = new Float32Array(p.rawRows.length * C);
    p.rawRows.forEach((j, k) => out.set(base.subarray((firstRow[r] + j) * C, (firstRow[r] + j + 1) * C), k * C));
    return out;
  });
  /** ‖h0‖² of each δ's first request (the scale of its clamp and weight decay) */
  const h0Norm2 = h0.map((h) => h.subarray(0, C).reduce((s, x) => s + x * x, 0));
  const initKl = new Map<number, Float32Array>();
  /** per δ, each preserve row's unedited log-probabilities and its weight (0: it asks an edited fact) */
  const initPreserve = new Map<number, PreserveRow[]>();
  /** the active δ's preserve rows laid out for the loss, rebuilt only when a δ stops */
  let preserveInit: { active: number; logp: Float32Array; weight: number[] } | undefined;
  const active = new Set(reqs.map((_, i) => i));
  const traces: TargetStep[][] = reqs.map(() => []);
  try {
    for (let step = 0; step < hp.v_num_grad_steps && active.size > 0; step++) {
      if (signal?.aborted) throw new CancelledError('edit cancelled while computing target vectors');
      const act = [...active];
      if (act.length <= 0.75 * passRequests.length) {
        // many requests stopped: the next steps run the rows of the others only (until then the
        // stopped ones still run, out of the loss, sparing a copy of the cache at every stop)
        if (pass !== all) pass.dispose();
        pass = all.select(act.flatMap((r) => reqs[r].rows.map((_, j) => firstRow[r] + j)));
        passRequests = act;
      }
      // What the loss reads, per active request: its rows' target positions (weighted 1/(T·R):
      // the mean over rows of each row's mean NLL), its KL row's subject token, its preserve rows' last token.
      const read: { batch: number; token: number }[] = [];
      const targets: number[] = [];
      const weights: number[] = [];
      const readOwner: number[] = []; // index in `act` of each read's request
      const klAt: number[] = [];
      const preserveAt: number[] = [];
      const preserveOwner: number[] = []; // index in `act` of each preserve read's request
      const rawFirstAt: number[] = []; // each raw prompt's first target position (step 0 only)
      const rawFirstOwner: number[] = [];
      const owner: number[] = []; // request of each row of the pass
      const actIndex = new Map(act.map((r, a) => [r, a]));
      for (const r of passRequests) {
        const p = reqs[r];
        const a = actIndex.get(r);
        p.rows.forEach((_, j) => {
          const batch = owner.length;
          owner.push(r);
          if (a === undefined) return; // stopped: its rows run out of the loss
          if (j >= p.kl) {
            // ROME's KL reads the subject token of "{} is a"; a preserve prompt, its answer position
            (j === p.kl ? klAt : preserveAt).push(read.length);
            if (j !== p.kl) preserveOwner.push(a);
            read.push({ batch, token: j === p.kl ? p.lookup[j] : p.rows[j].length - 1 });
            targets.push(-100);
            weights.push(0);
            readOwner.push(a);
            return;
          }
          // at step 0 (δ = 0), a raw prompt's first target position gives the unedited answer
          const firstLabel = step === 0 && p.preserve.length > 0 && p.rawRows.includes(j) ? p.labels[j].findIndex((y) => y >= 0) : -1;
          p.labels[j].forEach((y, token) => {
            if (y < 0) return;
            if (token === firstLabel) {
              rawFirstAt.push(read.length);
              rawFirstOwner.push(a);
            }
            read.push({ batch, token });
            targets.push(y);
            weights.push(p.weights[j]);
            readOwner.push(a);
          });
        });
      }
      // the weight decay c_i·‖δ_i‖ as ⟨δ_i, c_i·δ_i/‖δ_i‖⟩ with the direction held: the same value
      // and gradient (0 at δ_i = 0, as l2Norm's), one op for the whole batch
      const d = delta.data() as Float32Array;
      const wdDir = new Float32Array(act.length * C);
      const wdValue = act.map((r, a) => {
        let s = 0;
        for (let k = r * C; k < (r + 1) * C; k++) s += d[k] * d[k];
        const norm = Math.sqrt(s);
        const c = hp.v_weight_decay / h0Norm2[r];
        if (norm > 0) for (let k = 0; k < C; k++) wdDir[a * C + k] = (c * d[r * C + k]) / norm;
        return c * norm;
      });
      const result = tidy(() => {
        const logits = pass.logits(indexSelect(delta, 0, owner), read);
        const V = logits.shape[1];
        const logp = logSoftmax(logits);
        const nllTok = mul(crossEntropy(logp, targets, { reduction: 'none' }), tensor(weights, [weights.length]));
        const klLogp = indexSelect(logp, 0, klAt);
        const preserveLogp = preserveAt.length > 0 ? indexSelect(logp, 0, preserveAt) : undefined;
        if (step === 0) {
          const k = klLogp.data() as Float32Array;
          act.forEach((r, a) => initKl.set(r, k.slice(a * V, (a + 1) * V)));
          if (preserveLogp) {
            const rows = preserveRows(preserveLogp, indexSelect(logp, 0, rawFirstAt), preserveOwner, rawFirstOwner, act.length, hp.preserve_factor ?? 1);
            act.forEach((r, a) => initPreserve.set(r, rows[a]));
          }
        }
        const init = new Float32Array(act.length * V);
        act.forEach((r, a) => init.set(initKl.get(r)!, a * V));
        const klPer = klDiv(klLogp, tensor(init, [act.length, V]), 'none'); // [a]
        const wd = sum(mul(indexSelect(delta, 0, act), tensor(wdDir, [act.length, C])));
        let loss = add(add(sum(nllTok), mulScalar(sum(klPer), hp.kl_factor)), wd);
        const preserve = new Array<number>(act.length).fill(0);
        if (preserveLogp) {
          if (preserveInit?.active !== act.length) {
            const logp0 = new Float32Array(preserveAt.length * V);
            const weight: number[] = [];
            act.forEach((r) => initPreserve.get(r)!.forEach((q) => (logp0.set(q.logp, weight.length * V), weight.push(q.weight))));
            preserveInit = { active: act.length, logp: logp0, weight };
          }
          const pKl = mul(klDiv(preserveLogp, tensor(preserveInit.logp, [preserveAt.length, V]), 'none'), tensor(preserveInit.weight, [preserveAt.length]));
          loss = add(loss, sum(pKl));
          (pKl.data() as Float32Array).forEach((v, i) => (preserve[preserveOwner[i]] += v));
        }
        // Per-request values for the trace (kl: both KL terms) and the stopping rule.
        const tokData = nllTok.data() as Float32Array;
        const klData = klPer.data() as Float32Array;
        const nll = new Array<number>(act.length).fill(0);
        tokData.forEach((v, i) => (nll[readOwner[i]] += v));
        const perReq = act.map((_, a) => {
          const kl = hp.kl_factor * klData[a] + preserve[a];
          return { nll: nll[a], kl, wd: wdValue[a], loss: nll[a] + kl + wdValue[a] };
        });
        const last = step === hp.v_num_grad_steps - 1;
        const stopping = perReq.map((v) => last || v.loss < STOP_LOSS);
        act.forEach((r, a) => {
          const v = perReq[a];
          traces[r].push({ step, loss: v.loss, nll: v.nll, kl: v.kl, weightDecay: v.wd, targetProb: Math.exp(-v.nll) });
        });
        if (stopping.every(Boolean)) return { stopping, snapshot: null };
        // Snapshot δ of the requests that stop now: Adam's momentum would still move them.
        const snapshot = new Float32Array(d);
        const [g] = grad(loss, [delta]);
        opt.update([g]);
        return { stopping, snapshot };
      });
      act.forEach((r, a) => {
        if (result.stopping[a]) active.delete(r);
      });
      if (!result.snapshot) break;
      // Restore the stopped rows, then project every active δ_i into its ball ‖δ_i‖ ≤ clamp·‖h0_i‖.
      const next = new Float32Array(delta.data() as Float32Array);
      for (let r = 0; r < m; r++) {
        if (!active.has(r)) {
          next.set(result.snapshot.subarray(r * C, (r + 1) * C), r * C);
          continue;
        }
        let norm = 0;
        for (let k = r * C; k < (r + 1) * C; k++) norm += next[k] * next[k];
        norm = Math.sqrt(norm);
        const maxNorm = hp.clamp_norm_factor * Math.sqrt(h0Norm2[r]);
        if (norm > maxNorm) for (let k = r * C; k < (r + 1) * C; k++) next[k] = (next[k] * maxNorm) / norm;
      }
      const t = tensor(next, [m, C]);
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
    if (pass !== all) pass.dispose();
    all.dispose();
  }
}
