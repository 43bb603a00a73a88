'use strict';
/**
 * medit beside PyTorch on this machine (`npm run bench -- --vs-torch`): where /usr/bin/python3
 * imports torch (Debian's python3-torch with libopenblas0-pthread; a reference tool, never a
 * dependency of medit), PyTorch and medit run alternately on identical inputs in one process
 * tree, at 1 and at 2 threads:
 *
 * - sgemm 1024³ f32 (GFLOP/s); at 2 threads also beside one busy process, against medit's own
 *   1-thread speed;
 * - a GPT-2-small-shaped model (d 768, 12 layers, 12 heads, vocab 50257, random init, the same
 *   weights on both sides) at batch 8 × 128: forward and forward + backward tokens/s;
 * - ROME on fact-small: the first 20 CounterFact eval edits, subject_last, 40 v* steps, the same
 *   context templates and the same C (covariance over the world's training corpus, computed once
 *   here and shared as a file); PyTorch runs a plain implementation of compute_u / compute_v
 *   (scripts/bench/torch-worker.py) that runs the whole model at every step, as the original
 *   code does. The two updates are compared (1 − cos ΔW) before the times mean anything.
 *
 * Each thread count runs in its own child (scripts/bench/vs-torch-child.js: the engine reads
 * its thread settings — MEDIT_NUM_THREADS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS — at start-up),
 * which starts the PyTorch workers and interleaves torch run, medit run, torch run, ...;
 * `--reps` runs each (at least 5 unless --quick), medians reported, with the load averages
 * before and after each measurement. Without torch it says so and times medit alone.
 * --quick: a smoke run (2-layer GPT-2 at 2 × 64, sgemm 512³, 2 ROME edits of 10 steps, 2 runs).
 *
 *   MEDIT_BENCH_VS_TORCH_THREADS       thread counts (default 1,2)
 *   MEDIT_BENCH_VS_TORCH_ROME_EDITS    ROME edits per run (default 20; --quick 2)
 *   MEDIT_BENCH_VS_TORCH_ROME_STEPS    v* steps (default 40; --quick 10)
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { median, rng } = require('../lib');

const PYTHON = '/usr/bin/python3';
const KL_TEMPLATE = '{} is a';

/** Whether PyTorch can be imported, with the reason when not. */
function torchAvailable() {
  if (!fs.existsSync(PYTHON)) return { ok: false, reason: `${PYTHON} does not exist` };
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? { ok: true, version: r.stdout.trim() } : { ok: false, reason: (r.stderr || '').trim().split('\n').pop() };
}

/** The rows ROME's v* optimises on and the key rows, as token ids (spec §1.6, compute_v.py). */
function romeRows(core, tok, templates, request) {
  const target = core.targetIds(tok, request.targetNew);
  const rows = [];
  const lookups = [];
  const labels = [];
  for (const c of templates) {
    const located = core.locateSubject(tok, core.fillTemplate(c, request.prompt), request.subject, 'subject_last');
    const ids = [...located.ids, ...target.slice(0, -1)];
    const n0 = located.ids.length - 1;
    rows.push(ids);
    lookups.push(located.index);
    labels.push(ids.map((_, p) => (p >= n0 ? target[p - n0] : -100)));
  }
  const kl = core.locateSubject(tok, KL_TEMPLATE, request.subject, 'subject_last');
  rows.push(kl.ids);
  lookups.push(kl.index);
  labels.push(kl.ids.map(() => -100));
  const keys = templates.map((c) => core.locateSubject(tok, c.replace('{}', request.prompt), request.subject, 'subject_last'));
  const raw = core.locateSubject(tok, request.prompt, request.subject, 'subject_last');
  return { rows, lookups, labels, targetLength: target.length, keyRows: keys.map((k) => k.ids), keyLookups: keys.map((k) => k.index), rawRow: raw.ids, rawLookup: raw.index };
}

/** Writes every input both sides read; returns the children's inputs. */
async function prepare(ctx, dir, quick) {
  const core = require(path.join(ctx.repoRoot, 'packages/core/dist/index.js'));
  const { RomeEditor } = require(path.join(ctx.repoRoot, 'packages/rome/dist/index.js'));
  const { readDataset } = require(path.join(ctx.repoRoot, 'packages/data/dist/index.js'));
  const cacheRoot = path.join(os.tmpdir(), 'medit-bench');
  fs.mkdirSync(cacheRoot, { recursive: true });

  // sgemm: two n×n f32 matrices, uniform in [-1, 1)
  const n = quick ? 512 : 1024;
  const rand = rng(7);
  const sgemm = new Float32Array(2 * n * n).map(() => rand() * 2 - 1);
  const sgemmFile = path.join(dir, 'sgemm.f32');
  fs.writeFileSync(sgemmFile, Buffer.from(sgemm.buffer));

  // GPT-2-small shape, HF's initialisation (seeded), saved once per shape
  const shape = quick ? { layers: 2, B: 2, T: 64 } : { layers: 12, B: 8, T: 128 };
  const gpt2Dir = path.join(cacheRoot, `gpt2-small-shape-l${shape.layers}-seed0`);
  if (!fs.existsSync(gpt2Dir)) {
    ctx.log(`vs-torch: writing the GPT-2-small-shaped model (${shape.layers} layers) to ${gpt2Dir}`);
    const model = core.createModel({ model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: shape.layers, n_head: 12, n_positions: 1024 }, { seed: 0 });
    await core.saveModel(model, gpt2Dir);
    model.dispose();
  }
  const idRand = rng(11);
  const ids = Array.from({ length: shape.B }, () => Array.from({ length: shape.T }, () => Math.floor(idRand() * 50257)));
  const idsFile = path.join(dir, 'gpt2-ids.json');
  fs.writeFileSync(idsFile, JSON.stringify(ids));

  // ROME: fact-small, its default hyperparameters with subject_last and 40 steps, C once
  const fix = path.join(ctx.repoRoot, 'test-fixtures');
  const modelDir = path.join(fix, 'models/fact-small');
  const model = await core.loadModel(modelDir);
  const steps = Number(process.env.MEDIT_BENCH_VS_TORCH_ROME_STEPS ?? (quick ? 10 : 40));
  const hp = new RomeEditor({ fact_token: 'subject_last', v_num_grad_steps: steps }).resolve(model);
  const layer = hp.layers[0];
  const corpusFile = path.join(fix, 'factworld/corpus/train-full.txt');
  const corpus = core.readCorpus(corpusFile);
  const statsCacheDir = path.join(cacheRoot, 'stats');
  ctx.log(`vs-torch: C of layer ${layer} over ${hp.mom2_n_samples} documents (cached in ${statsCacheDir})`);
  const stats = await core.computeLayerStats(model, { layers: [layer], corpus, maxDocs: hp.mom2_n_samples, cacheDir: statsCacheDir });
  const cov = core.tidy(() => stats.get(layer).mean().data());
  const covFile = path.join(dir, 'cov.f64');
  fs.writeFileSync(covFile, Buffer.from(cov.buffer, cov.byteOffset, cov.byteLength));
  for (const s of stats.values()) s.mom2Sum.dispose();
  const templates = core.contextTemplates(model, hp.context_template_length_params, hp.context_template_seed);
  const edits = Number(process.env.MEDIT_BENCH_VS_TORCH_ROME_EDITS ?? (quick ? 2 : 20));
  const cases = (await readDataset(path.join(fix, 'factworld/edits/counterfact-eval.json'))).cases.slice(0, edits);
  const editRequests = cases.map((c) => c.request);
  const rome = {
    model: modelDir,
    corpus: corpusFile,
    statsDocs: hp.mom2_n_samples,
    statsCacheDir,
    cov: covFile,
    keyDim: model.rewriteModule(layer).keyDim,
    pad: model.config.eosTokenId ?? 0,
    hparams: { layer, v_num_grad_steps: steps, v_lr: hp.v_lr, v_weight_decay: hp.v_weight_decay, clamp_norm_factor: hp.clamp_norm_factor, kl_factor: hp.kl_factor },
    templates,
    editRequests,
    requests: editRequests.map((r) => romeRows(core, model.tokenizer, templates, r)),
  };
  model.dispose();
  const romeFile = path.join(dir, 'rome.json');
  fs.writeFileSync(romeFile, JSON.stringify(rome));
  return {
    sgemm: { n, file: sgemmFile, minSeconds: quick ? 0.2 : 1 },
    gpt2: { dir: gpt2Dir, ids: idsFile, shape },
    rome: { file: romeFile, edits, steps },
  };
}

/** Runs one thread count's child and returns its JSON. */
function runChild(ctx, inputsFile, threads) {
  const env = { ...process.env, MEDIT_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, '../vs-torch-child.js'), inputsFile], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the ${threads}-thread child exited with code ${code}`))));
  });
}

const round = (x, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
/** a / b, or null when either is missing (no torch) */
const ratio = (a, b) => (a === null || b === null ? null : round(a / b, 2));

/** Medians of a measurement and medit's speed-up (torch time / medit time). */
function summarise(m, rate) {
  const value = (s) => rate(Array.isArray(s) ? s.reduce((a, b) => a + b, 0) / s.length : s);
  const side = (xs) => (xs.length ? median(xs.map(value)) : null);
  const torch = side(m.torch);
  const medit = side(m.medit);
  return { torch: round(torch), medit: round(medit), runs: m.medit.length, loadBefore: m.loadBefore, loadAfter: m.loadAfter };
}

module.exports = {
  name: 'vs-torch',
  description: 'medit beside PyTorch (alternate runs, 1 and 2 threads): sgemm 1024³, GPT-2-small forward/backward tok/s, ROME ms/edit on fact-small (same update checked)',
  async run(ctx) {
    const torch = torchAvailable();
    if (!torch.ok) ctx.log(`vs-torch: PyTorch is not available (${torch.reason}); timing medit alone`);
    const reps = ctx.quick ? Math.min(ctx.reps, 2) : Math.max(ctx.reps, 5);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-vs-torch-'));
    try {
      const inputs = await prepare(ctx, dir, ctx.quick);
      const children = {};
      const threadCounts = (process.env.MEDIT_BENCH_VS_TORCH_THREADS ?? '1,2').split(',').map(Number);
      for (const threads of threadCounts) {
        const inputsFile = path.join(dir, `inputs-${threads}.json`);
        fs.writeFileSync(inputsFile, JSON.stringify({ ...inputs, threads, reps, withTorch: torch.ok }));
        ctx.log(`vs-torch: ${threads} thread(s)`);
        children[threads] = await runChild(ctx, inputsFile, threads);
      }
      const flops = 2 * inputs.sgemm.n ** 3;
      const gflops = (seconds) => flops / seconds / 1e9;
      const tokens = inputs.gpt2.shape.B * inputs.gpt2.shape.T;
      const perSecond = (seconds) => tokens / seconds;
      const msPerEdit = (seconds) => seconds * 1000;
      const out = {
        torch: torch.ok ? { version: torch.version } : { unavailable: torch.reason },
        settings: {
          medit: 'MEDIT_NUM_THREADS = OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads',
          torch: 'sgemm: OPENBLAS_NUM_THREADS = threads, torch.set_num_threads(1); models and ROME: torch.set_num_threads(threads), OPENBLAS_NUM_THREADS = 1',
          sgemm: `${inputs.sgemm.n}³ f32`,
          gpt2: `d 768, ${inputs.gpt2.shape.layers} layers, 12 heads, vocab 50257, batch ${inputs.gpt2.shape.B} × ${inputs.gpt2.shape.T}`,
          rome: `fact-small, first ${inputs.rome.edits} CounterFact eval edits, subject_last, ${inputs.rome.steps} v* steps, same templates and C`,
        },
        byThreads: {},
      };
      for (const [threads, c] of Object.entries(children)) {
        const row = {
          sgemmGflops: summarise(c.sgemm, gflops),
          gpt2ForwardTokensPerSecond: summarise(c.gpt2Forward, perSecond),
          gpt2ForwardBackwardTokensPerSecond: summarise(c.gpt2ForwardBackward, perSecond),
          romeMsPerEdit: summarise(c.rome, msPerEdit),
        };
        // speed-ups: medit over torch (rates: medit / torch; times: torch / medit)
        row.speedup = {
          sgemm: ratio(row.sgemmGflops.medit, row.sgemmGflops.torch),
          gpt2Forward: ratio(row.gpt2ForwardTokensPerSecond.medit, row.gpt2ForwardTokensPerSecond.torch),
          gpt2ForwardBackward: ratio(row.gpt2ForwardBackwardTokensPerSecond.medit, row.gpt2ForwardBackwardTokensPerSecond.torch),
          rome: ratio(row.romeMsPerEdit.torch, row.romeMsPerEdit.medit),
        };
        if (c.sgemmBusy) {
          row.sgemmBesideBusyProcessGflops = summarise(c.sgemmBusy, gflops);
          row.speedup.sgemmBesideBusyProcess = ratio(row.sgemmBesideBusyProcessGflops.medit, row.sgemmBesideBusyProcessGflops.torch);
          // the bar: medit's 2-thread GEMM beside a busy process ≥ its own 1-thread speed
          if (children[1]) row.meditBusyOverOwnOneThread = ratio(row.sgemmBesideBusyProcessGflops.medit, summarise(children[1].sgemm, gflops).medit);
        }
        row.checks = {
          sgemmMaxAbsDiff: c.sgemm.maxAbsDiff ?? null,
          gpt2LogitsMaxAbsDiff: c.gpt2Forward.maxAbsDiffLogits ?? null,
          romeMaxOneMinusCos: c.rome.oneMinusCos ? Math.max(...c.rome.oneMinusCos) : null,
          romeSteps: c.rome.steps,
        };
        row.env = c.env;
        out.byThreads[threads] = row;
      }
      return out;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
