/**
 * MEMIT's pipeline on small GPT-2s:
 * - the batched z optimisation takes exactly each request's own steps (equal to ROME's
 *   one-request `computeTarget` when δ is injected at the same point); requests on one
 *   subject can share one z;
 * - over layers [1, 2] of a 4-layer model the edited z-layer residual reaches z (the
 *   residual spread over layers), the Woodbury and direct solves give the same delta,
 *   the delta reverts bit-exactly and survives a save/load round trip, nothing leaks.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  DeltaPass, EditDelta, type Tensor, computeLayerStats, createModel, gatherAt, hookName, klDiv, loadModel, logSoftmax, memory, modelFingerprint, noGrad, statsCachePath, sub, targetIds, tidy, zeros,
} from '@medit/core';
import { computeTarget } from '@medit/rome';
import { kernelCalls, weightGradientCalls } from '../../core/test-utils/kernel-calls';

import { type MassEditStats, MemitEditor, computeZs, zRows } from '../src';
import { MICRO, PARITY, counterfacts, fillerCorpus, loadParityModel, microFacts, microRequests, statsCorpus } from './helpers';

const ROME_HP = JSON.parse(fs.readFileSync(path.join(PARITY, 'rome/hparams.json'), 'utf8'));
const ROME_TEMPLATES: string[] = JSON.parse(fs.readFileSync(path.join(PARITY, 'rome/context_templates.json'), 'utf8'));

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

test('batched target vectors equal ROME’s one-at-a-time v* (δ at the MLP output), one- and two-token targets', async () => {
  const model = await loadParityModel();
  const before = memory().numTensors;
  const hp = { ...ROME_HP, v_num_grad_steps: 6 };
  const templates = ROME_TEMPLATES.slice(0, 5);
  // multi-token subjects: @medit/rome's locateSubject rejects a one-token subject after "text. "
  const reqs = [...counterfacts([0, 5, 16]), { prompt: 'The {} is located in', subject: 'Big Ben', targetNew: 'Great Sphinx' }].map((r) => ({
    prompt: r.prompt,
    subject: r.subject,
    target: targetIds(model.tokenizer!, r.targetNew),
  }));
  expect(reqs.map((r) => r.target.length)).toEqual([1, 1, 1, 2]);
  // chunks of 2: [one-token, one-token] and [one-token, two-token]
  const { result: z, calls } = await kernelCalls('linearBackward', () => computeZs(model, hp, 0, templates, reqs, { point: 'mlp_out', batchSize: 2 }));
  expect(calls.length).toBeGreaterThan(0);
  expect(weightGradientCalls(calls)).toHaveLength(0); // gradients for the δ's only
  const zs = z.zs.data() as Float32Array;
  const C = model.config.hiddenSize;
  reqs.forEach((r, i) => {
    const ref = computeTarget(model, hp, templates, r.prompt, r.subject, r.target, hp.fact_token);
    expect(relErr(zs.subarray(i * C, (i + 1) * C), ref.vStar.data() as Float32Array)).toBeLessThan(1e-4);
    expect(z.traces[i].map((s) => s.loss)).toEqual(ref.trace.map((s) => expect.closeTo(s.loss, 4)));
    for (const t of [ref.vStar, ref.m0, ref.delta]) t.dispose();
  });
  z.zs.dispose();
  z.h0.dispose();
  expect(memory().numTensors).toBe(before);
  model.dispose();
});

test('requests on one subject share one z, optimised on the sum of their losses', async () => {
  const model = await loadParityModel();
  const before = memory().numTensors;
  const tok = model.tokenizer!;
  const hp = { ...ROME_HP, v_num_grad_steps: 4 };
  const templates = ROME_TEMPLATES.slice(0, 3);
  const reqs = [
    { prompt: 'The {} is located in', subject: 'Eiffel Tower', target: targetIds(tok, 'Rome') },
    { prompt: '{} makes', subject: 'Toyota', target: targetIds(tok, 'phones') },
    { prompt: 'The headquarters of {} is in', subject: 'Eiffel Tower', target: targetIds(tok, 'Sweden') },
  ];
  const alone = computeZs(model, hp, 0, templates, reqs);
  const shared = computeZs(model, hp, 0, templates, reqs, { shareSubjects: true });
  const C = model.config.hiddenSize;
  const zs = shared.zs.data() as Float32Array;
  const za = alone.zs.data() as Float32Array;
  const h0 = shared.h0.data() as Float32Array;
  const delta = (i: number) => Array.from(zs.subarray(i * C, (i + 1) * C), (z, c) => z - h0[i * C + c]);
  // one δ for both Eiffel Tower requests, added to each prompt's own h0 (the two prompts put
  // the subject after different words, so their h0 and z differ); different from either lone z;
  // Toyota's is its lone z
  expect(relErr(delta(2), delta(0))).toBeLessThan(1e-5);
  expect(relErr(h0.subarray(2 * C, 3 * C), h0.subarray(0, C))).toBeGreaterThan(1e-3);
  expect(relErr(h0.subarray(2 * C, 3 * C), (alone.h0.data() as Float32Array).subarray(2 * C, 3 * C))).toBeLessThan(1e-6);
  expect(relErr(zs.subarray(0, C), za.subarray(0, C))).toBeGreaterThan(1e-3);
  expect(relErr(zs.subarray(C, 2 * C), za.subarray(C, 2 * C))).toBeLessThan(1e-5);
  // at step 0 (δ = 0: no KL, no decay) the shared loss is the sum of the two requests' NLLs
  expect(shared.traces[0][0].nll).toBeCloseTo(alone.traces[0][0].nll + alone.traces[2][0].nll, 4);
  expect(shared.traces[2]).toEqual(shared.traces[0]);
  for (const t of [alone.zs, alone.h0, shared.zs, shared.h0]) t.dispose();
  expect(memory().numTensors).toBe(before);
  model.dispose();
});

test('preserve prompts keep the subject\'s other answers; one that asks the edited fact is left out', async () => {
  const model = await loadParityModel();
  const before = memory().numTensors;
  const tok = model.tokenizer!;
  const hp = { ...ROME_HP, v_num_grad_steps: 40, v_lr: 0.5, v_weight_decay: 1e-3, clamp_norm_factor: 8 };
  const templates = ROME_TEMPLATES.slice(0, 3);
  const req = { prompt: '{} is a citizen of', subject: 'Pablo Picasso', target: targetIds(tok, 'Japan') };
  const other = '{} plays the';
  // KL at `other` between δ = z − h0 at the subject token and δ = 0 (through the z loop's own pass)
  const drift = (z: { zs: Tensor; h0: Tensor }) => {
    const rows = zRows(model, templates, [req], ROME_HP.fact_token, [other]);
    const j = rows.preserve[0];
    const pass = DeltaPass.create(model, [rows.rows[j]], [rows.lookup[j]], 0, 'mlp_out', 0);
    const read = [{ batch: 0, token: rows.rows[j].length - 1 }];
    const kl = tidy(() => {
      const edited = logSoftmax(pass.logits(sub(z.zs, z.h0), read));
      const clean = logSoftmax(pass.logits(zeros(z.zs.shape), read));
      return (klDiv(edited, clean).data() as Float32Array)[0];
    });
    pass.dispose();
    return kl;
  };
  const run = (extra: object) => computeZs(model, { ...hp, ...extra }, 0, templates, [req], { point: 'mlp_out' });
  const plain = run({});
  const kept = run({ preserve_prompts: [other], preserve_factor: 10 });
  const self = run({ preserve_prompts: [req.prompt], preserve_factor: 10 });
  // the edit is made either way (P(Japan) from below 0.01); the other prompt's distribution moves
  // far less when preserved
  for (const z of [plain, kept]) {
    expect(z.traces[0][0].targetProb).toBeLessThan(0.01);
    expect(z.traces[0][z.traces[0].length - 1].targetProb).toBeGreaterThan(0.25);
  }
  expect(drift(kept)).toBeLessThan(0.25 * drift(plain));
  // the request's own prompt as a preserve prompt: its unedited top token is the old answer's, so it
  // is left out and δ is the plain one
  expect(relErr(self.zs.data() as Float32Array, plain.zs.data() as Float32Array)).toBeLessThan(1e-5);
  for (const z of [plain, kept, self]) {
    z.zs.dispose();
    z.h0.dispose();
  }
  expect(memory().numTensors).toBe(before);
  model.dispose();
});

test('MEMIT over layers [1, 2]: the z-layer residual reaches z, Woodbury = direct, exact revert, save/load', async () => {
  const parity = await loadParityModel();
  const raw = JSON.parse(fs.readFileSync(path.join(PARITY, 'gpt2-trained-wordlevel/config.json'), 'utf8'));
  const model = createModel({ ...raw, n_layer: 4 }, { seed: 3, tokenizer: parity.tokenizer });
  parity.dispose();
  const stats = await computeLayerStats(model, { layers: [1, 2], corpus: statsCorpus() });
  const before = memory().numTensors;
  const fingerprint = modelFingerprint(model);
  const requests = counterfacts([0, 5, 12, 16]);
  const groups = [['{}']]; // keys = the raw prompt's, so the residual identity is exact up to λ
  const hp = { layers: [1, 2], v_num_grad_steps: 8, clamp_norm_factor: 4, mom2_update_weight: 2 };

  const direct = new MemitEditor({ ...hp, solver: 'direct' }, { stats, contextTemplates: groups });
  const woodbury = new MemitEditor({ ...hp, solver: 'woodbury' }, { stats, contextTemplates: groups });
  const d1 = await direct.edit(model, requests);
  expect(modelFingerprint(model)).toBe(fingerprint); // the editor leaves the weights alone
  const d2 = await woodbury.edit(model, requests);
  const s1 = d1.info.stats as unknown as MassEditStats;
  expect(s1.layers.map((l) => [l.layer, l.solver])).toEqual([
    [1, 'direct'],
    [2, 'direct'],
  ]);
  expect((d2.info.stats as unknown as MassEditStats).layers.map((l) => l.solver)).toEqual(['woodbury', 'woodbury']);
  expect(d1.updates.map((u) => u.name)).toEqual(['transformer.h.1.mlp.c_proj.weight', 'transformer.h.2.mlp.c_proj.weight']);
  for (let i = 0; i < 2; i++) {
    const a = d1.updates[i];
    const b = d2.updates[i];
    // 4 requests: rank-4 factors [256, 4] @ [4, 64] in Conv1D layout
    expect(a.left!.shape).toEqual([256, 4]);
    expect(relErr(b.left!.data() as Float32Array, a.left!.data() as Float32Array)).toBeLessThan(1e-5);
    expect(relErr(b.right!.data() as Float32Array, a.right!.data() as Float32Array)).toBeLessThan(1e-5);
  }

  // The edited model's residual at the z layer (block 2's output at the subject) moves to z.
  const z = computeZs(model, { fact_token: 'subject_last', v_num_grad_steps: 8, v_lr: 0.5, v_weight_decay: 0.5, clamp_norm_factor: 4, kl_factor: 0.0625 }, 2, groups.flat(), requests.map((r) => ({ prompt: r.prompt, subject: r.subject, target: targetIds(model.tokenizer!, r.targetNew) })));
  const zs = z.zs.data() as Float32Array;
  const h0 = z.h0.data() as Float32Array;
  d1.apply(model);
  const tok = model.tokenizer!;
  const C = model.config.hiddenSize;
  requests.forEach((r, i) => {
    const prompt = r.prompt.replace('{}', r.subject);
    const ids = tok.encode(prompt);
    const s = tok.encode(prompt.slice(0, prompt.indexOf(r.subject) + r.subject.length)).length - 1;
    let h: Float32Array | undefined;
    noGrad(() => tidy(() => void model.forward([ids], { hooks: { [hookName(2, 'resid_out')]: (x) => void (h = gatherAt(x, [{ batch: 0, token: s }]).data() as Float32Array) } })));
    const target = zs.subarray(i * C, (i + 1) * C);
    const start = h0.subarray(i * C, (i + 1) * C);
    const gap = (v: ArrayLike<number>) => Math.hypot(...Array.from(target, (x, j) => x - v[j]));
    expect(gap(h!)).toBeLessThan(0.01 * gap(start));
  });
  expect(s1.finalResidualNorm).toBeLessThan(0.01 * s1.layers[0].residualNorm);
  // layer 1 took half of the residual, layer 2 what remained (MEMIT's spread over remaining layers)
  expect(s1.layers[1].residualNorm).toBeLessThan(0.75 * s1.layers[0].residualNorm);
  z.zs.dispose();
  z.h0.dispose();

  // Save, revert (bit-exact), load and re-apply: the same weights as the first application.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memit-'));
  await d1.save(path.join(dir, 'edit.safetensors'));
  const edited = modelFingerprint(model);
  d1.revert();
  expect(modelFingerprint(model)).toBe(fingerprint);
  const loaded = await EditDelta.load(path.join(dir, 'edit.safetensors'));
  expect(loaded.info.method).toBe('MEMIT');
  loaded.apply(model);
  expect(modelFingerprint(model)).toBe(edited);
  loaded.revert();
  expect(modelFingerprint(model)).toBe(fingerprint);
  fs.rmSync(dir, { recursive: true });

  for (const t of [loaded, d1, d2]) t.dispose();
  direct.dispose();
  woodbury.dispose();
  expect(memory().numTensors).toBe(before);
  for (const s of stats.values()) s.mom2Sum.dispose();
  model.dispose();
});

test('statistics for every edited layer come from the corpus in one pass and are reused from the cache', async () => {
  const model = await loadModel(MICRO);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memit-stats-'));
  const corpus = fillerCorpus(150);
  const requests = microRequests(microFacts(), 'P27', 2);
  const hp = { layers: [0, 1], v_num_grad_steps: 2 };
  const groups = [['{}']];
  const before = memory().numTensors;
  const first = new MemitEditor(hp, { corpus, statsCacheDir: dir, contextTemplates: groups });
  const d1 = await first.edit(model, requests);
  const fp = modelFingerprint(model);
  const files = [0, 1].map((l) => statsCachePath(dir, fp, corpus.hash, l, 150));
  for (const f of files) expect(fs.existsSync(f)).toBe(true);
  const stamps = files.map((f) => fs.statSync(f).mtimeMs);
  const second = new MemitEditor(hp, { corpus, statsCacheDir: dir, contextTemplates: groups });
  const d2 = await second.edit(model, requests);
  expect(files.map((f) => fs.statSync(f).mtimeMs)).toEqual(stamps); // read, not rewritten
  d1.updates.forEach((u, i) => expect(Array.from(d2.updates[i].left!.data() as Float32Array)).toEqual(Array.from(u.left!.data() as Float32Array)));
  // Without statistics or a corpus the editor names what is missing.
  await expect(new MemitEditor(hp).edit(model, requests)).rejects.toThrow(/statistics are missing for layer\(s\) 0, 1; pass stats or a corpus/);
  for (const x of [d1, d2, first, second]) x.dispose();
  expect(memory().numTensors).toBe(before);
  fs.rmSync(dir, { recursive: true });
  model.dispose();
});
