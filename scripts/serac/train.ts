/**
 * Trains SERAC's components on the fact world's train-split edits and writes the artefact
 * directory (JSON-lines progress on stdout):
 *
 *   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 node scripts/dist/serac/train.js \
 *     --model test-fixtures/models/fact-small --out test-fixtures/serac/fact-small \
 *     [--components scope-embedding,scope-cross,counterfactual] [--scope-steps N] [--cf-steps N]
 *     [--scope-lr X] [--scope-positives N] [--scope-rephrase-share F (of the positives, from rephrases)]
 *     [--scope-init DIR (a trained encoder to start the classifier from)]
 *     [--val-share F (training subjects held out from the classifier to choose its routing threshold)]
 *
 * Training data: test-fixtures/factworld/edits/{counterfact,zsre}-train.json (never the eval split).
 */
import { readDataset } from '@medit/data';
import { type SeracComponent, trainSerac } from '@medit/serac';
import { arg } from '../args';

async function main(): Promise<void> {
  const files = arg('data', 'test-fixtures/factworld/edits/counterfact-train.json,test-fixtures/factworld/edits/zsre-train.json').split(',');
  const cases = files.flatMap((f) => readDataset(f).cases);
  const components = arg('components', 'scope-embedding,scope-cross,counterfactual').split(',') as SeracComponent[];
  const every = Number(arg('log-every', '50'));
  const started = Date.now();
  console.log(JSON.stringify({ event: 'start', files, cases: cases.length, components }));
  await trainSerac({
    baseModel: arg('model'),
    cases,
    out: arg('out'),
    components,
    seed: Number(arg('seed', '0')),
    scope: {
      steps: Number(arg('scope-steps', '1500')),
      lr: Number(arg('scope-lr', '1e-3')),
      positives: Number(arg('scope-positives', '2')),
      rephraseShare: Number(arg('scope-rephrase-share', '0')),
    },
    scopeInit: process.argv.includes('--scope-init') ? arg('scope-init') : undefined,
    counterfactual: { steps: Number(arg('cf-steps', '1500')) },
    validationShare: Number(arg('val-share', '0')),
    onProgress: (p) => {
      if (p.done % every === 0 || p.done === p.total) console.log(JSON.stringify({ ...p, seconds: (Date.now() - started) / 1000 }));
    },
  });
  console.log(JSON.stringify({ event: 'done', seconds: (Date.now() - started) / 1000 }));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exitCode = 1;
});
