/**
 * `fact_token: subject_unique`: each subject's first token at which its tokens so far are
 * shared by no other subject of the batch (or of the committed past edits), so that no two
 * subjects of a batch read the same causal key.
 */
import { type CausalLM, type EditRequest, locateSubject } from '@medit/core';

import { resolveMemitHparams, uniquePrefixTokens } from '../src';
import { loadParityModel } from './helpers';

let model: CausalLM;
beforeAll(async () => {
  model = await loadParityModel(); // word-level: one token per word
});
afterAll(() => model.dispose());

const req = (subject: string, prompt = '{} plays the'): EditRequest => ({ prompt, subject, targetNew: 'guitar' });

test('subjects that share first tokens move to their first distinct token; others stay on their first', () => {
  const tok = model.tokenizer!;
  const requests = [req('Miles Davis'), req('Miles Tower', 'The {} is located in'), req('Eiffel Tower', 'The {} is located in'), req('Toyota', '{} makes')];
  expect(uniquePrefixTokens(tok, requests)).toEqual([1, 1, 0, 0]);
  // the chosen offsets are tokens whose prefixes differ: Miles Davis → "Davis", Miles Tower → "Tower"
  const at = locateSubject(tok, requests[0].prompt, requests[0].subject, 1);
  expect(tok.decode([at.ids[at.index]]).trim()).toBe('Davis');
});

test('requests on one subject do not count against each other; past edits do', () => {
  const tok = model.tokenizer!;
  const same = [req('Miles Davis'), req('Miles Davis', '{} is a citizen of')];
  expect(uniquePrefixTokens(tok, same)).toEqual([0, 0]);
  expect(uniquePrefixTokens(tok, same, [req('Miles Tower')])).toEqual([1, 1]);
});

test('a subject that is a prefix of another has no unique prefix and keeps its last token', () => {
  const tok = model.tokenizer!;
  expect(uniquePrefixTokens(tok, [req('Miles'), req('Miles Davis')])).toEqual([-1, 1]);
});

test('subject_unique is an accepted fact_token', () => {
  expect(resolveMemitHparams({ fact_token: 'subject_unique' }, 4, 'MEMIT').fact_token).toBe('subject_unique');
  // an hparams file's values arrive untyped (as `medit edit --hparams` reads them)
  const fromFile: Record<string, unknown> = { fact_token: 'subject_middle' };
  expect(() => resolveMemitHparams(fromFile, 4, 'MEMIT')).toThrow(/unknown fact_token "subject_middle"/);
});
