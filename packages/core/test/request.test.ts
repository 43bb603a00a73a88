/** Locating the subject's tokens in a filled template. */
import * as path from 'node:path';

import { Tokenizer, UnknownTokenError, checkKnownWords, locateSubject, templateFromPrompt, targetIds, validateRequest } from '../src';

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

describe('words the tokenizer does not know', () => {
  // the parity model's word-level vocabulary maps unknown words to "<|unk|>"
  const wordLevel = () => Tokenizer.fromFile(path.resolve(__dirname, '../../../test-fixtures/factworld/tokenizer/tokenizer.json'));

  test('unknownWords names the whole words holding the unknown token, each once', () => {
    const t = wordLevel();
    expect(t.unknownTokenId).toBe(t.tokenToId('<|unk|>'));
    expect(t.unknownWords('Qqq Ééé is a citizen of Qqq')).toEqual(['Qqq', 'Ééé']);
    expect(t.unknownWords('The country of')).toEqual([]);
  });

  test('a request whose subject (in its prompt) or target has unknown words is an UnknownTokenError naming them', () => {
    const t = wordLevel();
    let err: UnknownTokenError | undefined;
    try {
      validateRequest({ prompt: '{} is a citizen of', subject: 'Qqq Ééé', targetNew: 'Varsa' }, 3, t);
    } catch (e) {
      err = e as UnknownTokenError;
    }
    expect(err).toBeInstanceOf(UnknownTokenError);
    expect(err!.words).toEqual(['Qqq', 'Ééé']);
    expect(err!.message).toBe(
      'edit request 3: subject "Qqq Ééé" has words the tokenizer does not know: "Qqq", "Ééé" (tokenized as the unknown token "<|unk|>"); editing it would change the answers for every unknown word, not this fact',
    );
    const subject = 'Rakem Boskre';
    expect(t.unknownWords(subject)).toEqual([]);
    expect(() => validateRequest({ prompt: '{} is a citizen of', subject, targetNew: 'Zzyzx' }, 0, t)).toThrow(/^edit request 0: target "Zzyzx" has a word the tokenizer does not know: "Zzyzx"/);
    // without the tokenizer only the request's form is checked
    expect(() => validateRequest({ prompt: '{} is a citizen of', subject: 'Qqq', targetNew: 'Zzyzx' })).not.toThrow();
  });

  test('the subject is judged as its prompt tokenizes it: mid-sentence words keep their leading space', () => {
    const parity = tok; // "Eiffel" is known only with a leading space
    expect(parity.unknownWords('Eiffel Tower')).toEqual(['Eiffel']);
    expect(() => validateRequest({ prompt: 'The {} is located in', subject: 'Eiffel Tower', targetNew: 'Tokyo' }, 0, parity)).not.toThrow();
    expect(() => validateRequest({ prompt: '{} is located in', subject: 'Eiffel Tower', targetNew: 'Tokyo' }, 0, parity)).toThrow(/subject "Eiffel Tower" has a word .*"Eiffel"/);
  });

  test('with onUnknownToken set the handler gets the error and the request goes on', () => {
    const t = wordLevel();
    const seen: string[][] = [];
    t.onUnknownToken = (e) => seen.push(e.words);
    validateRequest({ prompt: 'The country of {} is', subject: 'Qqq', targetNew: 'Zzyzx' }, 0, t);
    checkKnownWords(t, 'target', 'The country of');
    expect(seen).toEqual([['Qqq'], ['Zzyzx']]);
  });

  test('byte-level BPE has no unknown token, so nothing is ever refused', () => {
    const bpe = Tokenizer.fromFile(path.resolve(__dirname, '../../../test-fixtures/tokenizers/gpt2'));
    expect(bpe.unknownTokenId).toBeUndefined();
    expect(bpe.unknownWords('Qqq Ééé')).toEqual([]);
  });
});
