/**
 * Soak: a long stream of sequential AlphaEdit edits on fact-small, each applied and kept (the
 * protocol of AlphaEdit's sequential experiments), checking after every edit that
 * - the delta, the edited weights and the logits of the edited prompt hold no NaN/Inf,
 * - reverting the edit restores the weights it changed bit for bit (sha256 of those weights),
 *   and applying it again gives the same weights as the first apply (every edit is checked, right
 *   after its own apply; the stream then keeps it, as AlphaEdit's sequential protocol does),
 * - native memory (`memory()`) stays flat once the first edits have warmed the caches up; the
 *   allocator's counters and the process's `process.memoryUsage()` are sampled every
 *   `sample-every` edits and their least-squares slopes per 1,000 edits after warm-up reported.
 *
 *   node --expose-gc scripts/dist/reliability/soak.js --edits 10000 --state /tmp/medit-soak [--checkpoint-every 50] [--warmup 20] [--sample-every 100]
 *
 * Resumable: every `checkpoint-every` edits the model's weights, AlphaEdit's memory of past edits
 * and the counts so far are written to `<state>/soak.safetensors` (one atomic file); running the
 * same command again continues from there. Statistics (C over the filler text) are computed on
 * the unedited model once and cached in `<state>/stats`. The edits cycle through the fact world's
 * CounterFact training cases (never the eval split), each pass with other targets of the same
 * relation. Prints a JSON progress line to stderr per `report-every` edits and a JSON summary to
 * stdout; exits 1 when a check failed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  type CausalLM,
  type EditRequest,
  type LayerStats,
  Tensor,
  argmax,
  computeLayerStats,
  copyInplace,
  fillTemplate,
  loadModel,
  memory,
  noGrad,
  nonFinite,
  readCorpus,
  readTensorDocument,
  tidy,
  weightsFingerprint,
  writeTensorDocument,
} from '@medit/core';
import { readDataset } from '@medit/data';
import { AlphaEditEditor, type MemitHyperParams, memitContextTemplates, resolveMemitHparams } from '@medit/memit';

const ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');
const MODEL = path.join(ROOT, 'test-fixtures/models/fact-small');
const CASES = path.join(ROOT, 'test-fixtures/factworld/edits/counterfact-train.json');
const FILLER = path.join(ROOT, 'test-fixtures/factworld/filler.txt');
const FORMAT = 'medit-soak';

/**
 * AlphaEdit as bench/hparams/fact-small-alphaedit.json (12 z steps: with 4 the targets were not
 * reached), at the subject's last token so an edit's cost does not grow with the stream.
 */
export const SOAK_HPARAMS: Partial<MemitHyperParams> = {
  layers: [0],
  fact_token: 'subject_last',
  clamp_norm_factor: 8,
  v_lr: 2,
  v_num_grad_steps: 12,
  mom2_update_weight: 10,
  mom2_n_samples: 20000,
  nullspace_threshold: 0.2,
  L2: 1,
  context_template_length_params: [[10, 1]],
};

/** Counts of a soak so far (saved with its checkpoint). */
export interface SoakCounts {
  /** edits done */
  edits: number;
  /** deltas or edited weights holding NaN/Inf */
  nonFinite: number;
  /** edits after which the logits of the edited prompt held NaN/Inf */
  nonFiniteOutputs: number;
  /** reverts that did not restore the changed weights bit for bit */
  revertMismatches: number;
  /** second applies that did not give the first apply's weights */
  reapplyMismatches: number;
  /** edits whose target is the greedy next token right after the edit */
  succeeded: number;
  /** native bytes and live tensors after the warm-up edits, and the extremes since */
  memory: { warmBytes: number | null; minBytes: number | null; maxBytes: number | null; warmTensors: number | null; maxTensors: number | null };
  /** seconds spent editing and checking (summed over resumed runs) */
  seconds: number;
  /** memory every `sampleEvery` edits */
  samples: MemorySample[];
}

/** Memory after `edits` edits: the native allocator's counters and `process.memoryUsage()`. */
export interface MemorySample {
  edits: number;
  /** native bytes in live tensors ({@link memory}) */
  nativeBytes: number;
  /** live tensors */
  tensors: number;
  /** live native buffers */
  buffers: number;
  /** freed native buffers the allocator keeps for reuse */
  cachedBytes: number;
  /** buffers the allocator has asked the system for so far (grows only when reuse misses) */
  systemAllocations: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  /** the process (a resumed stream continues in another one) */
  pid: number;
}

/** Least-squares slope of `key` over `samples` (with at least `from` edits), per 1,000 edits; null with fewer than two. */
export function slopePer1000(samples: MemorySample[], key: Exclude<keyof MemorySample, 'edits' | 'pid'>, from = 0): number | null {
  const pts = samples.filter((s) => s.edits >= from);
  if (pts.length < 2) return null;
  const mx = pts.reduce((a, s) => a + s.edits, 0) / pts.length;
  const my = pts.reduce((a, s) => a + s[key], 0) / pts.length;
  const sxy = pts.reduce((a, s) => a + (s.edits - mx) * (s[key] - my), 0);
  const sxx = pts.reduce((a, s) => a + (s.edits - mx) ** 2, 0);
  return (sxy / sxx) * 1000;
}

function sampleMemory(edits: number): MemorySample {
  // a full collection first when node runs with --expose-gc, so the heap figures are live data, not garbage
  (globalThis as { gc?: () => void }).gc?.();
  const m = memory();
  const p = process.memoryUsage();
  return { edits, nativeBytes: m.numBytes, tensors: m.numTensors, buffers: m.numBuffers, cachedBytes: m.cachedBytes, systemAllocations: m.systemAllocations, rss: p.rss, heapTotal: p.heapTotal, heapUsed: p.heapUsed, external: p.external, pid: process.pid };
}

/** A soak's counts, the memory slopes after warm-up and whether every check passed. */
export interface SoakResult extends SoakCounts {
  /** least-squares slope per 1,000 edits of each {@link MemorySample} field, samples after warm-up */
  slopesPer1000: Record<'nativeBytes' | 'tensors' | 'buffers' | 'cachedBytes' | 'systemAllocations' | 'rss' | 'heapTotal' | 'heapUsed' | 'external', number | null>;
  /** no NaN/Inf, every revert and reapply bit-exact, native memory flat after warm-up */
  ok: boolean;
}

/** The stream's i-th request: the fact world's training cases in turn, each pass with other targets of the relation. */
export function soakStream(): (i: number) => EditRequest {
  const cases = readDataset(CASES).cases.map((c) => c.request);
  const byRelation = new Map<string, string[]>();
  for (const c of cases) {
    const key = c.prompt;
    const list = byRelation.get(key) ?? [];
    if (!list.includes(c.targetNew)) list.push(c.targetNew);
    byRelation.set(key, list);
  }
  return (i) => {
    const c = cases[i % cases.length];
    const pass = Math.floor(i / cases.length);
    const targets = (byRelation.get(c.prompt) ?? [c.targetNew]).filter((t) => t !== c.targetTrue);
    const targetNew = targets.length ? targets[(targets.indexOf(c.targetNew) + pass + targets.length) % targets.length] : c.targetNew;
    return { prompt: c.prompt, subject: c.subject, targetNew };
  };
}

async function saveState(file: string, model: CausalLM, editor: AlphaEditEditor, counts: SoakCounts): Promise<void> {
  const tensors = new Map<string, ReturnType<Tensor['handle']>>();
  for (const [name, t] of model.params) tensors.set(`param.${name}`, t.handle());
  const mem = editor.memoryState();
  for (const [layer, t] of mem.layers) tensors.set(`memory.${layer}`, t.handle());
  await writeTensorDocument(file, tensors, FORMAT, { counts, committed: mem.requests });
}

async function loadState(file: string, model: CausalLM, editor: AlphaEditEditor): Promise<SoakCounts> {
  const doc = await readTensorDocument(file, FORMAT, 'soak checkpoint');
  const tensors = new Map([...doc.tensors].map(([k, h]) => [k, new Tensor(h)]));
  try {
    for (const [name, p] of model.params) copyInplace(p, tensors.get(`param.${name}`)!);
    const layers = new Map([...tensors].filter(([k]) => k.startsWith('memory.')).map(([k, t]) => [Number(k.slice('memory.'.length)), t]));
    editor.restoreMemory({ layers, requests: doc.document.committed as EditRequest[] });
    return doc.document.counts as SoakCounts;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/**
 * Runs the soak up to `edits` edits (continuing from `<state>/soak.safetensors` when it exists).
 * @returns the counts; `ok` is false when any check failed
 */
export async function soak(opts: {
  edits: number;
  state: string;
  /** where the statistics are cached (default `<state>/stats`) */
  statsCache?: string;
  checkpointEvery?: number;
  warmup?: number;
  /** edits between memory samples (default 100) */
  sampleEvery?: number;
  reportEvery?: number;
  onReport?: (counts: SoakCounts) => void;
}): Promise<SoakResult> {
  fs.mkdirSync(opts.state, { recursive: true });
  const file = path.join(opts.state, 'soak.safetensors');
  const warmup = opts.warmup ?? 20;
  const model = await loadModel(MODEL);
  let stats: Map<number, LayerStats> | undefined;
  try {
    // C and the context templates come from the unedited model (as in an uninterrupted stream),
    // so both are made before a resumed stream's weights are loaded
    stats = await computeLayerStats(model, { layers: SOAK_HPARAMS.layers!, corpus: readCorpus(FILLER), maxDocs: SOAK_HPARAMS.mom2_n_samples, cacheDir: opts.statsCache ?? path.join(opts.state, 'stats') });
    const contextTemplates = memitContextTemplates(model, resolveMemitHparams(SOAK_HPARAMS, model.config.numLayers, 'AlphaEdit'));
    return await run(new AlphaEditEditor(SOAK_HPARAMS, { stats, contextTemplates }));
  } finally {
    for (const s of stats?.values() ?? []) s.mom2Sum.dispose();
    model.dispose();
  }

  async function run(ae: AlphaEditEditor): Promise<SoakResult> {
    try {
      const counts: SoakCounts = fs.existsSync(file)
        ? await loadState(file, model, ae)
        : {
            edits: 0,
            nonFinite: 0,
            nonFiniteOutputs: 0,
            revertMismatches: 0,
            reapplyMismatches: 0,
            succeeded: 0,
            memory: { warmBytes: null, minBytes: null, maxBytes: null, warmTensors: null, maxTensors: null },
            seconds: 0,
            samples: [],
          };
      const next = soakStream();
      const tok = model.tokenizer!;
      let since = process.hrtime.bigint();
      const clock = (): void => {
        const now = process.hrtime.bigint();
        counts.seconds += Number(now - since) / 1e9;
        since = now;
      };
      while (counts.edits < opts.edits) {
        const request = next(counts.edits);
        const delta = await ae.edit(model, [request]); // a NaN/Inf delta throws here (NonFiniteError)
        const names = delta.weightNames;
        const before = weightsFingerprint(model.params, names);
        delta.apply(model);
        const applied = weightsFingerprint(model.params, names);
        if (names.some((n) => nonFinite(model.param(n)).count > 0)) counts.nonFinite++;
        delta.revert(model);
        if (weightsFingerprint(model.params, names) !== before) counts.revertMismatches++;
        delta.apply(model);
        if (weightsFingerprint(model.params, names) !== applied) counts.reapplyMismatches++;
        ae.commit(delta);
        delta.releaseSnapshot();
        delta.dispose();
        const want = tok.encode(` ${request.targetNew}`, { addSpecialTokens: false })[0];
        const ids = tok.encode(fillTemplate(request.prompt, request.subject));
        const { top, bad } = noGrad(() =>
          tidy(() => {
            const logits = model.forward([ids]).logits;
            return { top: argmax(logits).data() as Int32Array, bad: nonFinite(logits).count };
          }),
        );
        if (bad > 0) counts.nonFiniteOutputs++;
        if (top[ids.length - 1] === want) counts.succeeded++;
        counts.edits++;
        const m = memory();
        const mem = counts.memory;
        if (counts.edits === warmup) Object.assign(mem, { warmBytes: m.numBytes, minBytes: m.numBytes, maxBytes: m.numBytes, warmTensors: m.numTensors, maxTensors: m.numTensors });
        else if (counts.edits > warmup && mem.minBytes !== null) {
          mem.minBytes = Math.min(mem.minBytes, m.numBytes);
          mem.maxBytes = Math.max(mem.maxBytes!, m.numBytes);
          mem.maxTensors = Math.max(mem.maxTensors!, m.numTensors);
        }
        if (counts.edits % (opts.sampleEvery ?? 100) === 0) counts.samples.push(sampleMemory(counts.edits));
        clock();
        if (counts.edits % (opts.checkpointEvery ?? 50) === 0 || counts.edits === opts.edits) await saveState(file, model, ae, counts);
        if (opts.onReport && counts.edits % (opts.reportEvery ?? 50) === 0) opts.onReport(counts);
      }
      const mem = counts.memory;
      const flat = mem.warmBytes === null || (mem.maxBytes === mem.warmBytes && mem.minBytes === mem.warmBytes && mem.maxTensors === mem.warmTensors);
      const keys = ['nativeBytes', 'tensors', 'buffers', 'cachedBytes', 'systemAllocations', 'rss', 'heapTotal', 'heapUsed', 'external'] as const;
      const slopes = Object.fromEntries(keys.map((k) => [k, slopePer1000(counts.samples, k, warmup)])) as SoakResult['slopesPer1000'];
      return {
        ...counts,
        slopesPer1000: slopes,
        ok: counts.nonFinite === 0 && counts.nonFiniteOutputs === 0 && counts.revertMismatches === 0 && counts.reapplyMismatches === 0 && flat,
      };
    } finally {
      ae.dispose();
    }
  }
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const state = flag('state');
  if (!state) throw new Error('missing --state DIR (where the resumable checkpoint and cached statistics go)');
  const started = Date.now();
  soak({
    edits: Number(flag('edits') ?? 10000),
    state,
    checkpointEvery: Number(flag('checkpoint-every') ?? 50),
    warmup: Number(flag('warmup') ?? 20),
    sampleEvery: Number(flag('sample-every') ?? 100),
    reportEvery: Number(flag('report-every') ?? 50),
    onReport: ({ samples, ...c }) => console.error(JSON.stringify({ ...c, wallSeconds: Math.round((Date.now() - started) / 1000), last: samples.at(-1) })),
  })
    .then((r) => {
      console.log(JSON.stringify({ summary: r }));
      process.exitCode = r.ok ? 0 : 1;
    })
    .catch((err) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exitCode = 1;
    });
}
