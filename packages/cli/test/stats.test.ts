/**
 * `medit stats`: covariance statistics over the fact world's filler text with the parity
 * model: JSON progress and result, the cache (second run is a hit, `medit edit` reuses it),
 * Ctrl-C in a real child process (exit 130, resumable, the resumed matrix equals an
 * uninterrupted run's), and the "statistics missing for this layer" error.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadStatsFile } from '@medit/core';

import { PARITY_MODEL, runCli, spawnCli } from './helpers/run';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-stats-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const DOCS = '600';

test('stats --json streams progress and a result; the second run is a cache hit', async () => {
  const cache = path.join(tmp, 'a');
  const r = await runCli(['stats', '--model', PARITY_MODEL, '--layers', '0,1', '--max-docs', DOCS, '--cache', cache, '--json']);
  expect(r.code).toBe(0);
  const progress = r.lines.filter((l) => l.type === 'progress');
  expect(progress.length).toBeGreaterThan(0);
  expect(progress[progress.length - 1]).toMatchObject({ done: 600, total: 600, docs: 600 });
  const res = r.result!;
  expect(res).toMatchObject({ corpus: 'test-fixtures/factworld/filler.txt', docs: 600, cached: false });
  expect(res.tokens).toBeGreaterThan(600);
  expect(res.tokensPerSecond).toBeGreaterThan(0);
  for (const [i, l] of [0, 1].entries()) {
    expect(res.layers[i].layer).toBe(l);
    const s = await loadStatsFile(res.layers[i].file);
    expect([s.layer, s.count]).toEqual([l, res.tokens]);
    s.mom2Sum.dispose();
  }
  const again = await runCli(['stats', '--model', PARITY_MODEL, '--layers', '0,1', '--max-docs', DOCS, '--cache', cache]);
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(/^cached  [\d,]+ tokens \(computed earlier\)$/m);
  expect(again.stderr).toBe(''); // no progress bar when stderr is not a terminal
});

test('a progress bar is drawn on stderr only when it is a terminal', async () => {
  const r = await runCli(['stats', '--model', PARITY_MODEL, '--layers', '1', '--max-docs', '50', '--cache', path.join(tmp, 'tty')], { tty: true });
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/covariance \(layer 1\) .*100% 50\/50 · [\d.]+ m?s · [\d,]+ tokens · [\d,]+ tok\/s/);
});

test('edit reuses the cached statistics; --stats-file of another layer is refused naming the layer', async () => {
  const cache = path.join(tmp, 'a');
  const hp = path.join(tmp, 'hp.json');
  fs.writeFileSync(hp, JSON.stringify({ layers: [0], v_num_grad_steps: 2, context_template_length_params: [[5, 1]], mom2_n_samples: Number(DOCS) }));
  const edit = ['edit', '--model', PARITY_MODEL, '--prompt', 'The {} is located in', '--subject', 'Eiffel Tower', '--target', 'Tokyo', '--hparams', hp];
  const r = await runCli([...edit, '--stats-cache', cache, '--json']);
  expect(r.code).toBe(0);
  expect(r.result!.covariance).toMatchObject({ corpus: 'test-fixtures/factworld/filler.txt', cached: true });

  const layer1 = fs.readdirSync(cache).find((f) => f.endsWith('-layer1.safetensors'))!;
  const wrong = await runCli([...edit, '--stats-file', path.join(cache, layer1)]);
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toMatch(/covariance statistics are missing for layer 0, the layer ROME edits: .* holds layer 1/);
});

test('Ctrl-C stops a stats job with exit code 130 and a resume hint; rerunning resumes to the same matrix', async () => {
  const args = ['stats', '--model', PARITY_MODEL, '--layers', '0', '--max-docs', '300', '--batch-tokens', '64'];
  const cancelled = path.join(tmp, 'cancelled');
  let sent = false;
  const r = await spawnCli([...args, '--cache', cancelled, '--json'], {
    onStdout: (chunk, child) => {
      if (!sent && chunk.includes('"type":"progress"')) {
        sent = true;
        child.kill('SIGINT');
      }
    },
  });
  expect(sent).toBe(true);
  expect(r.code).toBe(130);
  const err = r.lines.find((l) => l.type === 'error') as { exitCode: number; error: { message: string } };
  expect(err.exitCode).toBe(130);
  expect(err.error.message).toMatch(/^cancelled; partial statistics were saved in .*; run the same command again to resume$/);
  const partial = fs.readdirSync(cancelled).filter((f) => f.endsWith('.partial.safetensors'));
  expect(partial).toHaveLength(1);

  const resumed = await runCli([...args, '--cache', cancelled, '--json']);
  // uninterrupted reference in larger batches (batching changes only the summation order)
  const full = await runCli([...args.slice(0, -1), '1024', '--cache', path.join(tmp, 'full'), '--json']);
  expect([resumed.code, full.code]).toEqual([0, 0]);
  expect(fs.readdirSync(cancelled).filter((f) => f.endsWith('.partial.safetensors'))).toEqual([]);
  expect(resumed.result!.tokens).toBe(full.result!.tokens);
  const a = await loadStatsFile(resumed.result!.layers[0].file);
  const b = await loadStatsFile(full.result!.layers[0].file);
  const x = a.mom2Sum.data() as Float64Array;
  const y = b.mom2Sum.data() as Float64Array;
  let maxRel = 0;
  let scale = 0;
  for (const v of y) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < x.length; i++) maxRel = Math.max(maxRel, Math.abs(x[i] - y[i]) / scale);
  expect(maxRel).toBeLessThan(1e-6); // f32 keys, f64 sums: only the summation order may differ
  a.mom2Sum.dispose();
  b.mom2Sum.dispose();
});
