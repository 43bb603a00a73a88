/**
 * The state behind `medit serve`'s page: one model, the edits made to it (applied in order,
 * undone newest first), and what each edit changed — greedy answers before and after for the
 * edit prompt, a paraphrase and a neighbour, and a small evaluation of the fact (EasyEdit's
 * token metrics from `@medit/metrics`, and the target's probability). Editors come from the
 * method table with the command's inputs (`flagInputs`: shipped editors on fact-small, the
 * filler text as memory and covariance corpus), the page's hyperparameters taking the place of
 * `--hparams`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, type EditDelta, ArgumentError, exportLoraAdapter, fillTemplate, saveModel, targetIds, templateFromPrompt } from '@medit/core';
import type { EditCase } from '@medit/data';
import { type MethodEditor, METHODS } from '@medit/methods';
import { meanNll, rewriteAcc, scoreTargets, tokenAccuracy, tokenAgreement } from '@medit/metrics';

import { Args } from '../args';
import { notAWeightEdit } from '../commands/export';
import { type CommandContext, answer, loadModelDir, repoFile, resolvePath, shortPath } from '../common';
import { flagInputs } from '../methods';

/** A prompt the page shows before and after an edit. */
export interface Probe {
  kind: 'prompt' | 'paraphrase' | 'neighbour';
  text: string;
  before: string;
  after: string;
}

/** One row of an edit's small evaluation. */
export interface EvalRow {
  metric: string;
  /** what it measures, shown as the row's tooltip */
  help: string;
  before: number;
  after: number;
}

/** An edit as the page lists it. */
export interface EditRecord {
  id: number;
  method: string;
  /** the editor's own name (ROME, MEND, ...) */
  editor: string;
  prompt: string;
  subject: string;
  target: string;
  probes: Probe[];
  eval: EvalRow[];
  ms: number;
  applied: boolean;
}

/** What the page sends to make an edit. */
export interface EditForm {
  method: string;
  /** the prompt with the subject in it (or a template with {}) */
  prompt: string;
  subject: string;
  target: string;
  paraphrase?: string;
  neighbour?: string;
  /** hyperparameters as JSON (EasyEdit / medit field names), in place of --hparams */
  hparams?: string;
}

/** Directories of the fact world's models, offered on the page. */
const MODEL_DIRS = 'test-fixtures/models';

/** Tokens of each answer shown (at least the target's length). */
const ANSWER_TOKENS = 6;

export class PlaygroundSession {
  private model: CausalLM | undefined;
  private modelDir: string | undefined;
  private readonly edits: { record: EditRecord; delta: EditDelta; editor: MethodEditor }[] = [];
  private nextId = 1;

  constructor(private readonly ctx: CommandContext) {}

  /** The model directories found under the working directory and the repository. */
  modelChoices(): string[] {
    const root = repoFile(this.ctx.io, MODEL_DIRS);
    if (!root) return [];
    return fs
      .readdirSync(root)
      .map((d) => path.join(root, d))
      .filter((d) => fs.existsSync(path.join(d, 'config.json')))
      .map((d) => shortPath(this.ctx.io, d))
      .sort();
  }

  /** What the page renders. */
  state() {
    const m = this.model;
    return {
      model: m ? { dir: this.modelDir!, type: m.config.modelType, layers: m.config.numLayers, hidden: m.config.hiddenSize } : null,
      models: this.modelChoices(),
      methods: Object.entries(METHODS).map(([name, s]) => ({ name, description: s.description, kind: s.kind, needsTargetTrue: s.needsTargetTrue === true })),
      history: this.edits.map((e) => e.record),
    };
  }

  /** Loads `dir`, dropping the current model and its edits. */
  async loadModel(dir: string): Promise<void> {
    const model = await loadModelDir(this.ctx.io, dir);
    this.clear();
    this.model = model;
    this.modelDir = dir;
  }

  private requireModel(): CausalLM {
    if (!this.model) throw new ArgumentError('load a model first');
    return this.model;
  }

  /** The greedy answer to `prompt` of the model as it is now. */
  ask(prompt: string): string {
    if (!prompt.trim()) throw new ArgumentError('Expected a prompt to answer but received an empty one');
    return answer(this.requireModel(), prompt, ANSWER_TOKENS);
  }

  /**
   * Edits the current model with the form's fact and method and keeps the edit applied.
   * @throws ArgumentError for an unknown method, a subject that is not in the prompt, hyperparameters that are not JSON, or whatever the method refuses
   */
  async edit(form: EditForm): Promise<EditRecord> {
    const model = this.requireModel();
    const spec = Object.prototype.hasOwnProperty.call(METHODS, form.method) ? METHODS[form.method] : undefined;
    if (!spec) throw new ArgumentError(`unknown method ${JSON.stringify(form.method)} (known: ${Object.keys(METHODS).join(', ')})`);
    const subject = form.subject.trim();
    const target = form.target.trim();
    if (!subject || !target || !form.prompt.trim()) throw new ArgumentError('Expected a prompt, a subject and a target');
    const template = form.prompt.includes('{}') ? form.prompt.trim() : templateFromPrompt(form.prompt.trim(), subject);
    if (spec.needsTargetTrue) throw new ArgumentError(`${form.method} edits the answer the model gives now and is run with medit edit --target-true; choose another method here`);
    let hparams: Record<string, unknown> | undefined;
    if (form.hparams?.trim()) {
      try {
        hparams = JSON.parse(form.hparams);
      } catch (err) {
        throw new ArgumentError(`hyperparameters: not JSON (${(err as Error).message})`);
      }
      if (typeof hparams !== 'object' || hparams === null || Array.isArray(hparams)) throw new ArgumentError('hyperparameters: expected a JSON object of fields, e.g. {"v_num_grad_steps": 20}');
    }
    const prompt = fillTemplate(template, subject);
    const paraphrase = form.paraphrase?.trim();
    const neighbour = form.neighbour?.trim();
    const probes: Omit<Probe, 'after'>[] = [
      { kind: 'prompt', text: prompt, before: '' },
      ...(paraphrase ? [{ kind: 'paraphrase' as const, text: paraphrase, before: '' }] : []),
      ...(neighbour ? [{ kind: 'neighbour' as const, text: neighbour, before: '' }] : []),
    ];
    const maxNew = Math.max(ANSWER_TOKENS, targetIds(model.tokenizer!, target).length);
    for (const p of probes) p.before = answer(model, p.text, maxNew);
    const neighbourAnswer = probes.find((p) => p.kind === 'neighbour')?.before;
    const c: EditCase = {
      id: String(this.nextId),
      request: { prompt: template, subject, targetNew: target },
      rephrasePrompts: paraphrase ? [paraphrase] : [],
      // The neighbour's answer before the edit is what locality compares with.
      localityPrompts: neighbour && neighbourAnswer ? [{ prompt: neighbour, answer: neighbourAnswer }] : [],
      portabilityPrompts: [],
      generationPrompts: [],
      source: { format: 'jsonl', file: '(medit serve)', index: 0 },
    };

    // The method's editor, with the page's hyperparameters in place of --hparams.
    const inputs = { ...flagInputs(this.serveContext(form.method)), hparams: () => (hparams ? { values: hparams, source: 'hyperparameters' } : undefined) };
    const editor = await spec.create(model, [c], inputs);
    let delta: EditDelta | undefined;
    try {
      const queries = [{ prompt, target }, ...c.rephrasePrompts.map((p) => ({ prompt: p, target })), ...c.localityPrompts.map((l) => ({ prompt: l.prompt, target: l.answer }))];
      const pre = scoreTargets(model, queries);
      const started = Date.now();
      delta = await editor.edit(model, [{ prompt: template, subject, targetNew: target }], { signal: this.ctx.io.signal });
      const ms = Date.now() - started;
      delta.apply(model);
      const post = scoreTargets(model, queries);
      const record: EditRecord = {
        id: this.nextId++,
        method: form.method,
        editor: editor.name,
        prompt,
        subject,
        target,
        probes: probes.map((p) => ({ ...p, after: answer(model, p.text, maxNew) })),
        eval: evalRows(pre, post, c.rephrasePrompts.length),
        ms,
        applied: true,
      };
      editor.commit?.(delta);
      this.edits.push({ record, delta, editor });
      return record;
    } catch (err) {
      delta?.dispose();
      editor.dispose();
      throw err;
    }
  }

  /** Reverts the newest applied edit (bit-exact) and returns it. */
  undo(): EditRecord {
    const last = [...this.edits].reverse().find((e) => e.record.applied);
    if (!last) throw new ArgumentError('no edit to undo');
    last.delta.revert();
    last.record.applied = false;
    return last.record;
  }

  /**
   * Writes the newest applied edit as a PEFT LoRA adapter (`lora`), or the model with every
   * applied edit as a Hugging Face checkpoint (`hf`), to the new directory `out`.
   * @throws ArgumentError when there is no applied edit, an edit is not a weight change, or `out` exists
   */
  async export(format: string, out: string): Promise<{ format: string; out: string; files: string[] }> {
    const model = this.requireModel();
    if (format !== 'lora' && format !== 'hf') throw new ArgumentError(`Expected lora or hf for the export format but received ${JSON.stringify(format)}`);
    if (!out.trim()) throw new ArgumentError('Expected a directory to export to');
    const dir = resolvePath(this.ctx.io, out.trim());
    if (fs.existsSync(dir)) throw new ArgumentError(`${out} already exists; exports are written as a new directory`);
    const applied = this.edits.filter((e) => e.record.applied);
    if (applied.length === 0) throw new ArgumentError('no applied edit to export');
    for (const e of applied) {
      const why = notAWeightEdit(e.delta);
      if (why) throw new ArgumentError(`edit ${e.record.id}: ${why}, so it cannot be exported as ${format}`);
    }
    if (format === 'lora') {
      const last = applied[applied.length - 1];
      await exportLoraAdapter(model, last.delta, dir, { baseModelName: this.modelDir });
    } else {
      await saveModel(model, dir, { metadata: { medit_edit: applied.map((e) => e.record.editor).join(',') } });
    }
    return { format, out: shortPath(this.ctx.io, dir), files: fs.readdirSync(dir).sort() };
  }

  /** Frees the edits and the model. */
  dispose(): void {
    this.clear();
  }

  private clear(): void {
    for (const e of this.edits.splice(0).reverse()) {
      e.delta.dispose();
      e.editor.dispose();
    }
    this.model?.dispose();
    this.model = undefined;
    this.modelDir = undefined;
  }

  /** The command context a method's inputs read: the loaded model as --model, the method as --method. */
  private serveContext(method: string): CommandContext {
    return { ...this.ctx, args: new Args({ model: this.modelDir, method }, [], 'serve') };
  }
}

/** The small evaluation of one edit from the teacher-forced scores before and after. */
function evalRows(pre: ReturnType<typeof scoreTargets>, post: ReturnType<typeof scoreTargets>, paraphrases: number): EvalRow[] {
  const tp = (s: (typeof pre)[number]) => ({ predicted: s.predicted, target: s.targetIds });
  const rows: EvalRow[] = [
    { metric: 'P(target | prompt)', help: 'the new target\'s mean per-token probability after the edit prompt', before: Math.exp(-meanNll(pre[0].logProbs)), after: Math.exp(-meanNll(post[0].logProbs)) },
    { metric: 'rewrite_acc', help: "EasyEdit's reliability: share of the target's tokens that are the model's top prediction after the prompt", before: rewriteAcc(tp(pre[0])), after: rewriteAcc(tp(post[0])) },
  ];
  if (paraphrases > 0) rows.push({ metric: 'rephrase_acc', help: "EasyEdit's generalisation: the same on the paraphrase", before: tokenAccuracy(tp(pre[1])), after: tokenAccuracy(tp(post[1])) });
  const n = pre.length - 1 - paraphrases;
  if (n > 0) {
    const i = 1 + paraphrases;
    rows.push({
      metric: 'locality',
      help: "EasyEdit's locality: share of the neighbour answer's tokens predicted as before the edit",
      before: 1,
      after: tokenAgreement({ pre: pre[i].predicted, post: post[i].predicted }),
    });
  }
  return rows;
}
