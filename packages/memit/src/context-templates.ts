/**
 * MEMIT's context templates: groups of prefixes, `[["{}"], [5 × (generated text + ". {}")]]`
 * (MEMIT:memit/memit_main.py::get_context_templates; spec §1.4). Keys are averaged within a
 * group, then across groups, so the bare prompt weighs ½ and each generated prefix ⅒.
 *
 * Generation reuses ROME's seeded sampler (`contextTemplates` of @medit/core: top-k 5 from
 * the start token, braces removed). MEMIT seeds its five samples with the words "The",
 * "Therefore", "Because", "I", "You"; the sampler here starts every sample from BOS instead,
 * because those words are absent from word-level vocabularies such as the fact world's.
 */
import { type CausalLM, contextTemplates } from '@medit/core';

import type { MemitHyperParams } from './hparams';

/** The template groups for a model: `[["{}"], group per [length, count]]`. */
export function memitContextTemplates(model: CausalLM, hp: Pick<MemitHyperParams, 'context_template_length_params' | 'context_template_seed'>): string[][] {
  const flat = contextTemplates(model, hp.context_template_length_params, hp.context_template_seed);
  const groups: string[][] = [[flat[0]]];
  let at = 1;
  for (const [, count] of hp.context_template_length_params) {
    groups.push(flat.slice(at, at + count));
    at += count;
  }
  return groups;
}
