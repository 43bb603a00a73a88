/**
 * MEMIT's context templates: groups of prefixes, `[["{}"], [generated text + ". {}", ...]]`
 * (MEMIT:memit/memit_main.py::get_context_templates; spec §1.4). Keys are averaged within a
 * group, then across groups, so the bare prompt weighs ½ and each generated prefix ½ / count.
 *
 * MEMIT starts its samples with the words "The", "Therefore", "Because", "I", "You" (`n_gen // 5`
 * each, the word kept in the template), through ROME's seeded sampler (`contextTemplates` of
 * @medit/core: top-k 5, braces removed). A tokenizer that maps any of these words to its
 * unknown token (a word-level vocabulary such as fact-small's) gets ROME's samples from the
 * start token instead: `count` of them.
 */
import { ArgumentError, type CausalLM, contextTemplates } from '@medit/core';

import type { MemitHyperParams } from './hparams';

/** The words MEMIT's context samples start with. */
export const MEMIT_START_WORDS: readonly string[] = ['The', 'Therefore', 'Because', 'I', 'You'];

/**
 * The template groups for a model: `[["{}"], group per [length, count]]`.
 * @throws ArgumentError when a group would be empty (a count below 5 with the start words)
 */
export function memitContextTemplates(model: CausalLM, hp: Pick<MemitHyperParams, 'context_template_length_params' | 'context_template_seed'>): string[][] {
  const tok = model.tokenizer;
  const words = tok && tok.unknownWords(MEMIT_START_WORDS.join(' ')).length === 0 ? MEMIT_START_WORDS : undefined;
  const flat = contextTemplates(model, hp.context_template_length_params, hp.context_template_seed, words);
  const groups: string[][] = [[flat[0]]];
  let at = 1;
  for (const [length, count] of hp.context_template_length_params) {
    const n = words ? Math.floor(count / words.length) * words.length : count;
    if (n === 0) throw new ArgumentError(`MEMIT: context_template_length_params [${length}, ${count}] makes no template: its samples are shared among MEMIT's ${MEMIT_START_WORDS.length} start words (count / ${MEMIT_START_WORDS.length} each), so count must be at least ${MEMIT_START_WORDS.length}`);
    groups.push(flat.slice(at, at + n));
    at += n;
  }
  return groups;
}
