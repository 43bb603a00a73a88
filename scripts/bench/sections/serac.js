'use strict';
/**
 * SERAC on fact-small: per-query latency of the routed forward with 10, 100 and 1,000 edits in
 * the memory (one query row, prompt + target, as the metrics harness scores it), for an in-scope
 * query (classifier + counterfactual model) and an out-of-scope one (classifier + base model),
 * next to the unedited forward; plus the time to build the memory (the embedding classifier
 * encodes each edit statement once). Embedding classifier by default; the cross-encoder needs one
 * encoder pass per memory entry and query, so it is timed up to 100 edits.
 * Needs the trained artefacts in test-fixtures/serac/fact-small (medit train serac).
 */
const fs = require('node:fs');
const path = require('node:path');
const { measure } = require('../lib');

module.exports = {
  name: 'serac',
  description: 'SERAC per-query latency with 10 / 100 / 1,000 edits in memory (fact-small)',
  async run(ctx) {
    const core = require(path.join(ctx.repoRoot, 'packages/core/dist/index.js'));
    const { readDataset } = require(path.join(ctx.repoRoot, 'packages/data/dist/index.js'));
    const { Serac, SeracEditor } = require(path.join(ctx.repoRoot, 'packages/serac/dist/index.js'));
    const fix = path.join(ctx.repoRoot, 'test-fixtures');
    const model = await core.loadModel(path.join(fix, 'models/fact-small'));
    const tok = model.tokenizer;
    const cases = ['counterfact-eval', 'counterfact-train', 'zsre-eval', 'zsre-train'].flatMap((f) => readDataset(path.join(fix, 'factworld/edits', `${f}.json`)).cases);
    const requests = cases.map((c) => ({ prompt: c.request.prompt, subject: c.request.subject, targetNew: c.request.targetNew }));
    const probe = cases[0];
    const row = (prompt, target) => [...tok.encode(prompt), ...core.targetIds(tok, target)];
    const inScope = row(core.fillTemplate(probe.request.prompt, probe.request.subject), probe.request.targetNew);
    const outScope = row(probe.localityPrompts[0].prompt, probe.localityPrompts[0].answer);
    const forward = (ids) => core.noGrad(() => core.tidy(() => void model.forward([ids]).logits.data()));
    const reps = ctx.quick ? 3 : ctx.reps;
    const opts = { reps, warmup: 1, minSampleMs: ctx.quick ? 10 : 50 };
    const result = { model: 'fact-small', memorySizes: {}, unedited: { queryMs: measure(() => forward(outScope), opts).medianMs } };
    for (const classifier of ['scope-embedding', 'scope-cross']) {
      if (!fs.existsSync(path.join(fix, 'serac/fact-small', classifier))) continue;
      const serac = await Serac.load(path.join(fix, 'serac/fact-small'), { classifier });
      const editor = new SeracEditor(serac);
      const sizes = classifier === 'scope-embedding' ? (ctx.quick ? [10, 100] : [10, 100, 1000]) : [10, 100];
      const rows = {};
      for (const n of sizes) {
        ctx.log(`serac: ${classifier}, ${n} edits in memory`);
        const t0 = Date.now();
        const delta = await editor.edit(model, requests.slice(0, n));
        const buildMs = Date.now() - t0;
        delta.apply(model);
        const inMs = measure(() => forward(inScope), opts).medianMs;
        const inRouted = delta.routing.routed === delta.routing.rows;
        const before = delta.routing.routed;
        const outMs = measure(() => forward(outScope), opts).medianMs;
        const outRouted = delta.routing.routed > before;
        delta.revert(model);
        delta.dispose();
        rows[n] = { buildMs, inScopeQueryMs: inMs, outOfScopeQueryMs: outMs, inScopeRouted: inRouted, outOfScopeRouted: outRouted };
      }
      const big = Math.max(...sizes);
      rows.ratio = {
        [`inScope${big}Over10`]: rows[big].inScopeQueryMs / rows[10].inScopeQueryMs,
        [`outOfScope${big}Over10`]: rows[big].outOfScopeQueryMs / rows[10].outOfScopeQueryMs,
      };
      result.memorySizes[classifier] = rows;
      serac.dispose();
    }
    model.dispose();
    return result;
  },
};
