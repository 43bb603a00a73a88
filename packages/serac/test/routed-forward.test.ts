/**
 * Routed forward passes with a row read differently after its context (`RowContext.lead`): the
 * other model reads context ++ lead ++ the row's later tokens, and each row position gets the
 * logits of the same position counted from the row's end — uncached (scoring) and cached
 * (generation: later tokens continue the routed sequence).
 */
import * as path from 'node:path';

import { type CausalLM, KVCache, loadModel, noGrad, tidy } from '@medit/core';

import { type RowContext, routedForward } from '../src';

let model: CausalLM;
beforeAll(async () => {
  model = await loadModel(path.join(__dirname, '../../../test-fixtures/models/fact-tiny'));
});
afterAll(() => model.dispose());

const V = () => model.config.vocabSize;
const forward = (ids: number[][], opts = {}) => model.forward(ids, opts);
const data = (f: () => { logits: { data(): unknown } }) => noGrad(() => tidy(() => f().logits.data() as Float32Array));
/** logits of row b, position t, of a [B, T, V] output */
const at = (out: Float32Array, T: number, b: number, t: number) => out.subarray((b * T + t) * V(), (b * T + t + 1) * V());
const close = (a: Float32Array, b: Float32Array) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));

const CONTEXT = [11, 12, 13, 14];
const ROW = [21, 22, 23, 24, 25];
const CASES: [string, RowContext['lead']][] = [
  ['one token for one', { replaced: 1, tokens: [31] }],
  ['two tokens for one', { replaced: 1, tokens: [31, 32] }],
  ['none for one (a BOS dropped)', { replaced: 1, tokens: [] }],
];

test.each(CASES)('uncached: lead %s — each position reads context ++ lead ++ rest at its distance from the end', (_, lead) => {
  // row 0 routed with the lead, row 1 on the base model, padded to the same length
  const fwd = routedForward(forward, forward, (rows) => rows.map((_r, b) => (b === 0 ? { context: CONTEXT, lead } : null)), 64, 0);
  const T = ROW.length;
  const out = data(() => fwd([ROW, [41, 42, 43, 0, 0]], { attentionMask: [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]] }));
  const seq = [...CONTEXT, ...lead!.tokens, ...ROW.slice(lead!.replaced)];
  const direct = data(() => forward([seq]));
  const shift = lead!.tokens.length - lead!.replaced;
  for (let t = 0; t < T; t++) {
    const j = CONTEXT.length + Math.max(t + shift, -1);
    expect(close(at(out, T, 0, t), at(direct, seq.length, 0, j))).toBeLessThan(1e-4);
  }
  const base = data(() => forward([[41, 42, 43]]));
  expect(close(at(out, T, 1, 2), at(base, 3, 0, 2))).toBeLessThan(1e-4);
});

test.each(CASES)('cached: lead %s — the prompt and the next token continue the routed sequence', (_, lead) => {
  const fwd = routedForward(forward, forward, (rows) => rows.map(() => ({ context: CONTEXT, lead })), 64, 0);
  const cache = new KVCache();
  try {
    const first = data(() => fwd([ROW], { cache }));
    const next = data(() => fwd([[26]], { cache }));
    const seq = [...CONTEXT, ...lead!.tokens, ...ROW.slice(lead!.replaced), 26];
    const direct = data(() => forward([seq]));
    expect(close(at(first, ROW.length, 0, ROW.length - 1), at(direct, seq.length, 0, seq.length - 2))).toBeLessThan(1e-4);
    expect(close(at(next, 1, 0, 0), at(direct, seq.length, 0, seq.length - 1))).toBeLessThan(1e-4);
  } finally {
    cache.dispose();
  }
});
