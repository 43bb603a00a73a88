/**
 * The EasyEdit-shaped API and `medit eval` give the same numbers: the same three KnowEdit cases
 * of fact-small, the same method and the same hyperparameter file (test-fixtures/easyedit/
 * fact-small/ROME.yaml, which `medit eval --hparams` reads too; MEND with the shipped editor).
 * `medit eval` reports per case rewriteAcc, rephraseAcc, locality and portability; the API's
 * EasyEdit dicts hold the same quantities per prompt (rewrite_acc[0], the means of
 * rephrase_acc, of locality <kind>_acc and of portability <kind>_acc), and with generation the
 * same fluency (EasyEdit's test_generation, medit eval --generation).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { main } from '@medit/cli';
import { loadModel } from '@medit/core';

import { BaseEditor } from '../src';
import { FIX, KNOWEDIT_ZSRE, MODEL, PATHS, ROOT, knowEditArgs } from './helpers';

const CASES = 3;
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-easyedit-eval-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** `medit eval`'s per-case rows for `args`, on the first CASES cases. */
async function evalRows(args: string[]): Promise<Record<string, number | null>[]> {
  let stderr = '';
  const out = path.join(tmp, args.join('-').replace(/[^a-z]+/gi, '_'));
  const code = await main(['eval', '--model', MODEL, '--dataset', KNOWEDIT_ZSRE, '--limit', String(CASES), ...args, '--out', out], {
    stdout: { write: () => true },
    stderr: { write: (s: string) => (stderr += s) },
    env: { HOME: '/nonexistent-home' },
    cwd: ROOT,
  });
  if (code !== 0) throw new Error(`medit eval exited ${code}: ${stderr}`);
  const report = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
  return report.methods[1].rows.map((r: { metrics: Record<string, number | null> }) => r.metrics);
}

test.each([
  // ROME with generated text too: EasyEdit's test_generation fluency against medit eval --generation.
  ['ROME.yaml', ['--method', 'rome', '--hparams', path.join(FIX, 'ROME.yaml'), '--generation'], true],
  ['MEND.yaml', ['--method', 'mend', '--editor', path.join(ROOT, 'test-fixtures/editors/mend-fact-small.safetensors')], false],
] as const)('%s: BaseEditor.edit and medit eval agree case by case', async (file, cliArgs, generation) => {
  const rows = await evalRows([...cliArgs]);
  const model = await loadModel(MODEL);
  const editor = await BaseEditor.fromHparams(path.join(FIX, file), { model, pathsFile: PATHS });
  try {
    const { metrics, delta } = await editor.edit({ ...knowEditArgs(CASES), test_generation: generation });
    for (const d of delta) d.dispose();
    expect(rows).toHaveLength(CASES);
    metrics.forEach((m, i) => {
      const api = {
        rewriteAcc: m.post.rewrite_acc[0],
        rephraseAcc: mean(m.post.rephrase_acc!),
        locality: mean(m.post.locality.Relation_Specificity_acc as number[]),
        portability: mean(m.post.portability.Reasoning_acc),
        ...(generation ? { fluency: m.post.fluency!.ngram_entropy } : {}),
      };
      expect(rows[i]).toMatchObject(api);
      expect(m.pre.fluency === undefined).toBe(!generation);
    });
    // Not a vacuous agreement: the edits changed the answers.
    expect(metrics.some((m) => m.post.rewrite_acc[0] !== m.pre.rewrite_acc[0])).toBe(true);
  } finally {
    editor.dispose();
    model.dispose();
  }
});
