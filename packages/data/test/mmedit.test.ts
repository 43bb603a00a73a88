/**
 * The MMEdit reader: records in MMEdit's schema, image paths relative to the file, records with an
 * empty field skipped with a reason, schema errors naming record and field, images loaded once
 * per path by `withCaseImages`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DatasetFormatError, DatasetParseError, DatasetSchemaError, MMEDIT_FIELDS, mmeditLocalityPrompt, mmeditRequest, readMmedit, withCaseImages } from '@medit/data';

const RECORD = {
  src: 'Which nation uses this flag?',
  pred: 'Dovra',
  alt: 'Kesmira',
  rephrase: 'What nation is this flag of?',
  image: 'images/a.png',
  image_rephrase: 'images/b.png',
  loc: 'The capital of Tolmar is which city?',
  loc_ans: 'Velk',
  m_loc: 'images/c.png',
  m_loc_q: 'How many shapes are there?',
  m_loc_a: 'three',
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmedit-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

test('reads records, resolving images against the file and building cond', () => {
  const file = write('vqa-eval.json', [RECORD, { ...RECORD, alt: 'Brask' }]);
  const { cases, skipped } = readMmedit(file);
  expect(skipped).toEqual([]);
  expect(cases).toHaveLength(2);
  expect(cases[0]).toMatchObject({ id: '0', src: RECORD.src, alt: 'Kesmira', locAns: 'Velk', mLocQ: RECORD.m_loc_q, image: path.join(dir, 'images/a.png'), mLoc: path.join(dir, 'images/c.png') });
  expect(cases[0].cond).toBe('Dovra >> Kesmira || Which nation uses this flag?');
  expect(cases[1].alt).toBe('Brask');
  expect(MMEDIT_FIELDS).toHaveLength(11);
});

test('records with an empty field are skipped, as EasyEdit drops them', () => {
  const file = write('skip.json', [RECORD, { ...RECORD, pred: '', m_loc_a: ' ' }]);
  const { cases, skipped } = readMmedit(file);
  expect(cases).toHaveLength(1);
  expect(skipped).toEqual([{ index: 1, reason: expect.stringMatching(/empty "pred", "m_loc_a"/) }]);
});

test('schema errors name the record and the field', () => {
  const { image_rephrase: _, ...missing } = RECORD;
  expect(() => readMmedit(write('missing.json', [RECORD, missing]))).toThrow(DatasetSchemaError);
  expect(() => readMmedit(write('missing2.json', [RECORD, missing]))).toThrow(/record 1, field "image_rephrase": missing required field/);
  expect(() => readMmedit(write('number.json', [{ ...RECORD, loc_ans: 3 }]))).toThrow(/field "loc_ans": expected a string/);
  expect(() => readMmedit(write('object.json', { records: [] }))).toThrow(DatasetFormatError);
  expect(() => readMmedit(write('broken.json', '[{"src": '))).toThrow(DatasetParseError);
  expect(() => readMmedit(path.join(dir, 'absent.json'))).toThrow(/cannot read the file/);
});

test('withCaseImages loads each image field; requests and the VQA template', () => {
  const [c] = readMmedit(write('load.json', [RECORD])).cases;
  const loaded = withCaseImages(c, (p) => path.basename(p));
  expect([loaded.image, loaded.imageRephrase, loaded.mLoc]).toEqual(['a.png', 'b.png', 'c.png']);
  expect(mmeditRequest(c)).toEqual({ prompt: '{}', subject: RECORD.src, targetNew: 'Kesmira', targetTrue: 'Dovra' });
  expect(mmeditLocalityPrompt('How many shapes are there?')).toBe('Question: How many shapes are there? Short answer:');
});
