/**
 * Evaluates SERAC on the fact world's eval split with the metrics harness and writes the report
 * (JSON + HTML); one JSON line per stage on stdout:
 *
 *   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 node scripts/dist/serac/eval.js \
 *     --serac test-fixtures/serac/fact-small --model test-fixtures/models/fact-small \
 *     --data test-fixtures/factworld/edits/counterfact-eval.json --mode single|batch [--batch-size 500] \
 *     [--classifier scope-embedding|scope-cross] [--encoder PATH] [--limit N] --out bench/reports/NAME
 *
 * `--mode batch --batch-size 500` puts every case of the split in one memory and measures each
 * case with all of them present (routing must pick the right edit among 500).
 *
 * IKE: `--method ike --k 8 [--pool FILE] [--encoder DIR|FILE.onnx]` (pool default: the CounterFact
 * train split; encoder default: SERAC's embedding classifier; the plain template in the fact world,
 * whose vocabulary has no "Fact", "Prompt" or newline tokens).
 */
import * as fs from 'node:fs';

import { loadModel } from '@medit/core';
import { readDataset } from '@medit/data';
import { type EvalMode, evaluate, renderHtmlReport } from '@medit/metrics';
import { type Editor } from '@medit/core';
import { IkeEditor, ikePool, ikeTemplateFor, loadTextEncoder, Serac, SeracEditor } from '@medit/serac';
import { arg } from '../args';

async function main(): Promise<void> {
  const started = Date.now();
  const model = await loadModel(arg('model', 'test-fixtures/models/fact-small'));
  const method = arg('method', 'serac');
  let editor: Editor;
  let name: string;
  let dispose: () => void;
  const mode = arg('mode', 'single') as EvalMode;
  const batchSize = Number(arg('batch-size', '1'));
  if (method === 'ike') {
    const encoder = await loadTextEncoder(arg('encoder', 'test-fixtures/serac/fact-small/scope-embedding'));
    const pool = ikePool(readDataset(arg('pool', 'test-fixtures/factworld/edits/counterfact-train.json')).cases);
    const k = Number(arg('k', '8'));
    const template = ikeTemplateFor(model.tokenizer!);
    editor = new IkeEditor({ pool, encoder, k, template });
    name = `IKE (k = ${k})`;
    dispose = () => encoder.dispose();
  } else {
    const serac = await Serac.load(arg('serac', 'test-fixtures/serac/fact-small'), {
      classifier: arg('classifier', 'scope-embedding') as 'scope-embedding' | 'scope-cross',
      encoder: process.argv.includes('--encoder') ? arg('encoder') : undefined,
    });
    editor = new SeracEditor(serac);
    name = `SERAC (${serac.classifierName.replace('scope-', '')}${mode === 'batch' ? `, ${batchSize} edits in memory` : ''})`;
    dispose = () => serac.dispose();
  }
  const dataFile = arg('data', 'test-fixtures/factworld/edits/counterfact-eval.json');
  const limit = Number(arg('limit', '0'));
  const all = readDataset(dataFile).cases;
  const cases = limit > 0 ? all.slice(0, limit) : all;
  // Keep each delta's counters (SERAC routing, IKE demonstrations used) for the summary line.
  const counters: Record<string, number>[] = [];
  const inner = editor;
  const counting: Editor = {
    name: inner.name,
    hparams: inner.hparams,
    edit: async (m, requests, o) => {
      const d = await inner.edit(m, requests, o);
      const c = (d as unknown as { routing?: Record<string, number>; usage?: Record<string, number> }).routing ?? (d as unknown as { usage?: Record<string, number> }).usage;
      if (c) counters.push(c);
      return d;
    },
  };
  let last = 0;
  const report = await evaluate({
    editor: counting,
    model,
    cases,
    mode,
    batchSize,
    methodName: name,
    modelName: 'fact-small',
    onProgress: (p) => {
      if (Date.now() - last > 30000 || p.done === p.total) {
        last = Date.now();
        console.log(JSON.stringify({ stage: p.stage, done: p.done, total: p.total, seconds: (Date.now() - started) / 1000 }));
      }
    },
  });
  const out = arg('out');
  fs.writeFileSync(`${out}.json`, JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(`${out}.html`, renderHtmlReport(report));
  for (const m of report.methods) console.log(JSON.stringify({ method: m.name, aggregates: Object.fromEntries(Object.entries(m.aggregates).map(([k, a]) => [k, a.mean])) }));
  const totals: Record<string, number> = {};
  for (const c of counters) for (const [k, v] of Object.entries(c)) totals[k] = (totals[k] ?? 0) + v;
  console.log(JSON.stringify({ counters: totals }));
  console.log(JSON.stringify({ event: 'done', seconds: (Date.now() - started) / 1000 }));
  dispose();
  model.dispose();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exitCode = 1;
});
