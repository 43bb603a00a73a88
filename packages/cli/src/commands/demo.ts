/**
 * `medit demo`: the first thing to run. On a fact-world model it picks a few facts the model
 * knows, edits each one with ROME (from the clean model, covariance over the filler text),
 * and shows the answers before and after for the edit prompt, a paraphrase it never saw in
 * training, and a neighbouring subject that must keep its answer, then CounterFact scores.
 *
 * Cases come from the CounterFact eval split built for the trained models
 * (test-fixtures/factworld/edits or edits-tiny, counterfact-eval.json, built from the model's own answers), else the schema preview, else they
 * are made from world.json + templates.json; only facts the model answers correctly are used.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, type EditRequest, ArgumentError, targetIds } from '@medit/core';
import { readDataset } from '@medit/data';
import { type CounterFactCaseMetrics, counterFactCaseMetrics, mean, targetNlls } from '@medit/metrics';
import { RomeEditor } from '@medit/rome';

import { type OptionSpecs, UsageError } from '../args';
import { type CommandContext, answer, checkCancelled, loadModelDir, repoFile, requireFile, resolvePath, romeHparams, shortPath, statsForEdit } from '../common';
import { formatDuration, formatInt } from '../output';
import { startsWithWords } from './edit';

export const DEMO_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'fact-world model (default test-fixtures/models/fact-small, else fact-tiny)' },
  count: { type: 'string', value: 'N', description: 'how many facts to edit (default 3)' },
  dataset: { type: 'string', value: 'FILE', description: "CounterFact file to take the facts from (default: the fact world's eval split)" },
  hparams: { type: 'string', value: 'FILE', description: 'ROME hyperparameters (.json or .yaml)' },
  'stats-cache': { type: 'string', value: 'DIR', description: 'covariance cache directory (default: $MEDIT_CACHE_DIR/stats or ~/.cache/medit/stats)' },
  'no-covariance': { type: 'boolean', description: 'use C = I instead of covariance statistics' },
};

const MODELS = ['test-fixtures/models/fact-small', 'test-fixtures/models/fact-tiny'];
const EDIT_DIRS = ['test-fixtures/factworld/edits', 'test-fixtures/factworld/edits-tiny'];
const PREVIEW = 'test-fixtures/factworld/preview/counterfact-eval.json';

/**
 * The eval split built from this model's own answers (its edits-manifest.json names the
 * model's answers.json), else any built split, else the schema preview.
 */
function evalSplitFor(io: CommandContext['io'], modelDir: string): string | undefined {
  const built = EDIT_DIRS.map((d) => repoFile(io, path.join(d, 'counterfact-eval.json'))).filter((f): f is string => f !== undefined);
  const own = built.find((f) => {
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(path.dirname(f), 'edits-manifest.json'), 'utf8'));
      return path.resolve(path.dirname(resolvePath(io, manifest.answers))) === path.resolve(modelDir);
    } catch {
      return false;
    }
  });
  return own ?? built[0] ?? repoFile(io, PREVIEW);
}

/** One demo edit with the prompts it is checked on. */
export interface DemoCase {
  id: string;
  request: EditRequest & { targetTrue: string };
  paraphrases: string[];
  /** neighbouring prompts; their answer is `targetTrue` before and after */
  neighbours: string[];
}

interface WorldFile {
  entities: { id: number; name: string; type: string }[];
  facts: { subject: number; relation: string; object: number }[];
  evalSubjects: number[];
}
interface TemplatesFile {
  relations: { id: string; background: boolean; train: string[]; heldout: string[] }[];
}

function* datasetCases(file: string): Generator<DemoCase> {
  for (const c of readDataset(file).cases) {
    const r = c.request;
    if (r.targetTrue === undefined || c.rephrasePrompts.length === 0 || c.localityPrompts.length === 0) continue;
    yield {
      id: `${shortName(file)}#${c.id}`,
      request: { prompt: r.prompt, subject: r.subject, targetNew: r.targetNew, targetTrue: r.targetTrue },
      paraphrases: c.rephrasePrompts,
      // CounterFact neighbourhood prompts share the true object (their answer is target_true)
      neighbours: c.localityPrompts.filter((p) => p.answer === r.targetTrue).map((p) => p.prompt),
    };
  }
}

function shortName(file: string): string {
  return file.split(/[\\/]/).slice(-2).join('/');
}

/** Cases made from the world's facts: a training phrasing, a held-out paraphrase, a subject with the same object. */
export function* worldCases(worldFile: string, templatesFile: string): Generator<DemoCase> {
  const world = JSON.parse(fs.readFileSync(worldFile, 'utf8')) as WorldFile;
  const templates = JSON.parse(fs.readFileSync(templatesFile, 'utf8')) as TemplatesFile;
  const relations = new Map(templates.relations.filter((r) => !r.background).map((r) => [r.id, r]));
  const name = (id: number) => world.entities[id].name;
  const evalSet = new Set(world.evalSubjects);
  const facts = world.facts.filter((f) => relations.has(f.relation));
  const ordered = [...facts.filter((f) => evalSet.has(f.subject)), ...facts.filter((f) => !evalSet.has(f.subject))];
  for (const f of ordered) {
    const rel = relations.get(f.relation)!;
    const sameRelation = facts.filter((g) => g.relation === f.relation);
    const neighbour = sameRelation.find((g) => g.object === f.object && g.subject !== f.subject);
    const other = [...new Set(sameRelation.map((g) => g.object))].sort((a, b) => a - b).find((o) => o !== f.object);
    if (!neighbour || other === undefined) continue;
    yield {
      id: `world:${name(f.subject)}/${f.relation}`,
      request: { prompt: rel.train[0], subject: name(f.subject), targetNew: name(other), targetTrue: name(f.object) },
      paraphrases: [rel.heldout[0].replace('{}', name(f.subject))],
      neighbours: [rel.train[0].replace('{}', name(neighbour.subject))],
    };
  }
}

/** Answer length that covers both targets. */
function answerTokens(model: CausalLM, r: DemoCase['request']): number {
  return Math.max(targetIds(model.tokenizer!, r.targetNew).length, targetIds(model.tokenizer!, r.targetTrue).length);
}

/**
 * The first `n` cases whose fact (and first neighbour's) the model answers correctly, one per
 * subject (`seen` holds subjects already picked from earlier sources).
 */
export function pickKnownCases(model: CausalLM, candidates: Iterable<DemoCase>, n: number, seen = new Set<string>(), maxTries = 200): DemoCase[] {
  const picked: DemoCase[] = [];
  let tries = 0;
  for (const c of candidates) {
    if (picked.length >= n || tries++ >= maxTries) break;
    if (c.neighbours.length === 0 || seen.has(c.request.subject)) continue;
    const k = answerTokens(model, c.request);
    const knows = (prompt: string) => startsWithWords(answer(model, prompt, k), c.request.targetTrue);
    if (knows(c.request.prompt.replace('{}', c.request.subject)) && knows(c.neighbours[0])) {
      picked.push(c);
      seen.add(c.request.subject);
    }
  }
  return picked;
}

const pct = (x: number | null) => (x === null ? '  –  ' : x.toFixed(2));

export async function runDemo(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const count = args.int('count', { min: 1, max: 50 }) ?? 3;
  const modelArg = args.string('model');
  const modelDir = modelArg ?? MODELS.map((m) => repoFile(io, m)).find((p) => p !== undefined);
  if (!modelDir) throw new UsageError(`no fact-world model found (looked for ${MODELS.join(', ')}); train one (scripts/factworld/train.ts) or pass --model DIR`, 'demo');
  const model = await loadModelDir(io, modelDir);
  let editor: RomeEditor | undefined;
  let stats: Awaited<ReturnType<typeof statsForEdit>>['stats'];
  try {
    const hp = romeHparams(io, args, model);
    // Cases: the eval split (or preview), then the world itself, keeping facts the model knows.
    const sources: Iterable<DemoCase>[] = [];
    const datasetArg = args.string('dataset');
    if (datasetArg) sources.push(datasetCases(requireFile(resolvePath(io, datasetArg), 'dataset file')));
    else {
      const evalSplit = evalSplitFor(io, modelDir);
      if (evalSplit) sources.push(datasetCases(evalSplit));
      const worldFile = repoFile(io, 'test-fixtures/factworld/world.json');
      const templatesFile = repoFile(io, 'test-fixtures/factworld/templates.json');
      if (worldFile && templatesFile) sources.push(worldCases(worldFile, templatesFile));
    }
    const cases: DemoCase[] = [];
    const seen = new Set<string>();
    for (const s of sources) if (cases.length < count) cases.push(...pickKnownCases(model, s, count - cases.length, seen));
    if (cases.length === 0) {
      throw new ArgumentError(`${modelDir} answers none of the facts the demo tried${datasetArg ? ` from ${datasetArg}` : '; the demo needs a trained fact-world model (fact-small or fact-tiny)'}`);
    }

    const cov = await statsForEdit(ctx, model, hp);
    stats = cov.stats;
    out.line(`medit demo: ROME on ${shortPath(io, modelDir)} (${model.config.numLayers} layers, editing layer ${hp.layers[0]})`);
    out.line(
      cov.summary
        ? `covariance of layer ${hp.layers[0]}'s MLP keys over ${formatInt(cov.summary.tokens as number)} tokens of ${cov.summary.corpus ?? 'cached statistics'}${cov.summary.cached ? ' (cached)' : ''}`
        : 'no covariance (C = I)',
    );
    editor = new RomeEditor(hp, { stats });
    const rows: Record<string, unknown>[] = [];
    const metricsBefore: CounterFactCaseMetrics[] = [];
    const metricsAfter: CounterFactCaseMetrics[] = [];
    for (const [i, c] of cases.entries()) {
      const r = c.request;
      const k = answerTokens(model, r);
      const prompt = r.prompt.replace('{}', r.subject);
      const probes = [
        { kind: 'prompt', text: prompt, expect: 'new' as const },
        { kind: 'paraphrase', text: c.paraphrases[0], expect: 'new' as const },
        { kind: 'neighbour', text: c.neighbours[0], expect: 'true' as const },
      ];
      // CounterFact scores from the mean target NLLs (ROME's eval_utils_counterfact)
      const score = () =>
        counterFactCaseMetrics({
          rewrite: targetNlls(model, [prompt], r.targetNew, r.targetTrue),
          paraphrase: targetNlls(model, c.paraphrases, r.targetNew, r.targetTrue),
          neighborhood: targetNlls(model, c.neighbours, r.targetNew, r.targetTrue),
        });
      const before = probes.map((p) => answer(model, p.text, k));
      metricsBefore.push(score());
      const started = Date.now();
      const delta = await editor.edit(model, [r], { signal: io.signal });
      const editMs = Date.now() - started;
      await checkCancelled(io).catch((err) => {
        delta.dispose();
        throw err;
      });
      delta.apply(model);
      let after: string[];
      try {
        after = probes.map((p) => answer(model, p.text, k));
        metricsAfter.push(score());
      } finally {
        delta.dispose(); // reverts: every edit starts from the clean model
      }
      out.line('');
      out.line(`${i + 1}. ${prompt} … ${r.targetTrue} → ${r.targetNew}   (${formatDuration(editMs)})`);
      const probeRows = probes.map((p, j) => {
        const ok = p.expect === 'new' ? startsWithWords(after[j], r.targetNew) : after[j] === before[j];
        out.line(`   ${p.kind.padEnd(10)} ${p.text}`);
        out.line(`   ${''.padEnd(10)} before: ${before[j].padEnd(24)} after: ${after[j].padEnd(24)} ${ok ? '✓' : '✗'}${p.expect === 'true' ? (ok ? ' unchanged' : ' changed') : ''}`);
        return { kind: p.kind, prompt: p.text, before: before[j], after: after[j], ok };
      });
      rows.push({ id: c.id, request: r, probes: probeRows, editMs, metrics: metricsAfter[i] });
    }
    const keys = ['efficacyScore', 'paraphraseScore', 'neighborhoodScore'] as const;
    const avg = (ms: CounterFactCaseMetrics[], key: (typeof keys)[number]) => {
      const xs = ms.map((m) => m[key]).filter((x): x is number => x !== null);
      return xs.length ? mean(xs) : null;
    };
    const summary = Object.fromEntries(keys.map((key) => [key, { before: avg(metricsBefore, key), after: avg(metricsAfter, key) }]));
    out.line('');
    out.line(`CounterFact scores over ${cases.length} edit${cases.length === 1 ? '' : 's'} (before → after):`);
    for (const key of keys) out.line(`  ${key.padEnd(20)} ${pct(summary[key].before)} → ${pct(summary[key].after)}`);
    out.result({ model: modelDir, layer: hp.layers[0], covariance: cov.summary, cases: rows, metrics: summary });
    return 0;
  } finally {
    editor?.dispose();
    for (const s of stats?.values() ?? []) s.mom2Sum.dispose();
    model.dispose();
  }
}
