/**
 * The z cache (z-cache.ts) on the micro-facts model: a second edit with the cache computes no z
 * and gives bit-identical deltas (and the same per-edit report) as an edit without it; a λ, the
 * earlier layers or another solver reuse z; a z setting, the templates, a target or the weights
 * do not; each file records what its z took to compute (older files count as untimed hits); a
 * corrupted or swapped file is an error naming it; an edit stopped midway keeps the z's
 * of its finished chunks; in a sequential stream the second
 * call (on weights the first changed) never reads the first call's z, and a replayed stream
 * reads every z and gives the same deltas.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  type CausalLM,
  type EditDelta,
  type EditProgress,
  type EditRequest,
  type LayerStats,
  CancelledError,
  Tensor,
  computeLayerStats,
  loadModel,
  memory,
  modelFingerprint,
  readTensorDocument,
  writeTensorDocument,
} from '@medit/core';

import { AlphaEditEditor, EmmetEditor, type MassEditStats, MemitEditor, type NullSpace, SequentialEditor } from '../src';
import * as computeZModule from '../src/compute-z';
import { MICRO, fillerCorpus, microFacts, microRequests, nullSpacesOf } from './helpers';

const GROUPS = [['{}'], ['The rain stopped by noon. {}']];
const HP = { layers: [0, 1], v_num_grad_steps: 8, mom2_update_weight: 2000 };
const facts = microFacts();
// three subjects, the first with two requests (one shared δ): three cache files
const REQUESTS: EditRequest[] = [...microRequests(facts, 'P27', 3, 0), ...microRequests(facts, 'P103', 1, 0)].map(({ fact: _, ...r }) => r);
let model: CausalLM;
let stats: Map<number, LayerStats>;
let nullSpaces: Map<number, NullSpace>;
const dirs: string[] = [];

function cacheDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-zcache-'));
  dirs.push(d);
  return d;
}

const zStats = (d: EditDelta) => (d.info.stats as unknown as MassEditStats).zCache;

/** The header document of a cache file (its tensors freed). */
async function readDocument(file: string): Promise<Record<string, unknown>> {
  const doc = await readTensorDocument(file, 'medit-z-cache', 'z cache');
  for (const h of doc.tensors.values()) new Tensor(h).dispose();
  return doc.document as Record<string, unknown>;
}
const cacheFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors'));

/** Every byte of a delta's updates, in order. */
function deltaBytes(d: EditDelta): number[][] {
  return d.updates.flatMap((u) => [u.delta, u.left, u.right].filter((t) => t !== undefined).map((t) => Array.from(t!.data() as Float32Array)));
}

async function editWith(options: { zCacheDir?: string; keepTraces?: boolean }, hp: Record<string, unknown> = HP, requests = REQUESTS, onProgress?: (p: EditProgress) => void): Promise<EditDelta> {
  const editor = new MemitEditor(hp, { stats, contextTemplates: GROUPS, ...options });
  try {
    return await editor.edit(model, requests, { onProgress });
  } finally {
    editor.dispose();
  }
}

beforeAll(async () => {
  model = await loadModel(MICRO);
  stats = await computeLayerStats(model, { layers: [0, 1], corpus: fillerCorpus() });
  expect(new Set(REQUESTS.map((r) => r.subject)).size).toBe(3);
  nullSpaces = nullSpacesOf(stats, [0, 1], 2e-2);
});
afterAll(() => {
  for (const ns of nullSpaces.values()) ns.basis.dispose();
  for (const s of stats.values()) s.mom2Sum.dispose();
  model.dispose();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
afterEach(() => jest.restoreAllMocks());

test('a second edit with the cache computes no z and gives the bit-identical delta and report', async () => {
  const tensors = memory().numTensors;
  const dir = cacheDir();
  const plain = await editWith({ keepTraces: true });
  const spy = jest.spyOn(computeZModule, 'computeZs');
  const first = await editWith({ zCacheDir: dir, keepTraces: true });
  expect(spy).toHaveBeenCalledTimes(1);
  expect(zStats(first)).toEqual({ dir, hits: 0, misses: 4, hitComputeMs: 0, untimedHits: 0 });
  expect(cacheFiles(dir)).toHaveLength(3); // one per δ: the shared subject's two requests are one file
  const progress: EditProgress[] = [];
  const editor = new MemitEditor(HP, { stats, contextTemplates: GROUPS, zCacheDir: dir, keepTraces: true });
  const second = await editor.edit(model, REQUESTS, { onProgress: (p) => progress.push(p) });
  expect(spy).toHaveBeenCalledTimes(1); // no z computed
  // each file records what its δ took to compute; the edit that reads them reports the sum
  const recorded = await Promise.all(cacheFiles(dir).map(async (f) => (await readDocument(path.join(dir, f))).computeMs as number));
  expect(recorded.every((ms) => ms > 0)).toBe(true);
  const hitComputeMs = recorded.reduce((a, b) => a + b, 0);
  expect(zStats(second)).toEqual({ dir, hits: 4, misses: 0, hitComputeMs, untimedHits: 0 });
  expect(editor.zCache).toEqual({ dir, hits: 4, misses: 0, hitComputeMs, untimedHits: 0 });
  expect(progress.filter((p) => p.stage === 'MEMIT z').map((p) => p.info)).toContainEqual({ zCacheHits: 4, zCacheMisses: 0 });
  // the uncached edit, the one that filled the cache and the one that read it: the same bytes
  expect(deltaBytes(first)).toEqual(deltaBytes(plain));
  expect(deltaBytes(second)).toEqual(deltaBytes(plain));
  const report = (d: EditDelta) => {
    const { timings: _, zCache: __, ...rest } = d.info.stats as unknown as MassEditStats;
    return rest;
  };
  expect(report(second)).toEqual(report(plain)); // per-edit steps, loss, P(target), ‖δ‖, traces, residuals
  expect(plain.info.stats).not.toHaveProperty('zCache');
  editor.dispose();
  for (const d of [plain, first, second]) d.dispose();
  expect(memory().numTensors).toBe(tensors);
});

test('a file without a recorded compute time (written before the field) counts as an untimed hit; a bad time is an error naming the file', async () => {
  const dir = cacheDir();
  (await editWith({ zCacheDir: dir })).dispose();
  const file = path.join(dir, cacheFiles(dir)[0]);
  const rewrite = async (computeMs: unknown) => {
    const doc = await readTensorDocument(file, 'medit-z-cache', 'z cache');
    const { computeMs: _, ...rest } = doc.document as Record<string, unknown>;
    fs.rmSync(file);
    await writeTensorDocument(file, doc.tensors, 'medit-z-cache', computeMs === undefined ? rest : { ...rest, computeMs });
    for (const h of doc.tensors.values()) new Tensor(h).dispose();
  };
  const k = (JSON.parse(JSON.stringify((await readDocument(file)).material)) as { requests: unknown[] }).requests.length;
  await rewrite(undefined);
  const timed = await Promise.all(cacheFiles(dir).map(async (f) => (await readDocument(path.join(dir, f))).computeMs as number | undefined));
  const again = await editWith({ zCacheDir: dir });
  expect(zStats(again)).toEqual({ dir, hits: 4, misses: 0, hitComputeMs: timed.reduce<number>((a, b) => a + (b ?? 0), 0), untimedHits: k });
  again.dispose();
  await rewrite(-1);
  await expect(editWith({ zCacheDir: dir })).rejects.toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: computeMs must be a non-negative number`));
});

test('λ, the earlier layers and another solver reuse z; a z setting, the templates, a target or the weights miss', async () => {
  const dir = cacheDir();
  const base = await editWith({ zCacheDir: dir });
  expect(zStats(base)).toMatchObject({ hits: 0, misses: 4 });
  const counts = async (hp: Record<string, unknown>, requests = REQUESTS, groups = GROUPS) => {
    const editor = new MemitEditor(hp, { stats, contextTemplates: groups, zCacheDir: dir });
    const d = await editor.edit(model, requests);
    editor.dispose();
    const c = zStats(d)!;
    const changed = JSON.stringify(deltaBytes(d)) !== JSON.stringify(deltaBytes(base));
    d.dispose();
    return { hits: c.hits, misses: c.misses, changed };
  };
  // same z, another solve: every z read, and the delta differs (the setting matters)
  expect(await counts({ ...HP, mom2_update_weight: 500 })).toEqual({ hits: 4, misses: 0, changed: true });
  expect(await counts({ ...HP, layers: [1] })).toEqual({ hits: 4, misses: 0, changed: true });
  const emmet = new EmmetEditor({ ...HP, layers: [1] }, { stats, contextTemplates: GROUPS, zCacheDir: dir });
  const e = await emmet.edit(model, REQUESTS);
  expect(zStats(e)).toMatchObject({ hits: 4, misses: 0 });
  e.dispose();
  emmet.dispose();
  // what z depends on
  expect(await counts({ ...HP, v_lr: 0.25 })).toMatchObject({ hits: 0, misses: 4 });
  expect(await counts({ ...HP, clamp_norm_factor: 2 })).toMatchObject({ hits: 0, misses: 4 });
  expect(await counts({ ...HP, kl_factor: 0.5 })).toMatchObject({ hits: 0, misses: 4 });
  expect(await counts({ ...HP, v_num_grad_steps: 9 })).toMatchObject({ hits: 0, misses: 4 });
  expect(await counts({ ...HP, preserve_prompts: ['{} is known for'] })).toMatchObject({ hits: 0, misses: 4 });
  expect(await counts({ ...HP, preserve_prompts: ['{} is known for'], preserve_factor: 3 })).toMatchObject({ hits: 0, misses: 4 });
  // a preserve factor without preserve prompts changes nothing: the entries without them keep their keys
  expect(await counts({ ...HP, preserve_factor: 3 })).toEqual({ hits: 4, misses: 0, changed: false });
  expect(await counts(HP, REQUESTS, [['{}'], ['The rain stopped by dusk. {}']])).toMatchObject({ hits: 0, misses: 4 });
  // another target: that request's δ only (the second subject's); the shared subject's δ covers both its requests
  const retargeted = REQUESTS.map((r, i) => (i === 1 ? { ...r, targetNew: REQUESTS[2].targetNew } : r));
  expect(retargeted[1].targetNew).not.toBe(REQUESTS[1].targetNew);
  expect(await counts(HP, retargeted)).toMatchObject({ hits: 3, misses: 1 });
  const sharedRetargeted = REQUESTS.map((r, i) => (i === 3 ? { ...r, targetNew: 'Lasktra' } : r));
  expect(await counts(HP, sharedRetargeted)).toMatchObject({ hits: 2, misses: 2 });
  // other weights
  const fingerprint = modelFingerprint(model);
  base.apply(model);
  try {
    expect(await counts(HP)).toMatchObject({ hits: 0, misses: 4 });
  } finally {
    base.revert(model);
  }
  expect(modelFingerprint(model)).toBe(fingerprint);
  base.dispose();
});

test('a corrupted or swapped cache file is an error naming it', async () => {
  const dir = cacheDir();
  (await editWith({ zCacheDir: dir })).dispose();
  const [a, b] = cacheFiles(dir).map((f) => path.join(dir, f));
  const saved = fs.readFileSync(a);
  // bytes cut off: the header promises more data than the file holds
  fs.writeFileSync(a, saved.subarray(0, saved.length - 64));
  await expect(editWith({ zCacheDir: dir })).rejects.toThrow(a);
  // not a safetensors file at all
  fs.writeFileSync(a, 'not a tensor file');
  await expect(editWith({ zCacheDir: dir })).rejects.toThrow(a);
  // another entry's file under this name (its shape may match: the key decides)
  fs.copyFileSync(b, a);
  await expect(editWith({ zCacheDir: dir })).rejects.toThrow(new RegExp(`${a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*holds the entry of key`));
  // removed: that δ (one or two requests) computed and written again, then read
  fs.rmSync(a);
  const again = await editWith({ zCacheDir: dir });
  const { hits, misses } = zStats(again)!;
  expect([hits + misses, misses >= 1, misses <= 2]).toEqual([4, true, true]);
  expect(fs.existsSync(a)).toBe(true);
  const third = await editWith({ zCacheDir: dir });
  expect(zStats(third)).toMatchObject({ hits: 4, misses: 0 });
  for (const d of [again, third]) d.dispose();
});

test('an edit stopped midway keeps the z of the chunks it finished', async () => {
  const dir = cacheDir();
  const hp = { ...HP, z_batch_size: 1 }; // one δ per chunk: three chunks
  const stop = new AbortController();
  const editor = new MemitEditor(hp, { stats, contextTemplates: GROUPS, zCacheDir: dir });
  await expect(editor.edit(model, REQUESTS, { signal: stop.signal, onProgress: (p) => p.stage === 'MEMIT z' && p.done > 0 && stop.abort() })).rejects.toThrow(CancelledError);
  editor.dispose();
  expect(cacheFiles(dir)).toHaveLength(1);
  const resumed = await editWith({ zCacheDir: dir }, hp);
  const { hits, misses } = zStats(resumed)!;
  expect([hits + misses, hits >= 1, hits <= 2]).toEqual([4, true, true]);
  resumed.dispose();
});

test('sequential AlphaEdit: the second call never reads the first call’s z; a replayed stream reads all and matches', async () => {
  const tensors = memory().numTensors;
  const fingerprint = modelFingerprint(model);
  const dir = cacheDir();
  const hp = { layers: [0, 1], v_num_grad_steps: 8, L2: 1 };
  const batch = REQUESTS.slice(0, 3);
  const stream = async () => {
    const s = new SequentialEditor(new AlphaEditEditor(hp, { stats, contextTemplates: GROUPS, nullSpaces, zCacheDir: dir }));
    // the same requests twice: only the weights tell the calls apart
    const deltas = [await s.step(model, batch), await s.step(model, batch)];
    const out = { counts: deltas.map((d) => ({ dir: zStats(d)!.dir, hits: zStats(d)!.hits, misses: zStats(d)!.misses })), bytes: deltas.map(deltaBytes) };
    s.dispose(); // reverts the stream
    (s.editor as AlphaEditEditor).dispose();
    expect(modelFingerprint(model)).toBe(fingerprint);
    return out;
  };
  const first = await stream();
  expect(first.counts).toEqual([
    { dir, hits: 0, misses: 3 },
    { dir, hits: 0, misses: 3 },
  ]);
  expect(cacheFiles(dir)).toHaveLength(6);
  const replay = await stream();
  expect(replay.counts).toEqual([
    { dir, hits: 3, misses: 0 },
    { dir, hits: 3, misses: 0 },
  ]);
  expect(replay.bytes).toEqual(first.bytes);
  expect(memory().numTensors).toBe(tensors);
});
