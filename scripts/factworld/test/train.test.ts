/** Training on the fact world through the engine: packing is sound and the loss falls. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { AdamW, Tokenizer, createModel, crossEntropy, grad, mulberry32, tidy } from '@medit/core';

import { ROW, packRows } from '../train';

const WORLD = path.resolve(__dirname, '../../../test-fixtures/factworld');

test('packRows keeps lines whole, separates them with EOS and ignores padding in the targets', () => {
  const lines = [[5, 6, 7], [8, 9], Array.from({ length: 62 }, (_, i) => 10 + i)];
  const { ids, targets } = packRows(lines, 0, mulberry32(1));
  expect(ids.every((r) => r.length === ROW)).toBe(true);
  const flat = ids.flat();
  for (const line of lines) expect(ids.some((r) => r.join(',').includes(line.join(',')))).toBe(true);
  expect(flat.filter((t) => t >= 5).length).toBe(3 + 2 + 62);
  // target at t is the next token inside the row; padding never a target
  ids.forEach((r, i) => targets[i].forEach((t, j) => (t === -100 ? undefined : expect(t).toBe(r[j + 1]))));
});

test('a micro GPT-2 trained for a few steps on the fact-world corpus lowers its loss', () => {
  const tok = Tokenizer.fromFile(path.join(WORLD, 'tokenizer/tokenizer.json'));
  const lines = fs
    .readFileSync(path.join(WORLD, 'corpus/train-tiny.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, 200)
    .map((l) => tok.encode(l));
  const model = createModel({ model_type: 'gpt2', vocab_size: tok.vocabSize, n_embd: 32, n_layer: 1, n_head: 2, n_positions: ROW }, { seed: 1 });
  const params = [...model.params.values()];
  for (const p of params) p.requiresGrad = true;
  const opt = new AdamW(params, { lr: 1e-2 });
  const { ids, targets } = packRows(lines, tok.eosTokenId ?? 0, mulberry32(2));
  const batch = ids.slice(0, 8);
  const tgt = targets.slice(0, 8).flat();
  const losses: number[] = [];
  for (let step = 0; step < 15; step++) {
    losses.push(
      tidy(() => {
        const loss = crossEntropy(model.forward(batch).logits, tgt);
        opt.update(grad(loss, params));
        return loss.item();
      }),
    );
  }
  expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.7);
  opt.dispose();
  model.dispose();
});
