'use strict';
/**
 * MEMIT's z optimisation for one batch of 1,000 edits on fact-small, at the settings of the
 * session-5 run recorded in bench/RESULTS.md (z 650 s there): the first 1,000 CounterFact
 * records of the eval then the train split, z at layer 0 (`subject_last`, 20 steps, lr 2,
 * clamp 8, one generated group of 3 prefixes), requests on one subject sharing their z, λ 10.
 * Reports the editor's own stage times (z, keys, solve) of one edit of the whole batch, with
 * the statistics (C over the first 20,000 training documents) computed beforehand (cached).
 *
 *   MEDIT_BENCH_MEMIT_Z_N   batch size (default 1000; --quick 50)
 */
const os = require('node:os');
const path = require('node:path');

const SESSION5_Z_SECONDS = 650;

module.exports = {
  name: 'memit-z',
  description: 'MEMIT z optimisation for one batch of 1,000 edits on fact-small (session-5 settings; 650 s recorded then)',
  async run(ctx) {
    const core = require(path.join(ctx.repoRoot, 'packages/core/dist/index.js'));
    const { MemitEditor } = require(path.join(ctx.repoRoot, 'packages/memit/dist/index.js'));
    const { readDataset } = require(path.join(ctx.repoRoot, 'packages/data/dist/index.js'));
    const fix = path.join(ctx.repoRoot, 'test-fixtures');
    const n = Number(process.env.MEDIT_BENCH_MEMIT_Z_N ?? (ctx.quick ? 50 : 1000));
    const hparams = {
      layers: [0],
      fact_token: 'subject_last',
      v_num_grad_steps: 20,
      v_lr: 2,
      clamp_norm_factor: 8,
      mom2_update_weight: 10,
      mom2_n_samples: 20000,
      context_template_length_params: [[10, 3]],
    };
    const cases = [];
    for (const f of ['counterfact-eval.json', 'counterfact-train.json']) cases.push(...(await readDataset(path.join(fix, 'factworld/edits', f))).cases);
    const requests = cases.slice(0, n).map((c) => c.request);
    const model = await core.loadModel(path.join(fix, 'models/fact-small'));
    const corpus = core.readCorpus(path.join(fix, 'factworld/corpus/train-full.txt'));
    const stats = await core.computeLayerStats(model, { layers: [0], corpus, maxDocs: hparams.mom2_n_samples, cacheDir: path.join(os.tmpdir(), 'medit-bench', 'stats') });
    ctx.log(`memit-z: one batch of ${n} edits (${new Set(requests.map((r) => r.subject)).size} subjects)`);
    const editor = new MemitEditor(hparams, { stats });
    const loadBefore = os.loadavg();
    const t0 = Date.now();
    const delta = await editor.edit(model, requests);
    const wallSeconds = (Date.now() - t0) / 1000;
    const s = delta.info.stats;
    const zSeconds = s.timings.zMs / 1000;
    delta.dispose();
    editor.dispose();
    for (const st of stats.values()) st.mom2Sum.dispose();
    model.dispose();
    return {
      model: 'fact-small',
      edits: n,
      hparams,
      wallSeconds,
      stageSeconds: { z: zSeconds, keys: s.timings.keysMs / 1000, solve: s.timings.solveMs / 1000 },
      zStepsMean: s.edits.reduce((a, e) => a + e.steps, 0) / n,
      session5ZSeconds: n === 1000 ? SESSION5_Z_SECONDS : null,
      zSpeedupOverSession5: n === 1000 ? Math.round((SESSION5_Z_SECONDS / zSeconds) * 100) / 100 : null,
      threads: process.env.MEDIT_NUM_THREADS ?? process.env.OMP_NUM_THREADS ?? null,
      loadAverage: { before: loadBefore.map((x) => Math.round(x * 100) / 100), after: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    };
  },
};
