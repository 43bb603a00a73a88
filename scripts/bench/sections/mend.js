'use strict';
/**
 * MEND (and KE) on fact-small beside ROME, on the same machine and cases: milliseconds per edit
 * for single edits and for batches (MEND sums a batch into one update), milliseconds per
 * training iteration (a short live run of the shared trainer), and the recorded length of the
 * full training run of the committed editors (their JSON sidecars). ROME's figure includes its
 * v* optimisation, not the one-off covariance statistics (reported apart, as the MEND paper's
 * efficiency table excludes MEND's training).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timeEdits(editor, model, requests) {
  const ms = [];
  for (const r of requests) {
    const t = process.hrtime.bigint();
    const d = await editor.edit(model, [r]);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    d.dispose();
  }
  return ms;
}

/** Iterations and seconds of the whole training run, from the log committed beside an editor. */
function fullRun(file) {
  const log = file.replace(/\.safetensors$/, '.train-log.jsonl');
  if (!fs.existsSync(log)) return null;
  const rows = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const last = rows[rows.length - 1];
  return { iterations: last.iter, seconds: last.seconds };
}

module.exports = {
  name: 'mend',
  description: 'MEND/KE ms per edit (single, batched), training ms/iteration and run length, beside ROME on fact-small',
  async run(ctx) {
    const core = require(path.join(ctx.repoRoot, 'packages/core/dist/index.js'));
    const { MendEditor, KeEditor, trainEditor, examplesFromCases } = require(path.join(ctx.repoRoot, 'packages/mend/dist/index.js'));
    const { RomeEditor } = require(path.join(ctx.repoRoot, 'packages/rome/dist/index.js'));
    const { readDataset } = require(path.join(ctx.repoRoot, 'packages/data/dist/index.js'));
    const fix = path.join(ctx.repoRoot, 'test-fixtures');
    const model = await core.loadModel(path.join(fix, 'models/fact-small'));
    const cases = readDataset(path.join(fix, 'factworld/edits/counterfact-eval.json')).cases;
    const requests = cases.map((c) => c.request);
    const nSingle = ctx.quick ? 3 : 50;
    const out = { model: 'fact-small', singleEdits: nSingle };

    const editors = [];
    for (const [name, E] of [['MEND', MendEditor], ['KE', KeEditor]]) {
      const file = path.join(fix, `editors/${name.toLowerCase()}-fact-small.safetensors`);
      if (fs.existsSync(file)) editors.push([name, await E.load(file, model), JSON.parse(fs.readFileSync(`${file}.json`, 'utf8'))]);
    }
    for (const [name, editor, info] of editors) {
      ctx.log(`mend: ${name} single edits`);
      await timeEdits(editor, model, requests.slice(0, 2)); // warm-up
      const single = await timeEdits(editor, model, requests.slice(0, nSingle));
      const batched = {};
      for (const size of ctx.quick ? [10] : [10, 50]) {
        const t = process.hrtime.bigint();
        const d = await editor.edit(model, requests.slice(0, size));
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        d.dispose();
        batched[size] = { msPerCall: ms, msPerEdit: ms / size };
      }
      out[name] = {
        msPerEdit: { median: median(single), mean: single.reduce((a, b) => a + b, 0) / single.length },
        batched,
        // The sidecar records the state when the best checkpoint was written; the log, the whole run.
        training: { bestIter: info.training ? info.training.iter : null, secondsToBest: info.training ? info.training.seconds : null, fullRun: fullRun(file) },
      };
      editor.dispose();
    }

    ctx.log('mend: training ms per iteration (short live run)');
    const examples = examplesFromCases(readDataset(path.join(fix, 'factworld/edits/zsre-train.json')).cases);
    const iters = ctx.quick ? 6 : 40;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-mend-'));
    const fresh = MendEditor.create(model, { rank: 64, lr: 1e-4, accumulate_bs: 4, max_iters: iters, val_interval: iters, val_steps: 1 });
    const t0 = Date.now();
    await trainEditor(fresh, { model, examples, outDir: tmp });
    out.trainMsPerIteration = (Date.now() - t0) / iters;
    fresh.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });

    ctx.log('mend: ROME on the same cases');
    const rome = new RomeEditor({});
    const hp = rome.resolve(model);
    const ts = Date.now();
    const stats = await core.computeLayerStats(model, { layers: hp.layers, corpus: core.readCorpus(path.join(fix, 'factworld/filler.txt')) });
    const statsSeconds = (Date.now() - ts) / 1000;
    const timed = new RomeEditor({}, { stats });
    const nRome = ctx.quick ? 2 : 8;
    const romeMs = await timeEdits(timed, model, requests.slice(0, nRome));
    const t = process.hrtime.bigint();
    const d = await timed.edit(model, requests.slice(0, 10));
    const rome10 = Number(process.hrtime.bigint() - t) / 1e6;
    d.dispose();
    out.ROME = { edits: nRome, msPerEdit: { median: median(romeMs), mean: romeMs.reduce((a, b) => a + b, 0) / romeMs.length }, batched: { 10: { msPerCall: rome10, msPerEdit: rome10 / 10 } }, covarianceSeconds: statsSeconds };
    timed.dispose();
    for (const s of stats.values()) s.mom2Sum.dispose();
    model.dispose();
    return out;
  },
};
