/**
 * `medit edit --method <m>` for every method of the method table (packages/cli/src/methods.ts):
 * each edits, reports per prompt (edit prompt, paraphrase, neighbour) the answer before and after
 * and whether the new target is the top answer, and saves an edit that `medit generate --delta`
 * applies again (weights, T-Patcher / CaliNet patch neurons, SERAC / IKE memories; `medit eval
 * --delta` evaluates a saved memory). `--require-success` fails an edit that did not take;
 * mend / ke / serac / ike use the shipped editors on fact-small and name them elsewhere.
 * Fast hyperparameters on the HF parity model; the trained editors on fact-small.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { EDIT_METHOD_NAMES } from '../src/methods';
import { FIX, PARITY_MODEL, ROOT, runCli } from './helpers/run';

const FILLER = path.join(ROOT, 'test-fixtures/factworld/filler.txt');
const SMALL = path.join(ROOT, 'test-fixtures/models/fact-small');
const SMALL_EVAL = path.join(ROOT, 'test-fixtures/factworld/edits/counterfact-eval.json');

let tmp: string;
let memory: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-edit-methods-'));
  memory = path.join(tmp, 'memory.txt');
  fs.writeFileSync(memory, ['The Big Ben is located in London', 'The mother tongue of Marie Curie is Polish', 'The Colosseum is located in Rome'].join('\n'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function hparams(name: string, h: object): string {
  const file = path.join(tmp, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(h));
  return file;
}

const PROMPT = 'The Eiffel Tower is located in';
const EIFFEL = ['--prompt', 'The {} is located in', '--subject', 'Eiffel Tower', '--target', 'Tokyo', '--paraphrase', 'Tourists visit the Eiffel Tower in', '--neighbour', 'The Big Ben is located in'];
const MASS = { v_num_grad_steps: 2, context_template_length_params: [[5, 1]], mom2_n_samples: 300 };

interface Probe {
  kind: string;
  text: string;
  before: string;
  after: string;
  targetTop?: { before: boolean; after: boolean };
  unchanged?: boolean;
  ok: boolean;
}

/** method → [editor name, kind of edit file, extra arguments] (mend, ke, serac, ike: on fact-small below) */
const CASES: [string, string, () => string[]][] = [
  ['rome', 'ROME', () => ['--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json')]],
  ['memit', 'MEMIT', () => ['--hparams', hparams('memit', MASS), '--stats-corpus', FILLER, '--stats-cache', path.join(tmp, 'stats')]],
  ['emmet', 'EMMET', () => ['--hparams', hparams('emmet', MASS), '--stats-corpus', FILLER, '--stats-cache', path.join(tmp, 'stats')]],
  ['alphaedit', 'AlphaEdit', () => ['--hparams', hparams('alphaedit', MASS), '--stats-corpus', FILLER, '--stats-cache', path.join(tmp, 'stats')]],
  ['ft', 'FT', () => ['--hparams', hparams('ft', { num_steps: 3 })]],
  ['ft-l', 'FT-L', () => ['--hparams', hparams('ft-l', { num_steps: 3 })]],
  ['ft-m', 'FT-M', () => ['--hparams', hparams('ft-m', { num_steps: 3 })]],
  ['ft+kl', 'FT+KL', () => ['--hparams', hparams('ft-kl', { num_steps: 3 }), '--memory', memory]],
  ['kn', 'KN', () => ['--target-true', 'Paris', '--hparams', hparams('kn', { steps: 4, batch_size: 4 })]],
  ['tpatcher', 'T-Patcher', () => ['--memory', memory, '--hparams', hparams('tpatcher', { max_edit_step: 6, start_val_epoch: 2, check_val_every_n_epoch: 2, memory_top_k: 2 })]],
  ['calinet', 'CaliNet', () => ['--hparams', hparams('calinet', { ex_size: 4, max_steps: 5, check_every: 5 })]],
];

test('every method of the table is covered here', () => {
  expect([...CASES.map((c) => c[0]), 'mend', 'ke', 'serac', 'ike'].sort()).toEqual([...EDIT_METHOD_NAMES].sort());
});

test.each(CASES)('edit --method %s: before → after per prompt, and the saved edit applies again in generate --delta', async (method, name, extra) => {
  const file = path.join(tmp, `${method}.safetensors`);
  const r = await runCli(['edit', '--model', PARITY_MODEL, ...EIFFEL, '--method', method, ...extra(), '--save-delta', file, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ method: name, delta: file });
  const [edit] = r.result!.edits as { after: string; success: boolean; probes: Probe[] }[];
  expect(edit.probes.map((p) => [p.kind, p.text, p.before])).toEqual([
    ['prompt', PROMPT, 'Paris.'],
    ['paraphrase', 'Tourists visit the Eiffel Tower in', expect.any(String)],
    ['neighbour', 'The Big Ben is located in', 'London.'],
  ]);
  for (const p of edit.probes) {
    if (p.kind === 'neighbour') expect(p.ok).toBe(p.after === p.before);
    else {
      // "Tokyo" is not the parity model's answer before any edit; ok is whether it is after
      expect(p.targetTop!.before).toBe(false);
      expect(p.ok).toBe(p.targetTop!.after);
      if (p.targetTop!.after) expect(p.after.startsWith('Tokyo')).toBe(true);
    }
  }
  expect(edit.success).toBe(edit.probes[0].ok);
  const g = await runCli(['generate', '--model', PARITY_MODEL, '--prompt', PROMPT, '--max-new-tokens', '5', '--delta', file, '--json']);
  expect(g.code).toBe(0);
  expect(g.result).toMatchObject({ method: name, sameModel: true });
  expect(g.result!.after.split('\n')[0].trim()).toBe(edit.after);
});

test('the human output: one line per prompt with before → after and the verdict', async () => {
  const r = await runCli(['edit', '--model', PARITY_MODEL, ...EIFFEL, '--method', 'ft-m', '--hparams', hparams('ft-m-10', { num_steps: 10 })]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(
    [
      'edit 1: The Eiffel Tower is located in → Tokyo',
      '  prompt     The Eiffel Tower is located in       Paris.  → Tokyo.    ✓ "Tokyo" is now the top answer',
      '  paraphrase Tourists visit the Eiffel Tower in   Paris.  → Paris.    ✗ "Tokyo" is not the top answer',
      '  neighbour  The Big Ben is located in            London. → London.   ✓ unchanged',
    ].join('\n'),
  );
  expect(r.stdout).toMatch(/^edited in .+; "Tokyo" is the top answer to 1 of 1 edit prompt$/m);
});

test('--require-success: an edit that takes exits 0 and saves; one that does not exits 1 and saves nothing', async () => {
  const ok = path.join(tmp, 'ok.safetensors');
  const good = await runCli(['edit', '--model', PARITY_MODEL, ...EIFFEL, '--method', 'ft-m', '--hparams', hparams('ft-m-10', { num_steps: 10 }), '--require-success', '--save-delta', ok]);
  expect(good.code).toBe(0);
  expect(fs.existsSync(ok)).toBe(true);
  const bad = path.join(tmp, 'bad.safetensors');
  const weak = ['edit', '--model', PARITY_MODEL, ...EIFFEL, '--method', 'ft-m', '--hparams', hparams('ft-m-1', { num_steps: 1 }), '--save-delta', bad];
  const plain = await runCli(weak);
  expect(plain.code).toBe(0); // without the flag a failed edit is reported, not an error
  expect(plain.stdout).toMatch(/✗ "Tokyo" is not the top answer/);
  fs.rmSync(bad);
  const r = await runCli([...weak, '--require-success']);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('medit edit: error: the edit did not take: "Tokyo" is not the top answer to "The Eiffel Tower is located in" (it answers "Paris."); nothing was saved (--require-success)\n');
  expect(fs.existsSync(bad)).toBe(false);
  const json = await runCli([...weak, '--require-success', '--json']);
  expect(json.code).toBe(1);
  expect(json.result).toMatchObject({ success: false, delta: null });
  expect(json.lines[json.lines.length - 1]).toMatchObject({ type: 'error', exitCode: 1, error: { name: 'EditFailedError' } });
});

test('kn without --target-true says which answer it needs', async () => {
  const r = await runCli(['edit', '--model', PARITY_MODEL, ...EIFFEL, '--method', 'kn']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--method kn changes the answer the model gives now: give it with --target-true (the model answers "Paris." to "The Eiffel Tower is located in")');
});

test.each([
  ['mend', 'test-fixtures/editors/mend-fact-small.safetensors'],
  ['ke', 'test-fixtures/editors/ke-fact-small.safetensors'],
  ['serac', 'test-fixtures/serac/fact-small'],
  ['ike', 'test-fixtures/serac/fact-small/scope-embedding'],
])('--method %s without --editor names the shipped editor, and uses it on fact-small', async (method, shipped) => {
  const elsewhere = await runCli(['edit', '--model', PARITY_MODEL, ...EIFFEL, '--method', method]);
  expect(elsewhere.code).toBe(2);
  expect(elsewhere.stderr).toContain(`--method ${method} needs --editor (`);
  expect(elsewhere.stderr).toContain(`the repository ships ${shipped}, trained for test-fixtures/models/fact-small`);
  const evalElsewhere = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', path.join(FIX, 'counterfact-parity.json'), '--method', method, '--out', path.join(tmp, 'x')]);
  expect(evalElsewhere.code).toBe(2);
  expect(evalElsewhere.stderr).toContain(`the repository ships ${shipped}`);

  const onSmall = await runCli(['edit', '--model', SMALL, '--prompt', '{} can be found in the city of', '--subject', 'Shohun Castle', '--target', 'Raifain', '--method', method]);
  expect(onSmall.code).toBe(0);
  expect(onSmall.stdout).toContain(`editor  ${shipped} (shipped for fact-small)`);
  expect(onSmall.stdout).toMatch(/^  prompt     Shohun Castle can be found in the city of   Gimam\. → .+$/m);
});

describe('SERAC and IKE edits are memories that generate and eval use', () => {
  const FACTS = [
    { prompt: 'The country where {} is located is', subject: 'Shohun Castle', target_new: 'Grebolt' },
    { prompt: '{} grew up speaking', subject: 'Shukreil Hanalt', target_new: 'Gaiman' },
  ];

  test.each(['serac', 'ike'])('%s: two edits saved as a memory; generate --delta routes each prompt as the edit did', async (method) => {
    const requests = path.join(tmp, 'facts.jsonl');
    fs.writeFileSync(requests, FACTS.map((f) => JSON.stringify(f)).join('\n'));
    const file = path.join(tmp, `${method}-memory.safetensors`);
    const k = method === 'ike' ? ['--k', '4'] : [];
    const r = await runCli(['edit', '--model', SMALL, '--requests', requests, '--method', method, ...k, '--save-delta', file, '--json']);
    expect(r.code).toBe(0);
    expect(r.result!.method).toBe(method === 'serac' ? 'SERAC' : 'IKE');
    // --out is refused for a memory: no weight changes
    const noOut = await runCli(['edit', '--model', SMALL, '--requests', requests, '--method', method, '--out', path.join(tmp, 'never')]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/keeps its edits in a memory beside the unchanged model; save the edit with --save-delta FILE/);
    const edits = r.result!.edits as { prompt: string; before: string; after: string }[];
    for (const e of edits) {
      const g = await runCli(['generate', '--model', SMALL, '--prompt', e.prompt, '--max-new-tokens', '5', '--delta', file, '--json']);
      expect(g.code).toBe(0);
      expect(g.result!.before.split('\n')[0].trim()).toBe(e.before);
      expect(g.result!.after.split('\n')[0].trim()).toBe(e.after);
    }
  });

  test('eval --delta evaluates the model with the SERAC memory saved above', async () => {
    const file = path.join(tmp, 'serac-memory.safetensors');
    const args = ['eval', '--model', SMALL, '--dataset', SMALL_EVAL, '--method', 'none', '--limit', '1', '--json'];
    const plain = await runCli([...args, '--out', path.join(tmp, 'plain')]);
    const withMemory = await runCli([...args, '--delta', file, '--out', path.join(tmp, 'memory')]);
    expect([plain.code, withMemory.code]).toEqual([0, 0]);
    expect(withMemory.result).toMatchObject({ delta: file });
    // the first eval case is the first edit of the memory: Shohun Castle → Grebolt
    const es = (r: typeof plain) => r.result!.summary.unedited.efficacyScore;
    expect([es(plain), es(withMemory)]).toEqual([0, 1]);
  });
});
