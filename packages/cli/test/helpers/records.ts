/** Edit records written by CLI tests. */

/** A CounterFact record with no prompts of its own beyond the rewrite (e.g. a `--load` file's). */
export const counterfactRecord = (id: number, prompt: string, relation: string, subject: string, targetNew: string, targetTrue: string) => ({
  case_id: id,
  requested_rewrite: { prompt, relation_id: relation, target_new: { str: targetNew }, target_true: { str: targetTrue }, subject },
  paraphrase_prompts: [],
  neighborhood_prompts: [],
  attribute_prompts: [],
  generation_prompts: [],
});
