/**
 * The FT baselines on the trained parity model (a GPT-2 that knows a small fact corpus): each
 * variant makes two new targets the argmax while unrelated prompts keep theirs, leaves the model
 * untouched, and its delta reverts bit-exactly; FT-L stays inside its L∞ ball.
 */
import * as path from 'node:path';

import { type CausalLM, type EditRequest, ArgumentError, argmax, loadModel, memory, modelFingerprint, noGrad, tidy } from '@medit/core';

import { type FtHyperParams, type FtVariant, FtEditor, readFtHparams, resolveFtHparams } from '../src';
import { firstTunedBlock } from '../src/ft';
import { forwardFrom, promptLastLoss, targetNewLoss } from '../src/losses';
import { kernelCalls, weightGradientCalls } from '../../core/test-utils/kernel-calls';

const MODEL = path.resolve(__dirname, '../../../test-fixtures/parity/gpt2-trained-wordlevel');
const REQUESTS: EditRequest[] = [
  { prompt: 'The {} is located in', subject: 'Eiffel Tower', targetNew: 'Tokyo', targetTrue: 'Paris' },
  { prompt: '{} is a citizen of', subject: 'Danielle Darrieux', targetNew: 'Japan', targetTrue: 'France' },
];
const EDITED = ['The Eiffel Tower is located in', 'Danielle Darrieux is a citizen of'];
const UNRELATED = ['The Big Ben is located in', 'Pablo Picasso was born in', 'Lionel Messi plays'];

function top(model: CausalLM, text: string): string {
  return noGrad(() =>
    tidy(() => {
      const ids = model.tokenizer!.encode(text);
      return model.tokenizer!.decode([argmax(model.forward([ids], { logitsAt: [ids.length - 1] }).logits).data()[0] as number]).trim();
    }),
  );
}

let model: CausalLM;
beforeAll(async () => {
  model = await loadModel(MODEL);
});
afterAll(() => model.dispose());

test.each([
  ['FT', {}],
  ['FT-M', {}],
  ['FT+KL', {}],
  // ε = 5e-4 (the gpt2-xl preset) is too tight to move this 64-wide model (next test); ε = 0.01 edits
  ['FT-L', { layers: [1], norm_constraint: 0.01 }],
] as [FtVariant, Partial<FtHyperParams>][])('%s edits two facts and keeps unrelated answers', async (variant, hparams) => {
  const before = memory();
  const fingerprint = modelFingerprint(model);
  const unrelated = UNRELATED.map((p) => top(model, p));
  expect(EDITED.map((p) => top(model, p))).toEqual(['Paris', 'France']);
  const editor = new FtEditor(hparams, { variant, klPrompts: UNRELATED });
  expect(editor.name).toBe(variant);
  const { result: delta, calls } = await kernelCalls('linearBackward', () => editor.edit(model, REQUESTS));
  expect(modelFingerprint(model)).toBe(fingerprint); // the editor restores W0
  const layer = 1; // the last layer (FT, FT-M, FT+KL defaults; given for FT-L)
  // weight gradients of the tuned module only (linearBackward(dy, x, w, ...): w is its weight)
  const tuned = model.param(`transformer.h.${layer}.mlp.c_proj.weight`).handle();
  expect(weightGradientCalls(calls).length).toBeGreaterThan(0);
  expect(weightGradientCalls(calls).every((c) => c[2] === tuned)).toBe(true);
  expect(delta.updates.map((u) => u.name).sort()).toEqual([`transformer.h.${layer}.mlp.c_proj.bias`, `transformer.h.${layer}.mlp.c_proj.weight`]);
  const w = model.param(`transformer.h.${layer}.mlp.c_proj.weight`);
  const w0 = w.data() as Float32Array;
  delta.apply(model);
  expect(EDITED.map((p) => top(model, p))).toEqual(['Tokyo', 'Japan']);
  expect(UNRELATED.map((p) => top(model, p))).toEqual(unrelated);
  if (variant === 'FT-L') {
    // every weight within [W0 − ε, W0 + ε] (the clamp runs after every step)
    const w1 = w.data() as Float32Array;
    let maxChange = 0;
    for (let i = 0; i < w1.length; i++) maxChange = Math.max(maxChange, Math.abs(w1[i] - w0[i]));
    // (W0 ± ε is rounded to float32: allow an ulp)
    expect(maxChange).toBeLessThanOrEqual(0.01 + 1e-6);
    expect(maxChange).toBeGreaterThan(0.0099); // 25 Adam steps of 5e-4 would reach 0.0125: the clamp was active
  }
  if (variant === 'FT+KL') expect((delta.info.stats!.epochs as { kl: number }[])[0].kl).toBeGreaterThanOrEqual(0);
  delta.revert(model);
  expect(Buffer.from((w.data() as Float32Array).buffer).equals(Buffer.from(w0.buffer))).toBe(true);
  expect(modelFingerprint(model)).toBe(fingerprint);
  delta.dispose();
  expect(memory().numTensors).toBe(before.numTensors);
});

test('FT-L with the paper radius ε = 5e-4 cannot move the answer (the constraint binds)', async () => {
  const editor = new FtEditor({ layers: [1] }, { variant: 'FT-L' });
  const delta = await editor.edit(model, REQUESTS.slice(0, 1));
  const d = delta.updates.find((u) => u.name.endsWith('weight'))!.delta!.data() as Float32Array;
  expect(Math.max(...d.map(Math.abs))).toBeLessThanOrEqual(5e-4 + 1e-6);
  delta.apply(model);
  expect(top(model, EDITED[0])).toBe('Paris');
  delta.dispose();
});

test('hyperparameters: EasyEdit YAML, variants and errors', () => {
  const h = readFtHparams(path.resolve(__dirname, '../../../test-fixtures/ft/gpt2-xl.yaml'), 48);
  expect(h).toMatchObject({ layers: [0], num_steps: 25, lr: 5e-4, norm_constraint: 5e-4, batch_size: 3, objective_optimization: 'prompt_last', rewrite_module_tmp: 'transformer.h.{}.mlp.c_proj' });
  expect(resolveFtHparams({}, 4, 'FT-M')).toMatchObject({ layers: [3], objective_optimization: 'target_new', norm_constraint: false });
  expect(resolveFtHparams({ norm_constraint: false }, 4, 'FT-L').norm_constraint).toBe(false);
  expect(() => resolveFtHparams({ layers: [7] }, 4)).toThrow(/layers in \[0, 4\)/);
  expect(() => resolveFtHparams({ objective_optimization: 'last' }, 4)).toThrow(ArgumentError);
  expect(() => resolveFtHparams({ norm_constraint: -1 }, 4)).toThrow(/norm_constraint/);
});

test('FT+KL without unrelated prompts and an unknown module are clear errors', async () => {
  await expect(new FtEditor({}, { variant: 'FT+KL' }).edit(model, REQUESTS)).rejects.toThrow(/klPrompts/);
  await expect(new FtEditor({ rewrite_module_tmp: 'transformer.h.{}.mlp.nope' }).edit(model, REQUESTS)).rejects.toThrow(/no parameter of the model matches module "transformer.h.1.mlp.nope"/);
});

test('losses: prompt_last scores every target token after the prompt; target_new teacher-forces them', () => {
  const tok = model.tokenizer!;
  const prompt = tok.encode('Tourists visit the');
  const target = tok.encode(' Red Square', { addSpecialTokens: false });
  expect(target.length).toBe(2);
  const logp = (ids: number[]) =>
    noGrad(() =>
      tidy(() => {
        const l = model.forward([ids]).logits;
        const V = l.shape[2];
        const d = l.data() as Float32Array;
        const row = (p: number) => {
          const r = d.subarray(p * V, (p + 1) * V);
          const m = Math.max(...r);
          const lse = m + Math.log(r.reduce((s, x) => s + Math.exp(x - m), 0));
          return (t: number) => r[t] - lse;
        };
        return row;
      }),
    );
  const atPrompt = logp(prompt)(prompt.length - 1);
  const forced = logp([...prompt, ...target]);
  const expectedLast = -(atPrompt(target[0]) + atPrompt(target[1])) / 2;
  const expectedForced = -(forced(prompt.length - 1)(target[0]) + forced(prompt.length)(target[1])) / 2;
  const batch = [{ prompt, target }];
  const pad = 0;
  // a second, shorter row checks the padding bookkeeping (the loss is the mean of the two rows)
  const short = { prompt: tok.encode('The Colosseum is located'), target: tok.encode(' in', { addSpecialTokens: false }) };
  const shortLast = -logp(short.prompt)(short.prompt.length - 1)(short.target[0]);
  // through FT's forward, which runs the blocks below the tuned one once per batch
  const frozen = forwardFrom(model, 1);
  const forward = frozen.forward;
  noGrad(() =>
    tidy(() => {
      expect(promptLastLoss(forward, batch, pad).item()).toBeCloseTo(expectedLast, 4);
      expect(targetNewLoss(forward, batch, pad).item()).toBeCloseTo(expectedForced, 4);
      expect(promptLastLoss(forward, [...batch, short], pad).item()).toBeCloseTo((expectedLast + shortLast) / 2, 4);
      expect(targetNewLoss(forward, [short, ...batch], pad).item()).toBeCloseTo((expectedForced + shortLast) / 2, 4);
    }),
  );
  frozen.dispose();
  expect(Math.abs(expectedLast - expectedForced)).toBeGreaterThan(0.1); // the two objectives differ here
});

test('the first tuned block: the blocks below it run once per batch; a parameter outside the blocks means none do', () => {
  expect(firstTunedBlock(model, ['transformer.h.1.mlp.c_proj.weight', 'transformer.h.1.mlp.c_proj.bias'])).toBe(1);
  expect(firstTunedBlock(model, ['transformer.h.1.attn.c_attn.weight', 'transformer.h.0.ln_2.bias'])).toBe(0);
  expect(firstTunedBlock(model, ['transformer.h.1.mlp.c_proj.weight', 'transformer.wte.weight'])).toBe(0);
});
