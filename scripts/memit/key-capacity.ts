/**
 * How much room one MEMIT batch has at a layer, before any z is optimised (bench/RESULTS.md,
 * "Session 7"). For the distinct subjects of the full runs' first `--n` edits (raw prompts,
 * keys K [n, F] at each token strategy) and A = K(λC + KᵀK)⁻¹ (the solve's adjusted keys):
 * - realised share: the mean diagonal of the hat matrix A Kᵀ (the part of each residual
 *   the update reproduces at its own key; 1 = all of it);
 * - leak: for each neighbourhood prompt whose subject is not edited, ‖A k_n‖ (the weight
 *   with which the batch's residuals land on that prompt's key; 1 ≈ a whole edit's worth).
 *
 *   npx tsc -b scripts
 *   node scripts/dist/memit/key-capacity.js --layers 0,1,2 [--model DIR] [--n 1000] [--lambdas 3,30,300]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type FactToken, cholesky, choleskySolve, computeLayerStats, gemmInplace, loadModel, matmul, mulScalar, readCorpus, tidy, transpose } from '@medit/core';
import { type KeyRequest, computeKeys, uniquePrefixTokens } from '@medit/memit';

import { arg } from '../args';
import { fullCases } from './full-runs';

const ROOT = path.resolve(process.env.MEDIT_ROOT ?? process.cwd());
const FIX = path.join(ROOT, 'test-fixtures');

async function main(): Promise<void> {
  const modelDir = path.resolve(ROOT, arg('model', path.join(FIX, 'models/fact-small')));
  const n = Number(arg('n', '1000'));
  const layers = arg('layers', '0').split(',').map(Number);
  const lambdas = arg('lambdas', '3,30,300').split(',').map(Number);
  const model = await loadModel(modelDir);
  const tok = model.tokenizer!;
  const cases = fullCases(n);
  const edited = new Map<string, KeyRequest>();
  for (const c of cases) if (!edited.has(c.request.subject)) edited.set(c.request.subject, { prompt: c.request.prompt, subject: c.request.subject });
  const subjects = [...edited.values()];
  // Neighbourhood prompts name a subject of the world that the batch does not edit.
  const world = JSON.parse(fs.readFileSync(path.join(FIX, 'factworld/world.json'), 'utf8')) as { subjectCount: number; entities: { name: string }[] };
  const names = world.entities.slice(0, world.subjectCount).map((e) => e.name);
  const neighbours: KeyRequest[] = [];
  for (const c of cases) {
    for (const { prompt: p } of c.localityPrompts) {
      const s = names.filter((x) => p.includes(x)).sort((a, b) => b.length - a.length)[0];
      if (s && !edited.has(s)) neighbours.push({ prompt: p.replace(s, '{}'), subject: s });
    }
  }
  const stats = await computeLayerStats(model, {
    layers,
    corpus: readCorpus(path.join(FIX, 'factworld/corpus/train-full.txt')),
    maxDocs: 20000,
    cacheDir: path.join(os.tmpdir(), 'memit-stats'),
  });
  const unique = uniquePrefixTokens(tok, subjects);
  // A neighbour's key under subject_unique: its first token not shared with an edited subject
  // (per subject: the offset counts trimmed tokens, so it does not depend on the prompt).
  const offsetOf = new Map<string, number>();
  const neighbourUnique = neighbours.map((r) => {
    if (!offsetOf.has(r.subject)) offsetOf.set(r.subject, uniquePrefixTokens(tok, [r, ...subjects])[0]);
    return offsetOf.get(r.subject)!;
  });
  const strategies: [string, (i: number) => FactToken, (i: number) => FactToken][] = [
    ['subject_first', () => 'subject_first', () => 'subject_first'],
    ['subject_last', () => 'subject_last', () => 'subject_last'],
    ['subject_unique', (i) => unique[i], (i) => neighbourUnique[i]],
  ];
  for (const layer of layers) {
    const C = stats.get(layer)!.mean();
    for (const [name, own, other] of strategies) {
      const K = computeKeys(model, layer, [['{}']], subjects.map((r, i) => ({ ...r, factToken: own(i) })), 'subject_last').keys;
      const KN = computeKeys(model, layer, [['{}']], neighbours.map((r, i) => ({ ...r, factToken: other(i) })), 'subject_last').keys;
      for (const lambda of lambdas) {
        tidy(() => {
          const G = mulScalar(C, lambda);
          gemmInplace(G, K, K, { transA: true });
          const A = transpose(choleskySolve(cholesky(G), transpose(K)));
          const m = K.shape[0];
          const hat = matmul(A, K, { transB: true }).data() as Float64Array;
          let realised = 0;
          for (let i = 0; i < m; i++) realised += hat[i * m + i];
          const leakRows = matmul(KN, A, { transB: true }).data() as Float64Array;
          let leak = 0;
          for (let j = 0; j < KN.shape[0]; j++) {
            let q = 0;
            for (let i = 0; i < m; i++) q += leakRows[j * m + i] ** 2;
            leak += Math.sqrt(q);
          }
          console.log(JSON.stringify({ layer, token: name, lambda, subjects: m, neighbours: KN.shape[0], realisedShare: +(realised / m).toFixed(3), leak: +(leak / KN.shape[0]).toFixed(3) }));
        });
      }
      K.dispose();
      KN.dispose();
    }
    C.dispose();
  }
  model.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
