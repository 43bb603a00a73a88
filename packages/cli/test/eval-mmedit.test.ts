/**
 * `medit eval --suites mmedit`: MMEdit records × a method on the image world's VLM, written as a
 * valid EvalReport and an HTML page with thumbnails of the edited and rephrased images.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { validateEvalReport } from '@medit/metrics';

import { ROOT, runCli } from './helpers/run';

const MODEL = path.join(ROOT, 'test-fixtures/models/image-vlm');
const DATASET = path.join(ROOT, 'test-fixtures/imageworld/edits/vqa-eval.json');
const MEND = path.join(ROOT, 'test-fixtures/editors/mend-image-vlm.safetensors');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-mmedit-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('eval --suites mmedit --method mend writes the five MMEdit metrics and a gallery', async () => {
  const out = path.join(tmp, 'vqa');
  const r = await runCli(['eval', '--suites', 'mmedit', '--model', MODEL, '--dataset', DATASET, '--method', 'mend', '--editor', MEND, '--limit', '2', '--out', out, '--json']);
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ cases: 2, suite: 'mmedit', method: 'mend', report: `${out}.json`, html: `${out}.html` });
  const report = validateEvalReport(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')));
  expect(report.methods.map((m) => m.name)).toEqual(['unedited', 'MEND']);
  expect(Object.keys(report.methods[1].aggregates).sort()).toEqual(['mGenerality', 'mLocality', 'reliability', 'tGenerality', 'tLocality']);
  expect(report.methods[0].aggregates.reliability.mean).toBe(0);
  const html = fs.readFileSync(`${out}.html`, 'utf8');
  expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(6);
  expect(html).toContain('rephrased image');
});

test('mmedit runs single teacher-forced edits: other protocols are usage errors', async () => {
  const r = await runCli(['eval', '--suites', 'mmedit', '--model', MODEL, '--dataset', DATASET, '--method', 'none', '--mode', 'batch']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/--mode does not apply to --suites mmedit/);
  const mixed = await runCli(['eval', '--suites', 'mmedit,easyedit', '--model', MODEL, '--dataset', DATASET]);
  expect(mixed.stderr).toMatch(/cannot be combined with other suites/);
});
