/**
 * SERAC on fact-small with the trained artefacts in test-fixtures/serac/fact-small: routing
 * returns the counterfactual model's logits at the row's own positions for in-scope rows and the
 * base logits (bit-exact) otherwise, also under generation with a KV cache; the trained classifier
 * routes eval-split rewrites and rephrases and leaves neighbourhood prompts alone; the memory saves,
 * loads and reverts exactly.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, EditDelta, type EditRequest, fillTemplate, generate, loadModel, noGrad, tidy, zeros } from '@medit/core';
import { readDataset } from '@medit/data';
import { scoreTargets } from '@medit/metrics';

import { counterfactualContext, editStatement, memoryDeltaFrom, Serac, SeracDelta, SeracEditor } from '../src';

const ROOT = path.resolve(__dirname, '../../..');
const ART = path.join(ROOT, 'test-fixtures/serac/fact-small');
const MODEL = path.join(ROOT, 'test-fixtures/models/fact-small');
const EVAL = readDataset(path.join(ROOT, 'test-fixtures/factworld/edits/counterfact-eval.json')).cases.slice(0, 20);

let model: CausalLM;
let serac: Serac;

beforeAll(async () => {
  model = await loadModel(MODEL);
  serac = await Serac.load(ART);
});

afterAll(() => {
  serac.dispose();
  model.dispose();
});

const requestOf = (i: number): EditRequest => {
  const { prompt, subject, targetNew } = EVAL[i].request;
  return { prompt, subject, targetNew };
};

function logits(m: CausalLM, ids: number[][], mask?: number[][]): Float32Array {
  return noGrad(() => tidy(() => m.forward(ids, { attentionMask: mask }).logits.data() as Float32Array));
}

test('in-scope rows read the counterfactual model at their own positions, other rows the base model bit-exactly', async () => {
  const tok = model.tokenizer!;
  const req = requestOf(0);
  const inScope = tok.encode(fillTemplate(req.prompt, req.subject));
  const outScope = tok.encode(EVAL[0].localityPrompts[0].prompt);
  const W = Math.max(inScope.length, outScope.length);
  const pad = (r: number[]) => [...r, ...Array(W - r.length).fill(0)];
  const mask = [inScope, outScope].map((r) => [...Array(r.length).fill(1), ...Array(W - r.length).fill(0)]);
  const base = logits(model, [pad(inScope), pad(outScope)], mask);
  // the routed pass runs the base model on the unrouted rows only: the same as a batch of that row
  const baseOut = logits(model, [pad(outScope)], [mask[1]]);
  const delta = await new SeracEditor(serac).edit(model, [req]);
  delta.apply(model);
  const routed = logits(model, [pad(inScope), pad(outScope)], mask);
  expect(delta.routing).toEqual({ rows: 2, routed: 1 });
  const V = model.config.vocabSize;
  // logitsFor: the asked rows of the routed logits; startAt (a residual to resume from) is refused
  const read = [
    { batch: 1, token: 2 },
    { batch: 0, token: inScope.length - 1 },
  ];
  const rows = noGrad(() => tidy(() => model.forward([pad(inScope), pad(outScope)], { attentionMask: mask, logitsFor: read }).logits.data() as Float32Array));
  read.forEach(({ batch, token }, i) => expect(rows.subarray(i * V, (i + 1) * V)).toEqual(routed.subarray((batch * W + token) * V, (batch * W + token + 1) * V)));
  expect(() => tidy(() => model.forward([pad(inScope)], { startAt: { layer: 1, hidden: zeros([1, W, model.config.hiddenSize]) } }))).toThrow(/startAt/);
  delta.revert(model);
  // row 1 (out of scope): the base model's logits, bit for bit
  expect(routed.subarray(W * V, 2 * W * V)).toEqual(baseOut);
  // row 0 (in scope): h(statement <sep> row) at positions |ctx| + t
  const ctx = counterfactualContext(tok, editStatement(req));
  const cf = logits(serac.counterfactual, [[...ctx, ...inScope]]);
  for (let t = 0; t < inScope.length; t++) {
    const a = routed.subarray(t * V, (t + 1) * V);
    const b = cf.subarray((ctx.length + t) * V, (ctx.length + t + 1) * V);
    for (let v = 0; v < V; v += 97) expect(a[v]).toBeCloseTo(b[v], 4);
  }
  // revert: the model is its old self again
  expect(Object.prototype.hasOwnProperty.call(model, 'forward')).toBe(false);
  expect(logits(model, [pad(inScope), pad(outScope)], mask)).toEqual(base);
});

test('the trained classifier routes eval-split rewrites and rephrases and not their neighbourhoods', async () => {
  const delta = await new SeracEditor(serac).edit(model, EVAL.map((_, i) => requestOf(i)));
  const decide = (qs: string[]) => serac.classifier.decide(delta.statements, delta.vectors, qs);
  const rewrite = decide(EVAL.map((c) => fillTemplate(c.request.prompt, c.request.subject)));
  const rephrase = decide(EVAL.map((c) => c.rephrasePrompts[0]));
  const neighbours = decide(EVAL.flatMap((c) => c.localityPrompts.slice(0, 3).map((p) => p.prompt)));
  const hit = (ds: typeof rewrite) => ds.filter((d, i) => d.score > serac.threshold && d.index === i).length / ds.length;
  expect(hit(rewrite)).toBeGreaterThanOrEqual(0.95);
  // first rephrases: a held-out wording after a context sentence (0.88 of them routed on the whole
  // eval split at the calibrated threshold, bench/RESULTS.md)
  expect(hit(rephrase)).toBeGreaterThanOrEqual(0.8);
  // every case of EVAL shares one memory here, so a neighbour can match any of them: measured 0.083
  // at the calibrated threshold (one edit per memory, as the eval split is scored: NS 0.961)
  expect(neighbours.filter((d) => d.score > serac.threshold).length / neighbours.length).toBeLessThanOrEqual(0.12);
  // applied, the rewrite prompts now answer the new object
  delta.apply(model);
  try {
    const s = scoreTargets(model, EVAL.map((c) => ({ prompt: fillTemplate(c.request.prompt, c.request.subject), target: c.request.targetNew })));
    const correct = s.filter((x) => x.predicted.every((p, j) => p === x.targetIds[j])).length;
    expect(correct / s.length).toBeGreaterThanOrEqual(0.9);
  } finally {
    delta.revert(model);
  }
});

test('generation with a KV cache follows the routing (in scope: the counterfactual continuation)', async () => {
  const tok = model.tokenizer!;
  const req = requestOf(1);
  const prompt = tok.encode(fillTemplate(req.prompt, req.subject));
  const other = tok.encode(EVAL[1].localityPrompts[0].prompt);
  const plain = generate(model, [other], { maxNewTokens: 3 });
  const delta = await new SeracEditor(serac).edit(model, [req]);
  delta.apply(model);
  const both = generate(model, [prompt, other], { maxNewTokens: 3 });
  delta.revert(model);
  const ctx = counterfactualContext(tok, editStatement(req));
  const direct = generate(serac.counterfactual, [[...ctx, ...prompt]], { maxNewTokens: 3 });
  expect(both[0]).toEqual(direct[0]);
  expect(both[1]).toEqual(plain[0]);
  expect(tok.decode(both[0]).trim().startsWith(req.targetNew.split(' ')[0])).toBe(true);
});

test('the memory saves and loads (statements and cached vectors) and routes the same', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serac-'));
  try {
    const delta = await new SeracEditor(serac).edit(model, [requestOf(2), requestOf(3)]);
    await delta.save(path.join(dir, 'memory.safetensors'));
    const loaded = SeracDelta.from(await EditDelta.load(path.join(dir, 'memory.safetensors')), serac);
    expect(loaded.statements).toEqual(delta.statements);
    expect(loaded.vectors!.map((v) => [...v])).toEqual(delta.vectors!.map((v) => [...v]));
    expect(loaded.info.requests).toEqual(delta.info.requests);
    const tok = model.tokenizer!;
    const ids = [tok.encode(fillTemplate(EVAL[3].request.prompt, EVAL[3].request.subject))];
    delta.apply(model);
    const a = logits(model, ids);
    delta.revert(model);
    loaded.apply(model);
    const b = logits(model, ids);
    loaded.revert(model);
    expect(b).toEqual(a);
    // without knowing the method (medit generate): the memory and its SERAC artefact are rebuilt
    const rebuilt = await memoryDeltaFrom(await EditDelta.load(path.join(dir, 'memory.safetensors')));
    expect(rebuilt?.delta).toBeInstanceOf(SeracDelta);
    rebuilt!.delta.apply(model);
    expect(logits(model, ids)).toEqual(a);
    rebuilt!.delta.revert(model);
    rebuilt!.release();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('memories stack and must be reverted newest first; a model with another vocabulary is refused', async () => {
  const editor = new SeracEditor(serac);
  const a = await editor.edit(model, [requestOf(4)]);
  const b = await editor.edit(model, [requestOf(5)]);
  a.apply(model);
  b.apply(model);
  expect(() => a.revert(model)).toThrow(/reverse order/);
  b.revert(model);
  a.revert(model);
  a.apply(model);
  expect(() => a.apply(model)).toThrow(/already applied/);
  a.revert(model);
  const other = await loadModel(path.join(ROOT, 'test-fixtures/parity/gpt2-trained-wordlevel'));
  try {
    expect(() => a.apply(other)).toThrow(/share the tokenizer/);
  } finally {
    other.dispose();
  }
});
