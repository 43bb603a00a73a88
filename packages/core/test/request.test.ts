/** Locating the subject's tokens in a filled template. */
import * as path from 'node:path';

import { Tokenizer, locateSubject, templateFromPrompt, targetIds, validateRequest } from '../src';

const tok = Tokenizer.fromFile(path.resolve(__dirname, '../../../test-fixtures/parity/gpt2-trained-wordlevel/tokenizer.json'));

test('subject first/last indices after a prefix, for one- and multi-token subjects', () => {
  const one = locateSubject(tok, 'The {} is located in', 'Colosseum');
  expect(one.subjectSpan[0]).toBe(one.subjectSpan[1]);
  expect(tok.decode([one.ids[one.index]]).trim()).toBe('Colosseum');
  const two = locateSubject(tok, 'The {} is located in', 'Eiffel Tower', 'subject_first');
  expect(tok.decode([two.ids[two.index]]).trim()).toBe('Eiffel');
  const last = locateSubject(tok, 'The {} is located in', 'Eiffel Tower');
  expect(tok.decode([last.ids[last.index]]).trim()).toBe('Tower');
  expect(last.subjectSpan).toEqual([1, 2]);
  const atStart = locateSubject(tok, '{} is located in', 'Eiffel Tower', 'last');
  expect(atStart.index).toBe(atStart.ids.length - 1);
  // offsets into the subject's tokens: 0 = first, -1 = last; outside it is an error
  expect(locateSubject(tok, 'The {} is located in', 'Eiffel Tower', 0).index).toBe(two.index);
  expect(locateSubject(tok, 'The {} is located in', 'Eiffel Tower', -1).index).toBe(last.index);
  expect(locateSubject(tok, 'The {} is located in', 'Eiffel Tower', 1).index).toBe(last.index);
  expect(() => locateSubject(tok, 'The {} is located in', 'Eiffel Tower', 2)).toThrow(/offset 2 is outside subject "Eiffel Tower"'s 2 tokens/);
});

test('request validation and template building name the problem', () => {
  expect(() => validateRequest({ prompt: '{} and {}', subject: 'a', targetNew: 'b' })).toThrow(/exactly one "\{\}"/);
  expect(() => validateRequest({ prompt: '{} is', subject: ' ', targetNew: 'b' })).toThrow(/subject is empty/);
  expect(() => validateRequest({ prompt: '{} is', subject: 'a', targetNew: '' })).toThrow(/targetNew is empty/);
  expect(() => templateFromPrompt('The tower is tall', 'Eiffel')).toThrow(/does not occur/);
  expect(templateFromPrompt('The Eiffel Tower is in', 'Eiffel Tower')).toBe('The {} is in');
  expect(targetIds(tok, 'Paris')).toEqual(targetIds(tok, ' Paris'));
});
