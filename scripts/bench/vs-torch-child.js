#!/usr/bin/env node
'use strict';
/**
 * One thread count of `npm run bench -- --vs-torch` (started by sections/vs-torch.js with the
 * thread settings in its environment, which the engine reads at start-up). Runs PyTorch and
 * medit alternately on the inputs the parent wrote — torch run, medit run, torch run, ... —
 * and prints one JSON object with every sample (seconds) and the load averages around each
 * measurement. PyTorch runs in long-lived workers (scripts/bench/torch-worker.py) spawned here:
 * one for GEMM (OpenBLAS threads = the count, torch threads 1) and one for the models and ROME
 * (torch threads = the count, OPENBLAS_NUM_THREADS=1: OpenMP and OpenBLAS both at 2 threads stall).
 *
 *   node scripts/bench/vs-torch-child.js <inputs.json>
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const repoRoot = path.resolve(__dirname, '../..');
const loads = () => os.loadavg().map((x) => Math.round(x * 100) / 100);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const log = (msg) => process.stderr.write(`[vs-torch ${process.env.MEDIT_NUM_THREADS}T] ${msg}\n`);

/** A python worker answering one JSON job per line. */
function startWorker(env) {
  const child = spawn('/usr/bin/python3', [path.join(__dirname, 'torch-worker.py')], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (line) => waiting.shift()?.resolve(JSON.parse(line)));
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`the PyTorch worker exited (code ${code})`));
  });
  return {
    ask(job) {
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(`${JSON.stringify(job)}\n`);
      }).then((answer) => {
        if (!answer.ok) throw new Error(`PyTorch job ${job.job} failed: ${answer.error}`);
        return answer;
      });
    },
    close() {
      child.stdin.end();
    },
  };
}

/** A process that keeps one core busy (the competing job), until stopped. */
function startBusy() {
  const child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  return () => child.kill('SIGKILL');
}

/** `reps` alternating runs of torch then medit; each returns seconds (or an object with `seconds`). */
async function interleave(name, reps, torch, medit) {
  const out = { torch: [], medit: [], loadBefore: loads() };
  for (let r = 0; r < reps; r++) {
    if (torch) out.torch.push(await torch(r));
    out.medit.push(await medit(r));
    log(`${name} run ${r + 1}/${reps}`);
  }
  out.loadAfter = loads();
  return out;
}

/** Seconds per matmul of the two n×n matrices, calls repeated for at least `minSeconds`. */
function meditSgemm(binding, a, b, minSeconds) {
  binding.dispose(binding.matmul(a, b, false, false)); // warm-up
  let calls = 0;
  const t0 = now();
  let elapsed = 0;
  do {
    binding.dispose(binding.matmul(a, b, false, false));
    calls++;
    elapsed = now() - t0;
  } while (elapsed < minSeconds);
  return elapsed / calls;
}

async function main() {
  const inputs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const { threads, reps, withTorch } = inputs;
  const native = require(path.join(repoRoot, 'native/dist/index.js'));
  const core = require(path.join(repoRoot, 'packages/core/dist/index.js'));
  const { RomeEditor } = require(path.join(repoRoot, 'packages/rome/dist/index.js'));
  const binding = native.loadBinding();
  const blasWorker = withTorch ? startWorker({ OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: '1' }) : null;
  const modelWorker = withTorch ? startWorker({ OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: String(threads) }) : null;
  const result = { threads, env: { OMP_NUM_THREADS: process.env.OMP_NUM_THREADS, MEDIT_NUM_THREADS: process.env.MEDIT_NUM_THREADS, OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS } };
  try {
    if (withTorch) {
      result.torch = await blasWorker.ask({ job: 'init', threads: 1 });
      await modelWorker.ask({ job: 'init', threads });
    }

    // sgemm n×n×n, f32
    const { n, file: sgemmFile, minSeconds } = inputs.sgemm;
    const data = new Float32Array(fs.readFileSync(sgemmFile).buffer.slice(0));
    const a = binding.fromTypedArray(data.subarray(0, n * n), [n, n], native.DTYPE_CODES.float32);
    const b = binding.fromTypedArray(data.subarray(n * n, 2 * n * n), [n, n], native.DTYPE_CODES.float32);
    const torchSgemm = withTorch ? async () => (await blasWorker.ask({ job: 'sgemm', file: sgemmFile, n, minSeconds })).secondsPerCall : null;
    result.sgemm = await interleave('sgemm', reps, torchSgemm, () => meditSgemm(binding, a, b, minSeconds));
    if (threads > 1) {
      const stop = startBusy();
      try {
        result.sgemmBusy = await interleave('sgemm beside a busy process', reps, torchSgemm, () => meditSgemm(binding, a, b, minSeconds));
      } finally {
        stop();
      }
    }
    if (withTorch) {
      const corner = (await blasWorker.ask({ job: 'sgemm', file: sgemmFile, n, minSeconds: 0, returnCorner: true })).corner;
      const c = binding.matmul(a, b, false, false);
      const mine = binding.read(c);
      binding.dispose(c);
      result.sgemm.maxAbsDiff = Math.max(...corner.map((x, i) => Math.abs(x - mine[Math.floor(i / 4) * n + (i % 4)])));
    }
    binding.dispose(a);
    binding.dispose(b);

    // GPT-2-small shape: forward and forward + backward of the next-token loss, same weights and ids
    const gpt2 = await core.loadModel(inputs.gpt2.dir, { tokenizer: false });
    const ids = JSON.parse(fs.readFileSync(inputs.gpt2.ids, 'utf8'));
    const params = [...gpt2.params.values()];
    const targets = ids.flatMap((row) => row.map((_, t) => (t + 1 < row.length ? row[t + 1] : -100)));
    const meditGpt2 = (backward) => {
      if (backward) for (const p of params) p.requiresGrad = true;
      const t0 = now();
      const sample = core.tidy(() => {
        const run = () => gpt2.forward(ids).logits;
        const logits = backward ? run() : core.noGrad(run);
        if (backward) core.grad(core.crossEntropy(logits, targets), params);
        const V = logits.shape[2];
        const d = core.noGrad(() => core.slice(core.slice(logits, 0, 0, 1), 1, 0, 4)).data();
        return Array.from({ length: 32 }, (_, i) => d[Math.floor(i / 8) * V + (i % 8)]);
      });
      const seconds = now() - t0;
      for (const p of params) p.requiresGrad = false;
      return { seconds, sample };
    };
    if (withTorch) await modelWorker.ask({ job: 'gpt2-load', dir: inputs.gpt2.dir });
    const torchGpt2 = (backward) => (withTorch ? async (r) => modelWorker.ask({ job: 'gpt2', ids: inputs.gpt2.ids, backward, returnSample: r === 0 }) : null);
    const tokens = ids.length * ids[0].length;
    for (const backward of [false, true]) {
      const key = backward ? 'gpt2ForwardBackward' : 'gpt2Forward';
      const samples = {};
      const runs = await interleave(key, reps, torchGpt2(backward) && (async (r) => {
        const answer = await torchGpt2(backward)(r);
        if (answer.sample) samples.torch = answer.sample;
        return answer.seconds;
      }), (r) => {
        const { seconds, sample } = meditGpt2(backward);
        if (r === 0) samples.medit = sample;
        return seconds;
      });
      runs.tokens = tokens;
      if (samples.torch) runs.maxAbsDiffLogits = Math.max(...samples.torch.map((x, i) => Math.abs(x - samples.medit[i])));
      result[key] = runs;
    }
    gpt2.dispose();

    // ROME on fact-small: the same requests, templates and C on both sides
    const rome = JSON.parse(fs.readFileSync(inputs.rome.file, 'utf8'));
    const model = await core.loadModel(rome.model);
    const corpus = core.readCorpus(rome.corpus);
    const stats = await core.computeLayerStats(model, { layers: [rome.hparams.layer], corpus, maxDocs: rome.statsDocs, cacheDir: rome.statsCacheDir });
    const editor = new RomeEditor({ fact_token: 'subject_last', v_num_grad_steps: rome.hparams.v_num_grad_steps }, { stats, contextTemplates: rome.templates });
    const updates = { torch: null, medit: [] };
    const stepCounts = { torch: null, medit: [] };
    const meditRome = async (r) => {
      const perEdit = [];
      for (const req of rome.editRequests) {
        const t0 = now();
        const delta = await editor.edit(model, [req]);
        perEdit.push(now() - t0);
        if (r === 0) {
          const [u] = delta.updates;
          updates.medit.push({ left: Array.from(u.left.data()), right: Array.from(u.right.data()) });
          stepCounts.medit.push(delta.info.stats.edits[0].trace.length);
        }
        delta.dispose();
      }
      return perEdit;
    };
    const torchRome = withTorch
      ? async (r) => {
          const answer = await modelWorker.ask({ job: 'rome', file: inputs.rome.file, cov: rome.cov, returnUpdates: r === 0 });
          if (r === 0) {
            updates.torch = answer.updates;
            stepCounts.torch = answer.steps;
          }
          return answer.secondsPerEdit;
        }
      : null;
    result.rome = await interleave('rome', reps, torchRome, meditRome);
    result.rome.edits = rome.editRequests.length;
    result.rome.steps = stepCounts;
    if (updates.torch) result.rome.oneMinusCos = updates.medit.map((m, i) => oneMinusCos(m, updates.torch[i]));
    editor.dispose();
    for (const s of stats.values()) s.mom2Sum.dispose();
    model.dispose();
  } finally {
    blasWorker?.close();
    modelWorker?.close();
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** 1 − cos between two rank-one updates u·rᵀ (in f64). */
function oneMinusCos(x, y) {
  // <u1 r1ᵀ, u2 r2ᵀ> = (u1·u2)(r1·r2), ‖u rᵀ‖ = ‖u‖‖r‖
  const dot = (p, q) => p.reduce((s, v, i) => s + v * q[i], 0);
  const cos = (dot(x.left, y.left) * dot(x.right, y.right)) / Math.sqrt(dot(x.left, x.left) * dot(x.right, x.right) * dot(y.left, y.left) * dot(y.right, y.right));
  return 1 - cos;
}

main().catch((err) => {
  process.stderr.write(`vs-torch child: ${err.stack || err}\n`);
  process.exitCode = 1;
});
