/**
 * Which facts a trained model really knows: for every fact and phrasing, teacher-force
 * "<prompt> <object>" and check that the argmax at each object position is the object's
 * token (equivalent to greedy generation reproducing the whole object) and, separately,
 * that the object's first token is the top-1 prediction after the prompt.
 */
import { type CausalLM, noGrad, tidy, argmax } from '@medit/core';

import { RELATIONS, type RelationSpec } from './templates';
import { renderPrompt } from './corpus';
import { WorldIndex, type Fact, type World } from './world';

export interface RecallResult {
  /** facts × phrasings checked */
  checked: number;
  firstToken: number;
  wholeObject: number;
}

export interface RecallReport {
  train: RecallResult;
  heldout: RecallResult;
  /** "subject:relation" keys of facts answered on (nearly) every training statement */
  answered: string[];
}

interface Probe {
  fact: Fact;
  prompt: string;
  heldout: boolean;
  statement: boolean;
}

function specOf(relation: string): RelationSpec {
  const spec = RELATIONS.find((r) => r.id === relation);
  if (!spec) throw new Error(`unknown relation ${relation}`);
  return spec;
}

/** A prompt and the object the model should continue it with. */
export interface RecallProbe {
  prompt: string;
  /** object name; it follows the prompt after a space */
  object: string;
}

/**
 * Teacher-forces "<prompt> <object>" for every probe (batches of `batchSize` rows) and reports,
 * per probe, whether the object's first token is the argmax after the prompt (`first`) and
 * whether every object token is (`whole`).
 */
export function probeRecall(model: CausalLM, probes: readonly RecallProbe[], batchSize = 64): { first: boolean; whole: boolean }[] {
  const tok = model.tokenizer!;
  const results = probes.map(() => ({ first: false, whole: false }));
  const pad = tok.eosTokenId ?? 0;
  for (let i = 0; i < probes.length; i += batchSize) {
    const chunk = probes.slice(i, i + batchSize);
    const rows = chunk.map((p) => {
      const prompt = tok.encode(p.prompt);
      const object = tok.encode(' ' + p.object);
      return { prompt, object, ids: [...prompt, ...object] };
    });
    const width = Math.max(...rows.map((r) => r.ids.length));
    const ids = rows.map((r) => [...r.ids, ...Array(width - r.ids.length).fill(pad)]);
    const predicted = noGrad(() => tidy(() => argmax(model.forward(ids).logits).data() as Int32Array));
    rows.forEach((r, b) => {
      const at = (t: number) => predicted[b * width + t];
      const start = r.prompt.length - 1;
      const first = at(start) === r.object[0];
      const whole = r.object.every((id, j) => at(start + j) === id);
      results[i + b] = { first, whole };
    });
  }
  return results;
}

/** Checks `facts` on all training and held-out phrasings; batches of `batchSize` rows. */
export function measureRecall(model: CausalLM, world: World, facts: Fact[], batchSize = 64): RecallReport {
  const index = new WorldIndex(world);
  const probes: Probe[] = [];
  for (const fact of facts) {
    const spec = specOf(fact.relation);
    const subject = index.name(fact.subject);
    spec.train.forEach((t) => probes.push({ fact, prompt: renderPrompt(t, subject), heldout: false, statement: !t.includes('?') }));
    spec.heldout.forEach((t) => probes.push({ fact, prompt: renderPrompt(t, subject), heldout: true, statement: !t.includes('?') }));
  }
  const results = probeRecall(model, probes.map((p) => ({ prompt: p.prompt, object: index.name(p.fact.object) })), batchSize);
  const summarise = (heldout: boolean): RecallResult => {
    const sel = results.filter((_, k) => probes[k].heldout === heldout);
    return { checked: sel.length, firstToken: sel.filter((r) => r.first).length / sel.length, wholeObject: sel.filter((r) => r.whole).length / sel.length };
  };
  // A fact is answered when the whole object comes out on at least 5 of its 6 training statements.
  const perFact = new Map<string, number>();
  probes.forEach((p, k) => {
    if (p.heldout || !p.statement) return;
    const key = `${p.fact.subject}:${p.fact.relation}`;
    perFact.set(key, (perFact.get(key) ?? 0) + (results[k].whole ? 1 : 0));
  });
  const answered = [...perFact].filter(([, n]) => n >= 5).map(([k]) => k);
  return { train: summarise(false), heldout: summarise(true), answered };
}
