/**
 * `medit demo`: picks facts the model knows, edits each from the clean model, and reports
 * the prompt / paraphrase / neighbour answers and CounterFact scores before and after.
 * The pipeline is checked on the HF parity model with a two-case CounterFact file; the real
 * demo (a trained fact-world model, covariance on) runs when test-fixtures/models/fact-tiny exists.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { FIX, PARITY_MODEL, ROOT, runCli } from './helpers/run';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-demo-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Probe {
  kind: string;
  prompt: string;
  before: string;
  after: string;
  ok: boolean;
}

test('demo on the parity model: known facts only, answers and scores before/after', async () => {
  const r = await runCli(['demo', '--model', PARITY_MODEL, '--dataset', path.join(FIX, 'demo-parity.json'), '--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json'), '--json']);
  expect(r.code).toBe(0);
  const res = r.result!;
  expect(res).toMatchObject({ layer: 0, covariance: null });
  expect(res.cases.map((c: { request: { subject: string } }) => c.request.subject)).toEqual(['Akira Kurosawa', 'Eiffel Tower']);
  const [kurosawa] = res.cases as { request: { targetNew: string; targetTrue: string }; probes: Probe[] }[];
  expect(kurosawa.probes.map((p) => [p.kind, p.prompt, p.before])).toEqual([
    ['prompt', 'The mother tongue of Akira Kurosawa is', 'Japanese'],
    ['paraphrase', 'Akira Kurosawa speaks', 'Japanese'],
    ['neighbour', 'The mother tongue of Toko Yasuda is', 'Japanese'],
  ]);
  for (const c of res.cases as { request: { targetNew: string }; probes: Probe[] }[]) {
    for (const p of c.probes) {
      const expected = p.kind === 'neighbour' ? p.after === p.before : p.after.startsWith(c.request.targetNew);
      expect([p.kind, p.ok]).toEqual([p.kind, expected]);
    }
  }
  // Before the edit the model prefers every true answer.
  expect(res.metrics.efficacyScore.before).toBe(0);
  expect(res.metrics.paraphraseScore.before).toBe(0);
  expect(res.metrics.neighborhoodScore.before).toBe(1);
  for (const k of ['efficacyScore', 'paraphraseScore', 'neighborhoodScore']) {
    const after = res.metrics[k].after as number;
    expect(after).toBeGreaterThanOrEqual(0);
    expect(after).toBeLessThanOrEqual(1);
  }
});

test('demo with a dataset of facts the model does not know fails naming the file', async () => {
  const r = await runCli(['demo', '--model', PARITY_MODEL, '--dataset', path.join(ROOT, 'test-fixtures/factworld/preview/counterfact-eval.json'), '--no-covariance']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/answers none of the facts the demo tried from .*preview\/counterfact-eval\.json/);
});

const FACT_TINY = path.join(ROOT, 'test-fixtures/models/fact-tiny');
const haveTiny = fs.existsSync(path.join(FACT_TINY, 'model.safetensors'));
if (!haveTiny) console.warn(`demo.test.ts: ${FACT_TINY} is missing (train it with scripts/factworld/train.ts); the fact-world demo test is skipped`);

(haveTiny ? test : test.skip)('demo on fact-tiny: facts it knows, covariance over the filler text, answers before/after', async () => {
  // Short ROME (the 2-layer fact-tiny is too shallow for ROME to rewrite its facts reliably;
  // this checks the demo's pipeline on a real fact-world model, not ROME's efficacy).
  const hp = path.join(tmp, 'hp.json');
  fs.writeFileSync(hp, JSON.stringify({ v_num_grad_steps: 3, context_template_length_params: [[5, 2]], mom2_n_samples: 300 }));
  const r = await runCli(['demo', '--model', FACT_TINY, '--count', '2', '--hparams', hp, '--stats-cache', path.join(tmp, 'stats'), '--json']);
  expect(r.code).toBe(0);
  const res = r.result!;
  expect(res.covariance).toMatchObject({ corpus: 'test-fixtures/factworld/filler.txt', cached: false });
  expect(res.covariance.tokens).toBeGreaterThan(300);
  expect(res.cases).toHaveLength(2);
  const subjects = new Set<string>();
  for (const c of res.cases as { request: { subject: string; targetTrue: string; targetNew: string }; probes: Probe[] }[]) {
    subjects.add(c.request.subject);
    expect(c.request.targetNew).not.toBe(c.request.targetTrue);
    // picked because the model answers the fact and the neighbour's
    expect(c.probes[0].before).toBe(c.request.targetTrue);
    expect(c.probes[2].before).toBe(c.request.targetTrue);
  }
  expect(subjects.size).toBe(2);
  expect(res.metrics.efficacyScore.before).toBe(0);
  expect(res.metrics.neighborhoodScore.before).toBe(1);
});

test('world cases: a training phrasing, a held-out paraphrase, a neighbour with the same true object, a new object of the same relation', async () => {
  const { worldCases } = await import('../src/commands/demo');
  const fw = path.join(ROOT, 'test-fixtures/factworld');
  const world = JSON.parse(fs.readFileSync(path.join(fw, 'world.json'), 'utf8'));
  const templates = JSON.parse(fs.readFileSync(path.join(fw, 'templates.json'), 'utf8'));
  const idOf = new Map<string, number>(world.entities.map((e: { id: number; name: string }) => [e.name, e.id]));
  const fact = (s: number, rel: string) => world.facts.find((f: { subject: number; relation: string }) => f.subject === s && f.relation === rel);
  const gen = worldCases(path.join(fw, 'world.json'), path.join(fw, 'templates.json'));
  const first = Array.from({ length: 20 }, () => gen.next().value!);
  expect(world.evalSubjects).toContain(idOf.get(first[0].request.subject)); // eval-split subjects first
  for (const c of first) {
    const r = c.request;
    const rel = templates.relations.find((x: { train: string[] }) => x.train[0] === r.prompt);
    expect(rel).toBeDefined();
    expect(rel.background).toBe(false);
    expect(fact(idOf.get(r.subject)!, rel.id).object).toBe(idOf.get(r.targetTrue));
    expect(r.targetNew).not.toBe(r.targetTrue);
    expect(world.facts.some((f: { relation: string; object: number }) => f.relation === rel.id && f.object === idOf.get(r.targetNew))).toBe(true);
    expect(c.paraphrases).toEqual([rel.heldout[0].replace('{}', r.subject)]);
    const neighbour = world.entities.find((e: { name: string }) => c.neighbours[0] === rel.train[0].replace('{}', e.name));
    expect(neighbour.name).not.toBe(r.subject);
    expect(fact(neighbour.id, rel.id).object).toBe(idOf.get(r.targetTrue));
  }
});
