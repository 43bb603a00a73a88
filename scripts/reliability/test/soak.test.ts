/**
 * The soak (scripts/reliability/soak.ts; the 10,000-edit run is reported in bench/RESULTS.md),
 * two edits long: every edit and its logits are finite, reverts bit for bit and reapplies to the
 * same weights, memory stays flat (slope 0 per 1,000 edits), and a stream stopped after one edit
 * resumes to exactly the weights and memory of an uninterrupted one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Tensor, readCheckpoint } from '@medit/core';

import { type MemorySample, slopePer1000, soak } from '../soak';

async function tensorsOf(file: string): Promise<Map<string, number[]>> {
  const ck = await readCheckpoint(path.dirname(file), { file: path.basename(file) });
  const out = new Map<string, number[]>();
  for (const [k, h] of ck.tensors) {
    const t = new Tensor(h);
    out.set(k, Array.from(t.data() as Float32Array));
    t.dispose();
  }
  return out;
}

test('two AlphaEdit edits pass every check, and a stopped stream resumes to the same state', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-soak-'));
  try {
    const statsCache = path.join(tmp, 'stats');
    const whole = await soak({ edits: 2, state: path.join(tmp, 'whole'), statsCache, warmup: 1, checkpointEvery: 10, sampleEvery: 1 });
    expect(whole).toMatchObject({ ok: true, edits: 2, nonFinite: 0, nonFiniteOutputs: 0, revertMismatches: 0, reapplyMismatches: 0 });
    expect(whole.memory.maxBytes).toBe(whole.memory.warmBytes);
    expect(whole.samples.map((s) => s.edits)).toEqual([1, 2]);
    expect(whole.slopesPer1000.nativeBytes).toBe(0);
    const part = path.join(tmp, 'part');
    await soak({ edits: 1, state: part, statsCache, warmup: 1 });
    const resumed = await soak({ edits: 2, state: part, statsCache, warmup: 1, checkpointEvery: 10 });
    expect(resumed.edits).toBe(2);
    const [a, b] = await Promise.all([tensorsOf(path.join(tmp, 'whole', 'soak.safetensors')), tensorsOf(path.join(part, 'soak.safetensors'))]);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, v] of a) expect([k, b.get(k)]).toEqual([k, v]);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('slopePer1000 is the least-squares slope of the samples from warm-up on, per 1,000 edits', () => {
  const at = (edits: number, rss: number): MemorySample => ({ edits, rss, nativeBytes: 0, tensors: 0, buffers: 0, cachedBytes: 0, systemAllocations: 0, heapTotal: 0, heapUsed: 0, external: 0, pid: 1 });
  const samples = [at(0, 5000), at(100, 10), at(200, 30), at(300, 40), at(400, 60)];
  expect(slopePer1000(samples, 'rss', 100)).toBeCloseTo(160, 9); // 0.16 per edit over the last four
  expect(slopePer1000(samples, 'nativeBytes')).toBe(0);
  expect(slopePer1000(samples, 'rss', 400)).toBeNull();
});
