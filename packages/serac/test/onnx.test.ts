/**
 * @jest-environment ./packages/onnx/test/helpers/host-typed-arrays-env.js
 */
/**
 * The ONNX encoder path (onnxruntime-node) against the engine path: the trained scope classifiers'
 * BERT encoders are exported by medit's own ONNX exporter (@medit/onnx), and SERAC loaded with
 * either backend makes the same routing decisions on a shared test set of eval-split queries.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { fillTemplate, loadEncoder } from '@medit/core';
import { readDataset } from '@medit/data';
import { bertToOnnx } from '@medit/onnx';

import { editStatement, embedTexts, loadTextEncoder, ScopeClassifier, readScopeConfig } from '../src';

const ROOT = path.resolve(__dirname, '../../..');
const ART = path.join(ROOT, 'test-fixtures/serac/fact-small');
const CASES = readDataset(path.join(ROOT, 'test-fixtures/factworld/edits/counterfact-eval.json')).cases.slice(0, 12);

const statements = CASES.map((c) => editStatement(c.request));
// The shared test set: each case's rewrite, rephrases and two neighbourhood prompts, some followed by an object.
const queries = CASES.flatMap((c) => [
  fillTemplate(c.request.prompt, c.request.subject),
  ...c.rephrasePrompts,
  `${c.rephrasePrompts[0]} ${c.request.targetNew}`,
  ...c.localityPrompts.slice(0, 2).map((p) => p.prompt),
  `${c.localityPrompts[0].prompt} ${c.localityPrompts[0].answer}`,
]);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serac-onnx-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Copies a classifier directory and adds its ONNX export. */
async function withOnnx(name: string): Promise<string> {
  const src = path.join(ART, name);
  const out = path.join(dir, name);
  fs.mkdirSync(out);
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(out, f));
  const bert = await loadEncoder(src);
  try {
    const bytes = bertToOnnx(bert);
    expect(bertToOnnx(bert).equals(bytes)).toBe(true); // deterministic
    fs.writeFileSync(path.join(out, 'model.onnx'), bytes);
  } finally {
    bert.dispose();
  }
  return out;
}

test.each(['scope-embedding', 'scope-cross'])('%s: onnxruntime and the engine route the shared test set identically', async (name) => {
  const clsDir = await withOnnx(name);
  const config = readScopeConfig(path.join(clsDir, 'scope.json'));
  const engine = await loadTextEncoder(clsDir, { pooling: config.pooling });
  const onnx = await loadTextEncoder(path.join(clsDir, 'model.onnx'), { pooling: config.pooling });
  try {
    expect([engine.backend, onnx.backend]).toEqual(['engine', 'onnx']);
    // same sentence vectors (float32 round-off only), padding included
    const a = embedTexts(engine, queries.slice(0, 8));
    const b = embedTexts(onnx, queries.slice(0, 8));
    a.forEach((v, i) => v.forEach((x, j) => expect(Math.abs(x - b[i][j])).toBeLessThan(1e-4)));
    const ce = new ScopeClassifier(engine, config);
    const co = new ScopeClassifier(onnx, config);
    const de = ce.decide(statements, ce.contextVectors(statements), queries);
    const dO = co.decide(statements, co.contextVectors(statements), queries);
    const threshold = config.threshold ?? 0.5;
    const routeE = de.map((d) => (d.score > threshold ? d.index : -1));
    const routeO = dO.map((d) => (d.score > threshold ? d.index : -1));
    expect(routeO).toEqual(routeE);
    de.forEach((d, i) => expect(Math.abs(d.score - dO[i].score)).toBeLessThan(1e-3));
    // the test set exercises both outcomes
    expect(routeE.filter((r) => r >= 0).length).toBeGreaterThan(10);
    expect(routeE.filter((r) => r < 0).length).toBeGreaterThan(10);
  } finally {
    engine.dispose();
    onnx.dispose();
  }
});

test('loadTextEncoder picks the backend from the path and explains a missing model', async () => {
  await expect(loadTextEncoder(path.join(dir, 'nothing-here'))).rejects.toThrow(/no such encoder/);
  const clsDir = path.join(ART, 'scope-embedding');
  await expect(loadTextEncoder(clsDir, { backend: 'onnx' })).rejects.toThrow(/no \.onnx model/);
});
