'use strict';
/**
 * MEMIT on fact-small: one batch of N edits for growing N, with the editor's own stage
 * timings (statistics, z optimisation, keys, solves), edits per second and peak native memory.
 * z costs one optimisation per subject (linear in N); the solve is one Woodbury n×n system
 * (n ≤ d_ff/2) or one d_ff×d_ff Cholesky per layer, plus forming KᵀK (linear in N).
 *
 * Requests are synthesised from the fact world (test-fixtures/factworld/world.json): each fact
 * (subject, relation, object) in the first training phrasing of its relation, moved to another
 * object of that relation; facts are taken one per subject first, so N ≤ 1,000 has distinct
 * subjects and 10,000 revisits subjects (several facts each, sharing one z per subject).
 * Statistics: the world's training corpus, first MEDIT_BENCH_MEMIT_DOCS documents (default
 * 20,000; cached under the OS temp directory, the first run computes them).
 *
 *   MEDIT_BENCH_MEMIT_N        comma-separated batch sizes (default 100,1000,10000; --quick 20,100)
 *   MEDIT_BENCH_MEMIT_HPARAMS  JSON hyperparameters over the defaults below
 *
 * `measureCostVsN` runs the same measurement on another model and world (fact-base's bar runner,
 * scripts/factbase/bars.ts): a world directory with world.json and templates.json (fact-world) or
 * relations.json (fact-base), both listing `relations[].train` phrasings.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** Counterfactual requests from the world's facts: one per subject first, then the rest. */
function synthesiseRequests(repoRoot, count, worldDir = path.join(repoRoot, 'test-fixtures/factworld')) {
  const fix = worldDir;
  const world = JSON.parse(fs.readFileSync(path.join(fix, 'world.json'), 'utf8'));
  const templates = JSON.parse(fs.readFileSync(path.join(fix, fs.existsSync(path.join(fix, 'templates.json')) ? 'templates.json' : 'relations.json'), 'utf8'));
  const name = new Map(world.entities.map((e) => [e.id, e.name]));
  const relation = new Map(templates.relations.map((r) => [r.id, r]));
  const objects = new Map();
  for (const f of world.facts) objects.set(f.relation, [...new Set([...(objects.get(f.relation) ?? []), f.object])]);
  const seen = new Set();
  const first = [];
  const rest = [];
  for (const f of world.facts) {
    if (!relation.has(f.relation)) continue;
    (seen.has(f.subject) ? rest : first).push(f);
    seen.add(f.subject);
  }
  const facts = [...first, ...rest];
  const out = [];
  for (let i = 0; out.length < count; i++) {
    const f = facts[i % facts.length];
    const pool = objects.get(f.relation).filter((o) => o !== f.object);
    if (pool.length === 0) continue;
    out.push({
      prompt: relation.get(f.relation).train[0],
      subject: name.get(f.subject),
      targetNew: name.get(pool[i % pool.length]),
      targetTrue: name.get(f.object),
    });
  }
  return out;
}

/**
 * One MEMIT batch of each size in `sizes` on `modelDir`, requests from `worldDir`, statistics
 * over the first `docs` documents of `corpusFile` (computed once, outside the timed calls).
 * With `zCacheDir` the z's are read from and written to that cache as they are computed, so a
 * batch too long for one sitting (10,000 edits on fact-base) can be run again until it finishes:
 * its z time is then what this run computed plus what the cached z's took when they were
 * computed (recorded in each cache file), reported apart.
 * @returns the runs: edits, subjects, wall seconds, stage seconds (z, keys, solve), solvers, peak native MiB
 */
async function measureCostVsN({ repoRoot, modelDir, worldDir, corpusFile, sizes, docs, hparams, log, zCacheDir }) {
  const core = require(path.join(repoRoot, 'packages/core/dist/index.js'));
  const { MemitEditor } = require(path.join(repoRoot, 'packages/memit/dist/index.js'));
  const model = await core.loadModel(modelDir);
  const corpus = core.readCorpus(corpusFile);
  const cacheDir = path.join(os.tmpdir(), 'memit-stats');
  const requests = synthesiseRequests(repoRoot, Math.max(...sizes), worldDir);
  const stats = await core.computeLayerStats(model, { layers: hparams.layers, corpus, maxDocs: Math.min(docs, corpus.docs.length), cacheDir });
  const runs = [];
  for (const n of sizes) {
    const batch = requests.slice(0, n);
    log(`memit: one batch of ${n} edits (${new Set(batch.map((r) => r.subject)).size} subjects)`);
    const editor = new MemitEditor(hparams, { stats, zCacheDir });
    core.resetPeakMemory();
    const t0 = Date.now();
    const delta = await editor.edit(model, batch);
    const wallMs = Date.now() - t0;
    const s = delta.info.stats;
    const cached = s.zCache;
    runs.push({
      edits: n,
      subjects: new Set(batch.map((r) => r.subject)).size,
      wallSeconds: wallMs / 1000,
      editsPerSecond: n / (wallMs / 1000),
      stageSeconds: { z: s.timings.zMs / 1000, keys: s.timings.keysMs / 1000, solve: s.timings.solveMs / 1000, preparation: s.timings.statsMs / 1000 },
      ...(cached
        ? {
            zCache: { dir: cached.dir, hits: cached.hits, misses: cached.misses, untimedHits: cached.untimedHits },
            // z computed over every run: this run's (z above, cache reads included) and the hits' recorded time
            zComputeSecondsAllRuns: s.timings.zMs / 1000 + cached.hitComputeMs / 1000,
          }
        : {}),
      solvers: s.layers.map((l) => l.solver),
      zStepsMean: s.edits.reduce((a, e) => a + e.steps, 0) / n,
      peakNativeMiB: core.memory().peakBytes / 2 ** 20,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    });
    delta.dispose();
    editor.dispose();
  }
  for (const s of stats.values()) s.mom2Sum.dispose();
  model.dispose();
  return runs;
}

module.exports = {
  name: 'memit',
  description: 'MEMIT one-batch cost for N = 100, 1,000, 10,000 edits on fact-small (z vs keys vs solve, edits/s, peak memory)',
  synthesiseRequests,
  measureCostVsN,
  async run(ctx) {
    const fix = path.join(ctx.repoRoot, 'test-fixtures');
    const sizes = (process.env.MEDIT_BENCH_MEMIT_N ?? (ctx.quick ? '20,100' : '100,1000,10000')).split(',').map(Number);
    const docs = Number(process.env.MEDIT_BENCH_MEMIT_DOCS ?? 20000);
    const hparams = { layers: [0], mom2_n_samples: docs, ...JSON.parse(process.env.MEDIT_BENCH_MEMIT_HPARAMS ?? '{}') };
    const runs = await measureCostVsN({
      repoRoot: ctx.repoRoot,
      modelDir: path.join(fix, 'models/fact-small'),
      worldDir: path.join(fix, 'factworld'),
      corpusFile: path.join(fix, 'factworld/corpus/train-full.txt'),
      sizes,
      docs,
      hparams,
      log: ctx.log,
    });
    return { model: 'fact-small', hparams, statisticsDocs: docs, runs };
  },
};
