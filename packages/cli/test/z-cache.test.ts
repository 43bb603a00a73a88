/**
 * `--z-cache DIR` (MEMIT, EMMET, AlphaEdit): `medit eval` run twice computes its target vectors
 * once and reads them the second time (same report), saying so on stdout and in the JSON result;
 * `medit edit` reports the cache in its progress and result; `medit tune` over λ computes z at
 * its first point only; other methods refuse the flag. On the HF parity model, fast settings.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { FIX, PARITY_MODEL, ROOT, runCli } from './helpers/run';

const FILLER = path.join(ROOT, 'test-fixtures/factworld/filler.txt');
const DATASET = path.join(FIX, 'counterfact-parity.json');
const MASS = { v_num_grad_steps: 3, context_template_length_params: [[5, 1]], mom2_n_samples: 300 };

let tmp: string;
let hparams: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-zcache-'));
  hparams = path.join(tmp, 'memit.json');
  fs.writeFileSync(hparams, JSON.stringify(MASS));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const covariance = () => ['--stats-corpus', FILLER, '--stats-cache', path.join(tmp, 'stats')];

test('eval --z-cache: the second run reads every z and reports the same numbers', async () => {
  const cache = path.join(tmp, 'z-eval');
  const run = (name: string, json: boolean) =>
    runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', 'memit', '--mode', 'batch', '--hparams', hparams, ...covariance(), '--z-cache', cache, '--out', path.join(tmp, name), ...(json ? ['--json'] : [])]);
  const first = await run('first', true);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(first.result).toMatchObject({ method: 'memit', zCache: { dir: cache, hits: 0, misses: 2 } });
  expect(fs.readdirSync(cache).filter((f) => f.endsWith('.safetensors')).length).toBeGreaterThan(0);
  const second = await run('second', false);
  expect(second.code).toBe(0);
  expect(second.stdout).toContain(`z cache ${cache}: 2 of 2 target vectors read, 0 computed`);
  const report = (name: string) => JSON.parse(fs.readFileSync(path.join(tmp, `${name}.json`), 'utf8')).methods[1];
  const strip = (m: { aggregates: Record<string, { mean: number | null }> }) => Object.fromEntries(Object.entries(m.aggregates).map(([k, a]) => [k, a.mean]));
  const a = report('first');
  const b = report('second');
  expect(Object.keys(strip(a)).length).toBeGreaterThan(0);
  expect(strip(b)).toEqual(strip(a));
  expect(a.rows).toHaveLength(2);
  expect(b.rows).toEqual(a.rows);
});

test('edit --z-cache: progress and result say how many z were read', async () => {
  const cache = path.join(tmp, 'z-edit');
  const args = ['edit', '--model', PARITY_MODEL, '--prompt', 'The {} is located in', '--subject', 'Eiffel Tower', '--target', 'Tokyo', '--method', 'memit', '--hparams', hparams, ...covariance(), '--z-cache', cache, '--json'];
  const first = await runCli(args);
  expect(first.code).toBe(0);
  expect(first.result).toMatchObject({ zCache: { dir: cache, hits: 0, misses: 1 } });
  const second = await runCli(args, { env: { MEDIT_PROGRESS_SECONDS: '0' } });
  expect(second.code).toBe(0);
  expect(second.result).toMatchObject({ zCache: { dir: cache, hits: 1, misses: 0 } });
  expect(second.lines).toContainEqual(expect.objectContaining({ type: 'progress', stage: 'MEMIT z', zCacheHits: 1, zCacheMisses: 0 }));
  expect(second.result!.edits).toEqual(first.result!.edits);
});

test('tune --z-cache over λ: z computed at the first point, read at the others', async () => {
  const validation = path.join(tmp, 'counterfact-validation.json');
  fs.copyFileSync(DATASET, validation);
  const grid = path.join(tmp, 'grid.json');
  fs.writeFileSync(grid, JSON.stringify({ mom2_update_weight: [500, 2000, 8000] }));
  const cache = path.join(tmp, 'z-tune');
  const r = await runCli(['tune', '--method', 'memit', '--model', PARITY_MODEL, '--dataset', validation, '--mode', 'batch', '--hparams', hparams, ...covariance(), '--grid', grid, '--z-cache', cache, '--out', path.join(tmp, 'tuned.json')]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const points = r.stdout.split('\n').filter((l) => l.startsWith('point '));
  expect(points).toHaveLength(3);
  expect(points[0]).toContain('0 of 2 target vectors read, 2 computed');
  expect(points[1]).toContain('2 of 2 target vectors read, 0 computed');
  expect(points[2]).toContain('2 of 2 target vectors read, 0 computed');
});

test('--z-cache belongs to the MEMIT family', async () => {
  const r = await runCli(['edit', '--model', PARITY_MODEL, '--prompt', 'The {} is located in', '--subject', 'Eiffel Tower', '--target', 'Tokyo', '--method', 'rome', '--no-covariance', '--z-cache', path.join(tmp, 'z-rome')]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('--z-cache applies to --method memit, emmet, alphaedit');
  expect(fs.existsSync(path.join(tmp, 'z-rome'))).toBe(false);
});
