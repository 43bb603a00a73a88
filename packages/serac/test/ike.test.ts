/**
 * IKE on fact-tiny: demonstration construction (copy / update / retain in the 1:3:4 ratio, the
 * nearest demonstration last), retrieval by the sentence encoder, and editing by prompting — the
 * applied delta feeds every row to the model after its context, at the row's own positions, drops
 * the farthest demonstrations when the context would overflow, reverts exactly and round-trips
 * through save/load.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, EditDelta, fillTemplate, loadModel, noGrad, tidy } from '@medit/core';
import { readDataset } from '@medit/data';

import { createBertEncoder, EngineEncoder, IKE_TEMPLATE, IkeDelta, IkeEditor, ikeDemo, ikeKinds, ikePool, ikeTemplateFor, PLAIN_IKE_TEMPLATE, type TextEncoder } from '../src';

const ROOT = path.resolve(__dirname, '../../..');
const TINY = path.join(ROOT, 'test-fixtures/models/fact-tiny');
const TRAIN = readDataset(path.join(ROOT, 'test-fixtures/factworld/edits-tiny/counterfact-train.json')).cases;
const EVAL = readDataset(path.join(ROOT, 'test-fixtures/factworld/edits-tiny/counterfact-eval.json')).cases;
const TEMPLATE = PLAIN_IKE_TEMPLATE;

let model: CausalLM;
let encoder: TextEncoder;

beforeAll(async () => {
  model = await loadModel(TINY);
  // any sentence encoder retrieves; a small random BERT over the same vocabulary keeps this test self-contained
  encoder = new EngineEncoder(createBertEncoder(model.tokenizer!, { hiddenSize: 32, layers: 1, heads: 2, intermediateSize: 64, maxPositions: 64, seed: 3 }), 'mean');
});

afterAll(() => {
  encoder.dispose();
  model.dispose();
});

function logits(ids: number[][]): Float32Array {
  return noGrad(() => tidy(() => model.forward(ids).logits.data() as Float32Array));
}

test('demonstration kinds follow IKE’s 4:12:16 order and formats', () => {
  const count = (k: number, kind: string) => ikeKinds(k).filter((x) => x === kind).length;
  expect([count(32, 'copy'), count(32, 'update'), count(32, 'retain')]).toEqual([4, 12, 16]);
  expect([count(8, 'copy'), count(8, 'update'), count(8, 'retain')]).toEqual([1, 3, 4]);
  // the fact world's word-level vocabulary has no "Fact", "Prompt" or newline tokens
  expect(ikeTemplateFor(model.tokenizer!)).toBe(PLAIN_IKE_TEMPLATE);
  expect(IKE_TEMPLATE.demo).toBe('New Fact: {fact}\nPrompt: {prompt} {answer}\n\n');
  const [r] = ikePool(TRAIN);
  const fact = `${r.prompt} ${r.targetNew}`;
  expect(ikeDemo(TEMPLATE, r, 'copy', () => 0)).toBe(`${fact}. ${r.prompt} ${r.targetNew}. `);
  expect(ikeDemo(TEMPLATE, r, 'update', () => 0)).toBe(`${fact}. ${r.paraphrases[0]} ${r.targetNew}. `);
  expect(ikeDemo(TEMPLATE, r, 'retain', () => 1)).toBe(`${fact}. ${r.neighbours[1]} ${r.targetTrue}. `);
});

test('retrieval returns k demonstrations with the nearest last, deterministically', () => {
  const pool = ikePool(TRAIN);
  const editor = new IkeEditor({ pool, encoder, k: 8, template: TEMPLATE });
  const demos = editor.demonstrations(EVAL[0].request);
  expect(demos).toHaveLength(8);
  expect(editor.demonstrations(EVAL[0].request)).toEqual(demos);
  // every demonstration states a pool record's fact
  for (const d of demos) expect(pool.some((r) => d.startsWith(`${r.prompt} ${r.targetNew}. `))).toBe(true);
  expect(() => new IkeEditor({ pool, encoder, k: pool.length + 1 })).toThrow(/k must be/);
});

test('each edit shuffles the kinds of its demonstrations anew (IKE shuffles per test case)', () => {
  const pool = ikePool(TRAIN);
  const editor = new IkeEditor({ pool, encoder, k: 8, template: TEMPLATE });
  const kindsOf = (demos: string[]) =>
    demos
      .map((d) => {
        const r = pool.find((x) => d.startsWith(`${x.prompt} ${x.targetNew}. `))!;
        const query = d.slice(`${r.prompt} ${r.targetNew}. `.length);
        return query === `${r.prompt} ${r.targetNew}. ` ? 'copy' : query.endsWith(` ${r.targetNew}. `) ? 'update' : 'retain';
      })
      .join(',');
  const orders = new Set(EVAL.slice(0, 6).map((c) => kindsOf(editor.demonstrations(c.request))));
  expect(orders.size).toBeGreaterThan(1);
  for (const o of orders) expect(o.split(',').sort()).toEqual(['copy', 'retain', 'retain', 'retain', 'retain', 'update', 'update', 'update']);
});

test('editing by prompting: rows read as context + " " + row, tokenized together, at their own positions; overflowing demonstrations are dropped; revert is exact', async () => {
  const tok = model.tokenizer!;
  const c = EVAL[0];
  const editor = new IkeEditor({ pool: ikePool(TRAIN), encoder, k: 8, template: TEMPLATE });
  const delta = await editor.edit(model, [c.request]);
  const prompt = fillTemplate(c.request.prompt, c.request.subject);
  const row = tok.encode(prompt);
  const before = logits([row]);
  delta.apply(model);
  const edited = logits([row]);
  delta.revert(model);
  expect(logits([row])).toEqual(before);
  // IKE's text is "{context} {query}" in one piece: the query's first word then has its leading
  // space (another token in this vocabulary than at a sequence's start), the rest is the row's
  const joint = (m: number) => tok.encode(`${delta.memory.contexts[0][m]} ${prompt}`, { addSpecialTokens: false });
  const context = (m: number) => tok.encode(delta.memory.contexts[0][m], { addSpecialTokens: false });
  expect(joint(8).slice(context(8).length + 1)).toEqual(row.slice(1));
  expect(joint(8)[context(8).length]).not.toBe(row[0]);
  // the context actually used: the most demonstrations that fit the model's 64 positions
  let m = 8;
  while (m > 0 && joint(m).length > model.config.maxPositions) m--;
  expect(delta.usage).toEqual({ rows: 1, demonstrations: m, truncated: m < 8 ? 1 : 0 });
  const direct = logits([joint(m)]);
  const V = model.config.vocabSize;
  const off = context(m).length * V;
  for (let i = 0; i < row.length * V; i += 31) expect(edited[i]).toBeCloseTo(direct[off + i], 4);
  // save / load keeps the contexts
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ike-'));
  try {
    await delta.save(path.join(dir, 'ike.safetensors'));
    const loaded = IkeDelta.from(await EditDelta.load(path.join(dir, 'ike.safetensors')));
    expect(loaded.memory).toEqual(delta.memory);
    loaded.apply(model);
    expect(logits([row])).toEqual(edited);
    loaded.revert(model);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
