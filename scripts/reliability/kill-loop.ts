/**
 * Crash safety, measured: `kill -9` at random moments of every job that writes state, then
 * check what the next run finds.
 *
 *   node scripts/dist/reliability/kill-loop.js --iterations 50 [--kinds delta-save,checkpoint,stats,mend-train,factworld-train] [--seed 1]
 *
 * Each iteration runs one job in a child process and kills it with SIGKILL after a random delay
 * (uniform over the job's measured duration), then:
 * - delta-save: a child overwrites one delta file with two different deltas in turn. The file
 *   must be absent or one whole delta (its tensors and description from the same save).
 * - checkpoint: a child writes an edited checkpoint of fact-tiny (`writeEditedCheckpoint`). The
 *   directory must be absent or load to exactly the edited model; the source stays byte-identical.
 * - stats: a child computes covariance statistics with a cache (a partial file every batch). A
 *   second, unkilled run must resume and end with the statistics of an uninterrupted run.
 * - mend-train: a child trains MEND on fact-tiny (a checkpoint every 4 iterations); a second run
 *   resumes (or starts over when no checkpoint was written) and must end with the editor of an
 *   uninterrupted run, bit for bit.
 * - factworld-train: the same for the fact-world model trainer (a checkpoint every epoch).
 * After the next run no `*.tmp-<pid>-*` temporary of the killed child may be left. Prints one
 * JSON line per iteration and a summary of the counts; exits 1 when any check failed.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, EditDelta, computeLayerStats, loadModel, modelFingerprint, mulberry32, randn, readCorpus, readCheckpoint, Tensor } from '@medit/core';
import { readDataset } from '@medit/data';
import { MendEditor, examplesFromCases, trainEditor } from '@medit/mend';

import { type Preset, ROW, checkpointFile, trainFactWorld } from '../factworld/train';

export const ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');
const TINY = path.join(ROOT, 'test-fixtures/models/fact-tiny');
const FILLER = path.join(ROOT, 'test-fixtures/factworld/filler.txt');
const MEND_TRAIN = path.join(ROOT, 'test-fixtures/factworld/edits-tiny/zsre-train.json');
const WEIGHT = 'transformer.h.1.mlp.c_proj.weight';

export const KINDS = ['delta-save', 'checkpoint', 'stats', 'mend-train', 'factworld-train'] as const;
export type Kind = (typeof KINDS)[number];

/** What one iteration found. */
export interface IterationResult {
  iteration: number;
  kind: Kind;
  delayMs: number;
  /** the child finished before the kill */
  finished: boolean;
  /** what the killed job left: nothing, the previous state, or a complete new one */
  left: 'absent' | 'complete';
  /** the next run ended where an uninterrupted run does (resumable jobs) */
  resumedExact?: boolean;
  /** temporaries of the killed child still there after the next run */
  staleTemps: number;
  sourceIntact?: boolean;
  /** what went wrong, when something did */
  failure?: string;
}

// ---------------------------------------------------------------- the jobs (child side)

const MEND_HP = { lr: 1e-3, lr_lr: 1e-3, rank: 8, accumulate_bs: 2, val_steps: 2, val_fraction: 0.2, max_iters: 16, val_interval: 4 };

/** The small fact world the trainer job uses: the real tokenizer and facts, 120 corpus lines. */
function microWorld(dir: string): string {
  const world = path.join(dir, 'world');
  if (fs.existsSync(path.join(world, 'world.json'))) return world;
  const src = path.join(ROOT, 'test-fixtures/factworld');
  fs.mkdirSync(path.join(world, 'corpus'), { recursive: true });
  fs.cpSync(path.join(src, 'tokenizer'), path.join(world, 'tokenizer'), { recursive: true });
  const lines = fs.readFileSync(path.join(src, 'corpus/train-tiny.txt'), 'utf8').split('\n').slice(0, 120);
  fs.writeFileSync(path.join(world, 'corpus/train-tiny.txt'), lines.join('\n') + '\n');
  fs.copyFileSync(path.join(src, 'world.json'), path.join(world, 'world.json'));
  return world;
}

const MICRO: Preset = {
  model: { model_type: 'gpt2', n_embd: 16, n_layer: 1, n_head: 2, n_positions: ROW, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 },
  phases: [{ corpus: 'train-tiny.txt', epochs: 4 }],
  batchSize: 16,
  lr: 3e-3,
  warmupSteps: 4,
  weightDecay: 0.01,
  recallOn: 'tiny',
};

/** The two deltas delta-save alternates between (different ranks, so a mix shows). */
function deltaPair(rows: number, cols: number): EditDelta[] {
  return [1, 8].map((k, i) => new EditDelta([{ name: WEIGHT, left: randn([rows, k], { seed: 10 + i }), right: randn([k, cols], { seed: 20 + i }) }], { method: `rank-${k}` }));
}

function editedDelta(model: CausalLM): EditDelta {
  const [rows, cols] = model.param(WEIGHT).shape;
  return new EditDelta([{ name: WEIGHT, left: randn([rows, 2], { seed: 1, std: 0.1 }), right: randn([2, cols], { seed: 2, std: 0.1 }) }], { method: 'kill-loop' });
}

/** Runs one job in this (child) process; prints "go" when the part worth killing starts. */
async function child(kind: Kind, dir: string): Promise<void> {
  const go = () => process.stdout.write('go\n');
  switch (kind) {
    case 'delta-save': {
      const deltas = deltaPair(640, 160);
      go();
      for (let i = 0; ; i++) await deltas[i % 2].save(path.join(dir, 'edit.safetensors'));
    }
    case 'checkpoint': {
      const model = await loadModel(TINY);
      const delta = editedDelta(model);
      go();
      await delta.writeEditedCheckpoint(model, path.join(dir, 'edited'));
      return;
    }
    case 'stats': {
      const model = await loadModel(TINY);
      go();
      await computeLayerStats(model, { layers: [0], corpus: readCorpus(FILLER), maxDocs: 400, batchTokens: 512, checkpointEvery: 1, cacheDir: path.join(dir, 'cache') });
      return;
    }
    case 'mend-train': {
      const model = await loadModel(TINY);
      const out = path.join(dir, 'mend');
      const last = path.join(out, 'last.safetensors');
      const resume = fs.existsSync(last);
      if (!resume) fs.rmSync(out, { recursive: true, force: true });
      const editor = resume ? await MendEditor.load(last, model) : MendEditor.create(model, MEND_HP);
      go();
      await trainEditor(editor, { model, examples: examplesFromCases(readDataset(MEND_TRAIN).cases), outDir: out, resume });
      return;
    }
    case 'factworld-train': {
      const world = microWorld(dir);
      go();
      await trainFactWorld({ presetName: 'micro', preset: MICRO, worldDir: world, out: path.join(dir, 'fw'), seed: 5, resume: true, checkpointEverySeconds: 0, log: () => undefined });
      return;
    }
  }
}

// ---------------------------------------------------------------- the loop (parent side)

/** Spawns the child for `kind`; kills it `delayMs` after it says "go" (never, when undefined). */
function runChild(kind: Kind, dir: string, delayMs?: number): Promise<{ finished: boolean; pid: number; ms: number }> {
  const ts = __filename.endsWith('.ts');
  const args = [...(ts ? ['-r', path.join(ROOT, 'packages/cli/test/helpers/ts-register.js')] : []), __filename, '--child', kind, '--dir', dir];
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let started = 0;
    let timer: NodeJS.Timeout | undefined;
    c.stderr.on('data', (d) => (stderr += d));
    c.stdout.on('data', (d: Buffer) => {
      if (started || !d.toString().includes('go')) return;
      started = Date.now();
      if (delayMs !== undefined) timer = setTimeout(() => c.kill('SIGKILL'), delayMs);
    });
    c.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal === 'SIGKILL') resolve({ finished: false, pid: c.pid!, ms: Date.now() - started });
      else if (code === 0) resolve({ finished: true, pid: c.pid!, ms: Date.now() - started });
      else reject(new Error(`child ${kind} exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

/** Entries named `*.tmp-<pid>-*` of process `pid` anywhere under `dir`. */
function tempsOf(dir: string, pid: number): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((p) => path.basename(p).includes(`.tmp-${pid}-`));
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Bytes of every tensor of a safetensors file (its description left out: it holds timings). */
async function tensorsDigest(file: string): Promise<string> {
  const ck = await readCheckpoint(path.dirname(file), { file: path.basename(file) });
  const h = createHash('sha256');
  for (const name of [...ck.tensors.keys()].sort()) {
    const t = new Tensor(ck.tensors.get(name)!);
    const d = t.data() as ArrayBufferView;
    h.update(name).update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    t.dispose();
  }
  return h.digest('hex');
}

interface Reference {
  /** typical duration of the killable part of each job (ms), from an unkilled run */
  durationMs: Record<Kind, number>;
  editedFingerprint: string;
  statsDigest: string;
  mendDigest: string;
  fwDigest: string;
  sourceSha: string;
}

async function reference(work: string, kinds: readonly Kind[]): Promise<Reference> {
  const ref: Reference = { durationMs: { 'delta-save': 200, checkpoint: 0, stats: 0, 'mend-train': 0, 'factworld-train': 0 }, editedFingerprint: '', statsDigest: '', mendDigest: '', fwDigest: '', sourceSha: sha(path.join(TINY, 'model.safetensors')) };
  const dir = path.join(work, 'reference');
  fs.mkdirSync(dir, { recursive: true });
  if (kinds.includes('checkpoint')) {
    const model = await loadModel(TINY);
    const d = editedDelta(model);
    d.apply(model);
    ref.editedFingerprint = modelFingerprint(model);
    d.dispose();
    model.dispose();
    ref.durationMs.checkpoint = (await runChild('checkpoint', dir)).ms;
  }
  if (kinds.includes('stats')) {
    ref.durationMs.stats = (await runChild('stats', dir)).ms;
    ref.statsDigest = await tensorsDigest(statsFile(path.join(dir, 'cache')));
  }
  if (kinds.includes('mend-train')) {
    ref.durationMs['mend-train'] = (await runChild('mend-train', dir)).ms;
    ref.mendDigest = await tensorsDigest(path.join(dir, 'mend', 'last.safetensors'));
  }
  if (kinds.includes('factworld-train')) {
    ref.durationMs['factworld-train'] = (await runChild('factworld-train', dir)).ms;
    ref.fwDigest = sha(path.join(dir, 'fw', 'model.safetensors'));
  }
  return ref;
}

function statsFile(cacheDir: string): string {
  const f = fs.readdirSync(cacheDir).find((n) => /^mom2-.*-layer0\.safetensors$/.test(n));
  if (!f) throw new Error(`no statistics file in ${cacheDir}`);
  return path.join(cacheDir, f);
}

async function iteration(i: number, kind: Kind, work: string, ref: Reference, rng: () => number): Promise<IterationResult> {
  const dir = path.join(work, `it-${i}`);
  fs.mkdirSync(dir, { recursive: true });
  const delayMs = Math.round(rng() * ref.durationMs[kind] * 1.2);
  const r: IterationResult = { iteration: i, kind, delayMs, finished: false, left: 'absent', staleTemps: 0 };
  const killed = await runChild(kind, dir, delayMs);
  r.finished = killed.finished;
  switch (kind) {
    case 'delta-save': {
      const file = path.join(dir, 'edit.safetensors');
      if (fs.existsSync(file)) {
        const d = await EditDelta.load(file); // throws on a partial or mixed file
        const k = d.updates[0].left!.shape[1];
        if (d.info.method !== `rank-${k}`) r.failure = `a ${d.info.method} description beside rank-${k} tensors`;
        d.dispose();
        r.left = 'complete';
      }
      const [next] = deltaPair(640, 160); // the next run
      await next.save(path.join(dir, 'next.safetensors'));
      next.dispose();
      break;
    }
    case 'checkpoint': {
      const out = path.join(dir, 'edited');
      if (fs.existsSync(out)) {
        const m = await loadModel(out);
        if (modelFingerprint(m) !== ref.editedFingerprint) r.failure = 'the edited checkpoint is not the edited model';
        m.dispose();
        r.left = 'complete';
      }
      r.sourceIntact = sha(path.join(TINY, 'model.safetensors')) === ref.sourceSha;
      if (!r.sourceIntact) r.failure = 'the source model changed';
      const model = await loadModel(TINY); // the next run
      const d = editedDelta(model);
      await d.writeEditedCheckpoint(model, path.join(dir, 'next'));
      d.dispose();
      model.dispose();
      break;
    }
    case 'stats':
    case 'mend-train':
    case 'factworld-train': {
      const done = kind === 'stats' ? path.join(dir, 'cache') : kind === 'mend-train' ? path.join(dir, 'mend', 'best.safetensors') : path.join(dir, 'fw');
      r.left = fs.existsSync(done) && (kind !== 'stats' || fs.readdirSync(done).some((n) => n.endsWith('-layer0.safetensors'))) ? 'complete' : 'absent';
      if (kind === 'factworld-train' && fs.existsSync(checkpointFile(path.join(dir, 'fw')))) r.left = 'absent';
      await runChild(kind, dir); // the next run resumes
      const digest =
        kind === 'stats'
          ? await tensorsDigest(statsFile(path.join(dir, 'cache')))
          : kind === 'mend-train'
            ? await tensorsDigest(path.join(dir, 'mend', 'last.safetensors'))
            : sha(path.join(dir, 'fw', 'model.safetensors'));
      const want = kind === 'stats' ? ref.statsDigest : kind === 'mend-train' ? ref.mendDigest : ref.fwDigest;
      r.resumedExact = digest === want;
      if (!r.resumedExact) r.failure = 'the resumed run did not end where an uninterrupted one does';
      break;
    }
  }
  r.staleTemps = tempsOf(dir, killed.pid).length;
  if (r.staleTemps > 0 && !r.failure) r.failure = `${r.staleTemps} temporaries of the killed process left after the next run`;
  fs.rmSync(dir, { recursive: true, force: true });
  return r;
}

/** Summary counts of a loop. */
export interface KillLoopSummary {
  iterations: number;
  failures: number;
  byKind: Record<string, { iterations: number; killed: number; leftComplete: number; leftAbsent: number; resumedExact: number; staleTemps: number; failures: number }>;
  results: IterationResult[];
}

/**
 * Runs `iterations` kill iterations, cycling through `kinds`.
 * @param onResult - called after each iteration (e.g. to print it)
 */
export async function runKillLoop(opts: { iterations: number; kinds?: readonly Kind[]; seed?: number; work?: string; onResult?: (r: IterationResult) => void }): Promise<KillLoopSummary> {
  const kinds = opts.kinds ?? KINDS;
  const work = opts.work ?? fs.mkdtempSync(path.join(os.tmpdir(), 'medit-kill-loop-'));
  const rng = mulberry32(opts.seed ?? 1);
  try {
    const ref = await reference(work, kinds);
    const results: IterationResult[] = [];
    for (let i = 0; i < opts.iterations; i++) {
      const kind = kinds[i % kinds.length];
      let r: IterationResult;
      try {
        r = await iteration(i, kind, work, ref, rng);
      } catch (err) {
        r = { iteration: i, kind, delayMs: -1, finished: false, left: 'absent', staleTemps: 0, failure: (err as Error).message };
      }
      results.push(r);
      opts.onResult?.(r);
    }
    const byKind: KillLoopSummary['byKind'] = {};
    for (const r of results) {
      const k = (byKind[r.kind] ??= { iterations: 0, killed: 0, leftComplete: 0, leftAbsent: 0, resumedExact: 0, staleTemps: 0, failures: 0 });
      k.iterations++;
      if (!r.finished) k.killed++;
      if (r.left === 'complete') k.leftComplete++;
      else k.leftAbsent++;
      if (r.resumedExact) k.resumedExact++;
      k.staleTemps += r.staleTemps;
      if (r.failure) k.failures++;
    }
    return { iterations: results.length, failures: results.filter((r) => r.failure).length, byKind, results };
  } finally {
    if (!opts.work) fs.rmSync(work, { recursive: true, force: true });
  }
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const kind = flag('child') as Kind | undefined;
  if (kind) {
    child(kind, flag('dir')!).catch((err) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(1);
    });
  } else {
    const kinds = (flag('kinds')?.split(',') ?? [...KINDS]) as Kind[];
    for (const k of kinds) if (!KINDS.includes(k)) throw new Error(`unknown kind ${k} (kinds: ${KINDS.join(', ')})`);
    runKillLoop({ iterations: Number(flag('iterations') ?? 50), kinds, seed: Number(flag('seed') ?? 1), onResult: (r) => console.log(JSON.stringify(r)) })
      .then((s) => {
        console.log(JSON.stringify({ summary: { iterations: s.iterations, failures: s.failures, byKind: s.byKind } }));
        process.exitCode = s.failures > 0 ? 1 : 0;
      })
      .catch((err) => {
        console.error(err instanceof Error ? err.stack : err);
        process.exitCode = 1;
      });
  }
}
