import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  DatasetFormatError,
  DatasetParseError,
  DatasetSchemaError,
  detectFormat,
  EditCase,
  fillTemplate,
  parseDataset,
  readDataset,
} from '@medit/data';

const DIR = resolve(__dirname, '../../../test-fixtures/datasets');
const BAD = join(DIR, 'malformed');

function catchErr(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

/** Invariants every EditCase must satisfy, whatever its source. */
function checkCase(c: EditCase): void {
  expect(c.request.prompt.split('{}').length - 1).toBe(1);
  expect(c.request.subject.length).toBeGreaterThan(0);
  expect(c.request.targetNew.length).toBeGreaterThan(0);
  expect(typeof c.id).toBe('string');
  for (const p of [...c.localityPrompts, ...c.portabilityPrompts, ...(c.attributePrompts ?? [])]) {
    expect(typeof p.prompt).toBe('string');
    expect(p.answer.length).toBeGreaterThan(0);
    if (p.answers) expect(p.answers[0][0]).toBe(p.answer);
  }
}

describe('every real sample record parses', () => {
  const expected: Record<string, [string, number]> = {
    'counterfact_sample.json': ['counterfact', 10],
    'counterfact_portability_200.json': ['counterfact', 200],
    'counterfact_easyedit_200.json': ['counterfact-easyedit', 200],
    'zsre_sample.json': ['zsre', 200],
    'knowedit_zsre_sample.json': ['knowedit', 20],
    'knowedit_wiki_counterfact_sample.json': ['knowedit', 20],
    'knowedit_wiki_recent_sample.json': ['knowedit', 20],
    'knowedit_wikibio_sample.json': ['knowedit', 5],
  };
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
  it('covers every sample file in the fixture folder', () => {
    expect(files.sort()).toEqual(Object.keys(expected).sort());
  });
  it.each(Object.entries(expected))('%s', (file, [format, n]) => {
    const raw = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as unknown[];
    const ds = readDataset(join(DIR, file));
    expect(ds.format).toBe(format);
    expect(ds.cases).toHaveLength(n);
    expect(raw).toHaveLength(n);
    expect(ds.skipped).toEqual([]);
    ds.cases.forEach((c, i) => {
      checkCase(c);
      expect(c.source).toEqual({ format, file: join(DIR, file), index: i });
    });
  });
});

describe('CounterFact (ROME format)', () => {
  const ds = readDataset(join(DIR, 'counterfact_sample.json'));
  const c = ds.cases[0];
  it('maps the requested rewrite and prompt lists', () => {
    expect(c.id).toBe('1734');
    expect(c.request).toEqual({
      prompt: '{}, who has a citizenship from',
      subject: 'Luigi Snozzi',
      targetNew: 'Singapore',
      targetTrue: 'Switzerland',
      relationId: 'P27',
      targetNewId: 'Q334',
      targetTrueId: 'Q39',
    });
    expect(c.rephrasePrompts).toHaveLength(2);
    expect(c.rephrasePrompts[0]).toBe('The village has a population of 90. Luigi Snozzi, who holds a citizenship from');
    expect(c.generationPrompts).toHaveLength(10);
    expect(c.meta).toEqual({ pararelIdx: 9036 });
  });
  it('neighbourhood prompts are locality prompts whose answer is target_true', () => {
    expect(c.localityPrompts).toHaveLength(10);
    expect(c.localityPrompts[0]).toEqual({ prompt: 'Zdravko Kuzmanović, a citizen of', answer: 'Switzerland', kind: 'neighborhood' });
  });
  it('attribute prompts carry target_new as answer', () => {
    expect(c.attributePrompts?.[0]).toEqual({ prompt: 'Zhang Zhong, who has a citizenship from', answer: 'Singapore' });
  });
  it('reads the EasyEdit portability extension', () => {
    const p = readDataset(join(DIR, 'counterfact_portability_200.json')).cases[0];
    expect(p.portabilityPrompts).toEqual([
      {
        prompt: 'What famous food is associated with the city where Spike Hughes originates from?',
        answer: 'Cheesesteaks',
        kind: 'one_hop',
      },
    ]);
    expect(p.meta?.recalledRelation).toBe('(Philadelphia, known for, cheesesteaks)');
    expect(fillTemplate(p.request.prompt, p.request.subject)).toBe('Spike Hughes originates from');
  });
});

describe('EasyEdit CounterFact', () => {
  it('builds the template from the substituted prompt', () => {
    const c = readDataset(join(DIR, 'counterfact_easyedit_200.json')).cases[0];
    expect(c.id).toBe('0');
    expect(c.request).toEqual({
      prompt: 'The mother tongue of {} is',
      subject: 'Danielle Darrieux',
      targetNew: 'English',
      targetTrue: 'French',
    });
    expect(c.rephrasePrompts).toEqual(['Where Danielle Darrieux is from, people speak the language of']);
    expect(c.localityPrompts).toEqual([{ prompt: 'Michel Rocard is a native speaker of', answer: 'French', kind: 'neighborhood' }]);
  });
});

describe('zsRE (MEND eval format)', () => {
  const file = join(DIR, 'zsre_sample.json');
  it('default convention: target = alt, true = answers[0]', () => {
    const c = readDataset(file).cases[0];
    expect(c.request).toEqual({
      prompt: 'When was the inception of {}?',
      subject: 'IAAF Combined Events Challenge',
      targetNew: '2006',
      targetTrue: '1998',
    });
    expect(c.rephrasePrompts).toEqual(['When was the IAAF Combined Events Challenge launched?']);
    expect(c.localityPrompts).toEqual([
      { prompt: 'nq question: what is the name of the last episode of spongebob', answer: 'The String', kind: 'nq' },
    ]);
    expect(c.portabilityPrompts[0].answer).toBe('Athletics');
    expect(c.meta?.pred).toBe('2011');
  });
  it("ROME convention: target = answers[0], no targetTrue", () => {
    const c = readDataset(file, { zsreTarget: 'answers' }).cases[0];
    expect(c.request.targetNew).toBe('1998');
    expect(c.request.targetTrue).toBeUndefined();
  });
  it('keeps every answer when there are several', () => {
    const cases = readDataset(file).cases;
    const multi = cases.find((c) => Array.isArray(c.meta?.answers));
    expect(multi).toBeDefined();
    expect((multi!.meta!.answers as string[])[0]).toBe(multi!.request.targetTrue);
  });
  it('records with empty alt are skipped and listed', () => {
    const ds = readDataset(join(BAD, 'zsre_empty_alt.json'));
    expect(ds.cases.map((c) => c.id)).toEqual(['0', '1']);
    expect(ds.skipped).toHaveLength(1);
    expect(ds.skipped[0].index).toBe(2);
    expect(ds.skipped[0].reason).toMatch(/empty "alt"/);
  });
});

describe('KnowEdit', () => {
  it('ZsRE: list ground truth, rephrase, per-kind locality and portability', () => {
    const c = readDataset(join(DIR, 'knowedit_zsre_sample.json')).cases[0];
    expect(c.request).toEqual({ prompt: 'Which family does {} belong to?', subject: 'Epaspidoceras', targetNew: 'Noctuidae', targetTrue: 'Aspidoceratidae' });
    expect(c.rephrasePrompts).toEqual(['What family are Epaspidoceras?']);
    expect(c.localityPrompts).toEqual([
      { prompt: 'The taxon rank of Epaspidoceras is', answer: 'genus', kind: 'Relation_Specificity' },
      { prompt: 'Epaspidoceras taxon rank', answer: 'genus', kind: 'Relation_Specificity' },
    ]);
    expect(c.portabilityPrompts[0]).toEqual({
      prompt: 'What is the common name for the family Epaspidoceras belongs to?',
      answer: 'Owlet moths',
      kind: 'Reasoning',
    });
  });
  it('WikiData_counterfact: string ground truth, several portability kinds', () => {
    const c = readDataset(join(DIR, 'knowedit_wiki_counterfact_sample.json')).cases[0];
    expect(c.request.targetTrue).toBe('France');
    expect(c.portabilityPrompts.map((p) => p.kind)).toEqual(['Reasoning', 'Subject_Aliasing']);
  });
  it('WikiData_recent: nested alias lists keep all answers, first alias is the answer', () => {
    const c = readDataset(join(DIR, 'knowedit_wiki_recent_sample.json')).cases[0];
    expect(c.request.targetTrue).toBeUndefined();
    expect(c.portabilityPrompts).toEqual([]);
    const ussr = c.localityPrompts[1];
    expect(ussr.answer).toBe('Soviet Union');
    expect(ussr.answers?.[0]).toContain('USSR');
    expect(c.localityPrompts[0]).toEqual({ prompt: 'The place of birth of Ingrīda Amantova is', answer: 'Cēsis', kind: 'Relation_Specificity' });
  });
  it('WikiBio: text/labels/concept', () => {
    const c = readDataset(join(DIR, 'knowedit_wikibio_sample.json')).cases[0];
    expect(c.request.subject).toBe('john russell reynolds');
    expect(c.request.prompt.startsWith('This is a Wikipedia passage about {}. Sir John Russell Reynolds')).toBe(true);
    expect(c.request.targetNew).toMatch(/^He received general education/);
  });
});

describe('JSONL edit requests', () => {
  it('accepts templates and substituted prompts; blank lines are not records', () => {
    const ds = readDataset(join(DIR, 'edits_sample.jsonl'));
    expect(ds.format).toBe('jsonl');
    expect(ds.cases.map((c) => c.request.prompt)).toEqual(['{} plays the sport of', 'The mother tongue of {} is', '{}, who has a citizenship from']);
    expect(ds.cases.map((c) => c.id)).toEqual(['0', '7', '2']);
    expect(ds.cases[2].request).toEqual({
      prompt: '{}, who has a citizenship from',
      subject: 'Luigi Snozzi',
      targetNew: 'Singapore',
      targetNewId: 'Q334',
      targetTrue: 'Switzerland',
      targetTrueId: 'Q39',
      relationId: 'P27',
    });
  });
  it('malformed line: error names file and line', () => {
    const file = join(BAD, 'edits_bad_line.jsonl');
    const e = catchErr(() => readDataset(file)) as DatasetParseError;
    expect(e).toBeInstanceOf(DatasetParseError);
    expect(e.line).toBe(3);
    expect(e.message).toContain(file);
    expect(e.message).toContain('line 3');
  });
  it('subject missing from a substituted prompt is a schema error', () => {
    const e = catchErr(() => readDataset(join(BAD, 'edits_subject_missing.jsonl'))) as DatasetSchemaError;
    expect(e).toBeInstanceOf(DatasetSchemaError);
    expect(e.field).toBe('subject');
    expect(e.line).toBe(1);
  });
  it('two placeholders are rejected', () => {
    const e = catchErr(() => parseDataset('{"prompt": "{} vs {}", "subject": "a", "target_new": "b"}\n', { file: 'x.jsonl' })) as DatasetSchemaError;
    expect(e.field).toBe('prompt');
    expect(e.message).toMatch(/exactly one "\{\}" but found 2/);
  });
});

describe('schema errors name file, record and field', () => {
  const cases: [string, number, string, RegExp][] = [
    ['counterfact_missing_target_new_str.json', 1, 'requested_rewrite.target_new.str', /missing required field/],
    ['counterfact_two_placeholders.json', 2, 'requested_rewrite.prompt', /exactly one "\{\}" but found 2/],
    ['counterfact_bad_neighborhood.json', 0, 'neighborhood_prompts[3]', /expected a string but received number 42/],
    ['zsre_subject_missing.json', 1, 'subject', /does not occur in src/],
    ['knowedit_bad_ground_truth.json', 1, 'locality.Relation_Specificity[0].ground_truth', /expected a string, an array/],
  ];
  it.each(cases)('%s', (name, index, field, problem) => {
    const file = join(BAD, name);
    const e = catchErr(() => readDataset(file)) as DatasetSchemaError;
    expect(e).toBeInstanceOf(DatasetSchemaError);
    expect(e.file).toBe(file);
    expect(e.index).toBe(index);
    expect(e.field).toBe(field);
    expect(e.message).toContain(file);
    expect(e.message).toContain(`record ${index}`);
    expect(e.message).toContain(`"${field}"`);
    expect(e.message).toMatch(problem);
  });
  it('forcing the wrong format gives schema errors, not garbage cases', () => {
    const e = catchErr(() => readDataset(join(DIR, 'zsre_sample.json'), { format: 'counterfact' })) as DatasetSchemaError;
    expect(e).toBeInstanceOf(DatasetSchemaError);
    expect(e.field).toBe('case_id');
  });
});

describe('malformed JSON and format detection', () => {
  it('missing comma: file and line', () => {
    const file = join(BAD, 'counterfact_bad_json.json');
    const e = catchErr(() => readDataset(file)) as DatasetParseError;
    expect(e).toBeInstanceOf(DatasetParseError);
    expect(e.line).toBe(4);
    expect(e.message).toContain(file);
  });
  it('truncated file', () => {
    const e = catchErr(() => readDataset(join(BAD, 'truncated.json'))) as DatasetParseError;
    expect(e).toBeInstanceOf(DatasetParseError);
    expect(e.line).toBeGreaterThan(1);
  });
  it('ambiguous first record', () => {
    const e = catchErr(() => readDataset(join(BAD, 'ambiguous.json')));
    expect(e).toBeInstanceOf(DatasetFormatError);
    expect(e.message).toMatch(/ambiguous.*counterfact and zsre/);
    // an explicit format resolves it
    expect(readDataset(join(BAD, 'ambiguous.json'), { format: 'counterfact' }).cases).toHaveLength(1);
  });
  it('unknown record shape', () => {
    const e = catchErr(() => readDataset(join(BAD, 'unknown_format.json')));
    expect(e).toBeInstanceOf(DatasetFormatError);
    expect(e.message).toMatch(/cannot detect.*keys: question, answer/);
  });
  it('detectFormat on plain objects', () => {
    expect(detectFormat({ requested_rewrite: {} })).toBe('counterfact');
    expect(detectFormat({ src: 'a', answers: [], alt: 'b' })).toBe('zsre');
    expect(detectFormat({ prompt: 'p', subject: 's', target_new: 't', locality: {} })).toBe('knowedit');
    expect(detectFormat({ prompt: 'p', subject: 's', target_new: 't', rephrase_prompt: 'r' })).toBe('counterfact-easyedit');
  });
  it('empty inputs', () => {
    expect(() => parseDataset('   ')).toThrow(DatasetParseError);
    expect(() => parseDataset('[]')).toThrow(/empty dataset/);
    expect(parseDataset('[]', { format: 'zsre' }).cases).toEqual([]);
    expect(() => parseDataset('[1]', { format: 'zsre', file: 'f.json' })).toThrow(/f\.json: record 0, field "<record>": expected an object/);
  });
  it('format/container mismatch', () => {
    expect(() => readDataset(join(DIR, 'edits_sample.jsonl'), { format: 'zsre' })).toThrow(DatasetFormatError);
    expect(() => readDataset(join(DIR, 'zsre_sample.json'), { format: 'jsonl' })).toThrow(DatasetFormatError);
  });
  it('unreadable path names the path', () => {
    expect(() => readDataset(join(DIR, 'nope.json'))).toThrow(/Cannot read dataset file .*nope\.json/);
  });
  it('fillTemplate does not expand $ patterns', () => {
    expect(fillTemplate('{} costs', '$& Co')).toBe('$& Co costs');
  });
});
