'use strict';
/**
 * ROME on the shipped fact-world model: covariance statistics throughput (tokens/s over the
 * first mom2_n_samples lines of the world's training corpus) and milliseconds per edit, split
 * into the key (k̄ and u = C⁻¹k̄), the v* optimisation (with its step count) and the rank-one
 * update, over the first CounterFact eval cases. Uses fact-small when present, else fact-tiny.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

module.exports = {
  name: 'rome',
  description: 'ROME ms per edit (k*, v* steps, update) and covariance tokens/s on the fact-world model',
  async run(ctx) {
    const core = require(path.join(ctx.repoRoot, 'packages/core/dist/index.js'));
    const { RomeEditor } = require(path.join(ctx.repoRoot, 'packages/rome/dist/index.js'));
    const { readDataset } = require(path.join(ctx.repoRoot, 'packages/data/dist/index.js'));
    const fix = path.join(ctx.repoRoot, 'test-fixtures');
    const name = fs.existsSync(path.join(fix, 'models/fact-small/config.json')) ? 'fact-small' : 'fact-tiny';
    const model = await core.loadModel(path.join(fix, 'models', name));
    const editsDir = name === 'fact-small' ? 'edits' : 'edits-tiny';
    const cases = (await readDataset(path.join(fix, 'factworld', editsDir, 'counterfact-eval.json'))).cases.slice(0, ctx.quick ? 2 : 8);
    const corpus = core.readCorpus(path.join(fix, 'factworld/corpus', name === 'fact-small' ? 'train-full.txt' : 'train-tiny.txt'));
    const editor = new RomeEditor({});
    const hp = editor.resolve(model);
    ctx.log(`rome: covariance of layer ${hp.layers[0]} on ${name}`);
    let tokensPerSecond = 0;
    const t0 = Date.now();
    const stats = await core.computeLayerStats(model, { layers: hp.layers, corpus, maxDocs: hp.mom2_n_samples, onProgress: (p) => (tokensPerSecond = p.tokensPerSecond) });
    const statsSeconds = (Date.now() - t0) / 1000;
    const layerStats = stats.get(hp.layers[0]);
    const timed = new RomeEditor({}, { stats });
    const edits = [];
    for (const c of cases) {
      const t = Date.now();
      const delta = await timed.edit(model, [c.request]);
      const s = delta.info.stats.edits[0];
      edits.push({ totalMs: Date.now() - t, ...s.timings, vSteps: s.trace.length, divisionFactor: s.divisionFactor });
      delta.dispose();
    }
    timed.dispose();
    layerStats.mom2Sum.dispose();
    model.dispose();
    const mean = (k) => edits.reduce((a, e) => a + e[k], 0) / edits.length;
    return {
      model: name,
      layer: hp.layers[0],
      covariance: { tokens: layerStats.count, seconds: statsSeconds, tokensPerSecond },
      edits: edits.length,
      meanMs: { total: mean('totalMs'), key: mean('keyMs'), target: mean('targetMs'), update: mean('updateMs') },
      meanVSteps: mean('vSteps'),
      perEdit: edits,
    };
  },
};
