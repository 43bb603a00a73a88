/**
 * The knowledge-neuron erasure experiment (Dai et al. 2022 §5.2; issue 11) on a fact-world model,
 * for every subject relation and several numbers of erased neurons: each relation's knowledge
 * neurons are found once (integrated gradients over its facts' training phrasings) and the
 * top-k most frequent are erased for each k. Writes one JSON report:
 *
 *   OMP_NUM_THREADS=1 node scripts/dist/kn/erasure.js --model test-fixtures/models/fact-small \
 *     --out bench/reports/kn-erasure-fact-small.json [--top-k 20,30,50] [--facts 20] [--relations P27,P103]
 *
 * Progress goes to stderr; the world is `test-fixtures/factworld` (world.json, templates.json) and
 * the facts are those the model answers (`answers.json` of its directory).
 */
import * as path from 'node:path';

import { loadModel, writeFileAtomic } from '@medit/core';
import { factWorldRelations, measureErasure, rankRelationNeurons } from '@medit/kn';

import { arg } from '../args';

async function main(): Promise<void> {
  const modelDir = arg('model', 'test-fixtures/models/fact-small');
  const world = arg('world', 'test-fixtures/factworld');
  const topKs = arg('top-k', '20,30,50').split(',').map(Number);
  const perRelation = Number(arg('facts', '20'));
  const out = arg('out');
  const model = await loadModel(modelDir);
  const relations = factWorldRelations(path.join(world, 'world.json'), path.join(world, 'templates.json'), {
    answersFile: path.join(modelDir, 'answers.json'),
    maxFactsPerRelation: perRelation,
  });
  const wanted = process.argv.includes('--relations') ? arg('relations').split(',') : relations.map((r) => r.relation);
  const started = Date.now();
  const results = [];
  for (const rel of wanted) {
    const facts = relations.find((r) => r.relation === rel)?.facts;
    if (!facts) throw new Error(`--relations: ${rel} is not a subject relation of ${world}`);
    const ranked = rankRelationNeurons(model, facts);
    for (const k of topKs) {
      const r = measureErasure(model, relations, rel, ranked.slice(0, k));
      const others = r.perplexity.filter((p) => p.relation !== rel);
      results.push({
        relation: rel,
        topK: k,
        erasedRatio: r.erasedRatio,
        maxOtherChange: r.maxOtherChange,
        meanOtherChange: others.reduce((s, p) => s + (p.ratio - 1), 0) / others.length,
        passes: r.passes,
        neuronsByLayer: r.neurons.reduce((acc, n) => ((acc[n.layer] = (acc[n.layer] ?? 0) + 1), acc), {} as Record<number, number>),
        perplexity: r.perplexity,
      });
      process.stderr.write(`${rel} top-${k}: ×${r.erasedRatio.toFixed(2)}, others ≤ ${(100 * r.maxOtherChange).toFixed(1)} % (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    }
  }
  model.dispose();
  const report = { format: 'medit-kn-erasure/1', model: modelDir, factsPerRelation: perRelation, topK: topKs, criteria: { minRatio: 2, maxOtherChange: 0.1 }, seconds: (Date.now() - started) / 1000, results };
  writeFileAtomic(out, JSON.stringify(report, null, 2) + '\n');
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exitCode = 1;
});
