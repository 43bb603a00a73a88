/** Fixtures and arguments the EasyEdit API tests share. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { EasyEditArgs } from '../src';

export const ROOT = path.resolve(__dirname, '../../..');
/** EasyEdit hparams files for fact-small, and the paths file that maps their path fields */
export const FIX = path.join(ROOT, 'test-fixtures/easyedit/fact-small');
export const PATHS = path.join(FIX, 'paths.yaml');
export const MODEL = path.join(ROOT, 'test-fixtures/models/fact-small');
export const KNOWEDIT_ZSRE = path.join(ROOT, 'test-fixtures/factworld/edits/knowedit_zsre-eval.json');

/**
 * Records of the fact world's KnowEdit zsRE split (`which`: how many of the first, or their
 * indices), as EasyEdit's KnowEdit example passes them to edit(). The result keeps its concrete
 * type (lists, one prompt set per kind) so tests read it back without casts.
 */
export function knowEditArgs(which: number | readonly number[]) {
  const all = JSON.parse(fs.readFileSync(KNOWEDIT_ZSRE, 'utf8')) as unknown[];
  const records = (typeof which === 'number' ? all.slice(0, which) : which.map((i) => all[i])) as {
    prompt: string;
    subject: string;
    target_new: string;
    ground_truth: string[];
    rephrase_prompt: string;
    locality: Record<string, { prompt: string; ground_truth: string[] }[]>;
    portability: Record<string, { prompt: string; ground_truth: string }[]>;
  }[];
  const promptSet = (block: 'locality' | 'portability', kind: string) => ({
    prompt: records.map((r) => r[block][kind].map((x) => x.prompt)),
    ground_truth: records.map((r) => r[block][kind].map((x) => x.ground_truth)),
  });
  return {
    prompts: records.map((r) => r.prompt),
    target_new: records.map((r) => r.target_new),
    subject: records.map((r) => r.subject),
    ground_truth: records.map((r) => r.ground_truth[0]),
    rephrase_prompts: records.map((r) => r.rephrase_prompt),
    locality_inputs: { Relation_Specificity: promptSet('locality', 'Relation_Specificity') },
    portability_inputs: { Reasoning: promptSet('portability', 'Reasoning') },
  } satisfies EasyEditArgs;
}

