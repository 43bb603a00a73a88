/**
 * Builds test-fixtures/memit/micro-facts: a 4-layer GPT-2 (d_model 64, d_ff 256) trained by
 * the engine on a slice of the fact world — the first 40 people, their citizenship (P27),
 * native language (P103) and occupation (P106), each stated with the 8 training phrasings,
 * plus 200 filler lines — so that MEMIT-style edits have facts stored in the MLPs of a model
 * with blocks after the edited layers. Deterministic (seeded); a few minutes on 2 cores.
 *
 *   npx tsc -b scripts
 *   MEDIT_ROOT=$PWD node scripts/dist/memit/build-micro-facts.js
 *
 * Writes the HF directory (config, safetensors, tokenizer files) plus `facts.json` (the
 * facts with the held-out phrasings) and `training.json` (loss history, recall).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { AdamW, Tokenizer, createModel, crossEntropy, grad, mulberry32, noGrad, saveModel, tidy } from '@medit/core';

const ROOT = path.resolve(process.env.MEDIT_ROOT ?? process.cwd());
const WORLD = path.join(ROOT, 'test-fixtures/factworld');
const OUT = path.join(ROOT, 'test-fixtures/memit/micro-facts');
const RELATIONS = ['P27', 'P103', 'P106'];
const PEOPLE = 40;
const ROW = 64;

interface Entity {
  id: number;
  name: string;
  type: string;
}

async function main(): Promise<void> {
  const world = JSON.parse(fs.readFileSync(path.join(WORLD, 'world.json'), 'utf8')) as { entities: Entity[]; facts: { subject: number; relation: string; object: number }[] };
  const templates = JSON.parse(fs.readFileSync(path.join(WORLD, 'templates.json'), 'utf8')) as { relations: { id: string; train: string[]; heldout: string[] }[] };
  const people = world.entities.filter((e) => e.type === 'person').slice(0, PEOPLE);
  const ids = new Set(people.map((p) => p.id));
  const name = (id: number) => world.entities[id].name;
  const facts = world.facts
    .filter((f) => ids.has(f.subject) && RELATIONS.includes(f.relation))
    .map((f) => {
      const rel = templates.relations.find((r) => r.id === f.relation)!;
      return { subject: name(f.subject), relation: f.relation, object: name(f.object), train: rel.train, heldout: rel.heldout };
    });
  const lines: string[] = [];
  for (const f of facts) for (const t of f.train) lines.push(`${t.replace('{}', f.subject)} ${f.object}.`);
  const filler = fs.readFileSync(path.join(WORLD, 'filler.txt'), 'utf8').split('\n').filter((l) => l.trim()).slice(0, 200);
  lines.push(...filler);

  const tokenizer = Tokenizer.fromFile(path.join(WORLD, 'tokenizer/tokenizer.json'));
  const eos = tokenizer.eosTokenId ?? 0;
  const encoded = lines.map((l) => tokenizer.encode(l));
  const config = {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: tokenizer.vocabSize,
    n_positions: ROW,
    n_embd: 64,
    n_layer: 4,
    n_head: 4,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
    bos_token_id: eos,
    eos_token_id: eos,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
  };
  const model = createModel(config, { seed: 6, tokenizer });
  const params = [...model.params.values()];
  for (const p of params) p.requiresGrad = true;
  const epochs = Number(process.env.EPOCHS ?? 80);
  const batch = 8;
  const lr = 3e-3;
  const opt = new AdamW(params, { lr, weightDecay: 0.01 });
  const rng = mulberry32(6);
  const history: number[] = [];
  const started = Date.now();
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    // lines shuffled each epoch and packed into rows of ROW tokens separated by EOS
    const order = encoded.map((_, i) => i).sort(() => rng() - 0.5);
    const rows: number[][] = [];
    let row: number[] = [eos];
    for (const i of order) {
      if (row.length + encoded[i].length + 1 > ROW) {
        rows.push(row);
        row = [eos];
      }
      row.push(...encoded[i], eos);
    }
    rows.push(row);
    let sum = 0;
    let n = 0;
    const perEpoch = Math.ceil(rows.length / batch);
    for (let b = 0; b < rows.length; b += batch) {
      const chunk = rows.slice(b, b + batch);
      const width = Math.max(...chunk.map((r) => r.length));
      const padded = chunk.map((r) => [...r, ...Array(width - r.length).fill(eos)]);
      const targets = chunk.flatMap((r) => Array.from({ length: width }, (_, t) => (t + 1 < r.length ? r[t + 1] : -100)));
      const warm = Math.min(1, (step + 1) / (2 * perEpoch));
      const rate = lr * warm * Math.max(0.1, 1 - epoch / epochs);
      const loss = tidy(() => {
        const l = crossEntropy(model.forward(padded).logits, targets);
        opt.update(grad(l, params), rate);
        return l.item();
      });
      sum += loss;
      n++;
      step++;
    }
    history.push(sum / n);
    console.log(JSON.stringify({ epoch, loss: sum / n, seconds: (Date.now() - started) / 1000 }));
  }
  for (const p of params) p.requiresGrad = false;
  // Recall: greedy first token of " object" after each training and held-out phrasing.
  let train = 0;
  let heldout = 0;
  let trainN = 0;
  let heldN = 0;
  const answered: boolean[] = [];
  for (const f of facts) {
    const first = tokenizer.encode(` ${f.object}`, { addSpecialTokens: false })[0];
    const top = (prompt: string) =>
      noGrad(() =>
        tidy(() => {
          const p = tokenizer.encode(prompt);
          const row = model.forward([[eos, ...p]], { logitsAt: [p.length] }).logits.data() as Float32Array;
          let best = 0;
          for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
          return best === first;
        }),
      );
    const ok = top(f.train[0].replace('{}', f.subject));
    answered.push(ok);
    for (const t of f.train) {
      trainN++;
      if (top(t.replace('{}', f.subject))) train++;
    }
    for (const t of f.heldout) {
      heldN++;
      if (top(t.replace('{}', f.subject))) heldout++;
    }
  }
  fs.rmSync(OUT, { recursive: true, force: true });
  await saveModel(model, OUT, { sideFilesFrom: path.join(WORLD, 'tokenizer'), metadata: { medit_trained: 'micro-facts' } });
  fs.writeFileSync(path.join(OUT, 'facts.json'), JSON.stringify(facts.map((f, i) => ({ subject: f.subject, relation: f.relation, object: f.object, answered: answered[i], prompt: f.train[0], heldout: f.heldout })), null, 1) + '\n');
  fs.writeFileSync(
    path.join(OUT, 'training.json'),
    JSON.stringify({ config, epochs, lines: lines.length, steps: step, seconds: (Date.now() - started) / 1000, loss: history, recall: { train: train / trainN, heldout: heldout / heldN } }, null, 1) + '\n',
  );
  console.log(JSON.stringify({ recall: { train: train / trainN, heldout: heldout / heldN } }));
  opt.dispose();
  model.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
