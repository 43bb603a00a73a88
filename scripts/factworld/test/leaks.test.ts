/**
 * Split hygiene of everything committed: no eval-split subject or eval text in anything an editor
 * trains on, stores or is calibrated with.
 *
 * - Edit-set folders: every folder under test-fixtures with `*eval*.json` and `*train*.json` files
 *   (edits/, edits-tiny/, preview/, any new world): no text of ≥ 4 words of an eval record in a
 *   train or validation file of the folder, no eval subject named in one (the project's checker,
 *   shared/tools/leak-check.mjs, counts the same).
 * - Trained artefacts: every MEND / KE editor file (format medit-trained-editor: the description
 *   in the safetensors header, or a `*.safetensors.json` sidecar of the two-file format) and every
 *   SERAC component (`training*.json` beside a `serac.json`) must
 *   list the dataset files and case ids it trained and calibrated on (`data`); each listed file is
 *   unchanged since (sha256), is a train or validation file, and the listed cases' texts hold no
 *   eval subject and no eval text of any eval file.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';

import { readDataset } from '@medit/data';

const ROOT = join(__dirname, '../../..');
const FIX = join(ROOT, 'test-fixtures');

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as unknown;
const strings = (x: unknown): string[] =>
  typeof x === 'string' ? [x] : Array.isArray(x) ? x.flatMap(strings) : x && typeof x === 'object' ? Object.values(x).flatMap(strings) : [];
/** The texts the checker compares: at least 4 words, not a template. */
const longTexts = (xs: readonly string[]) => xs.filter((s) => s.split(' ').length >= 4 && !s.includes('{}'));
const subjectsOf = (records: unknown[]) =>
  records.map((r) => (r as { requested_rewrite?: { subject?: string }; subject?: string }).requested_rewrite?.subject ?? (r as { subject?: string }).subject).filter((s): s is string => typeof s === 'string');
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Subjects of `subjects` named in `blob` as words (a longer name containing one counts, as in the checker). */
const named = (subjects: Iterable<string>, blob: string) => [...subjects].filter((s) => new RegExp(`(^|[^\\w])${escape(s)}([^\\w]|$)`).test(blob));

/**
 * The description of a trained-editor file: the JSON document in its safetensors header
 * (`__metadata__.medit_document`), or its two-file format's sidecar; undefined for other files.
 */
function editorDescription(file: string): { training?: { data?: DataEntry[] } } | undefined {
  const fd = openSync(file, 'r');
  let header: { __metadata__?: Record<string, string> };
  try {
    const size = Buffer.alloc(8);
    readSync(fd, size, 0, 8, 0);
    const text = Buffer.alloc(Number(size.readBigUInt64LE(0)));
    readSync(fd, text, 0, text.length, 8);
    header = JSON.parse(text.toString('utf8'));
  } finally {
    closeSync(fd);
  }
  const meta = header.__metadata__ ?? {};
  if (meta.medit_document !== undefined) return meta.format === 'medit-trained-editor' ? JSON.parse(meta.medit_document) : undefined;
  const sidecar = `${file}.json`;
  if (!existsSync(sidecar)) return undefined;
  const doc = readJson(sidecar) as { format?: string };
  return doc.format === 'medit-trained-editor' ? doc : undefined;
}

function walk(dir: string, visit: (dir: string, files: string[]) => void): void {
  const entries = readdirSync(dir, { withFileTypes: true });
  visit(dir, entries.filter((e) => e.isFile()).map((e) => e.name));
  for (const e of entries) if (e.isDirectory() && e.name !== 'node_modules') walk(join(dir, e.name), visit);
}

const editFolders: string[] = [];
const editorFiles: string[] = [];
const seracComponents: string[] = [];
walk(FIX, (dir, files) => {
  if (files.some((f) => /eval.*\.json$/.test(f)) && files.some((f) => /train.*\.json$/.test(f))) editFolders.push(dir);
  for (const f of files) if (f.endsWith('.safetensors') && editorDescription(join(dir, f)) !== undefined) editorFiles.push(join(dir, f));
  if (files.includes('serac.json')) {
    for (const c of readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory())) {
      for (const f of readdirSync(join(dir, c.name)).filter((n) => /^training.*\.json$/.test(n))) seracComponents.push(join(dir, c.name, f));
    }
  }
});

/** Every eval file's records, by path. */
const evalFiles = editFolders.flatMap((d) => readdirSync(d).filter((f) => /eval/.test(f) && f.endsWith('.json')).map((f) => join(d, f)));
const evalRecords = new Map(evalFiles.map((f) => [f, readJson(f)]).filter((e): e is [string, unknown[]] => Array.isArray(e[1])));
const allEvalSubjects = new Set([...evalRecords.values()].flatMap(subjectsOf));
const allEvalTexts = new Set([...evalRecords.values()].flatMap((r) => longTexts(strings(r))));

test('finds the edit-set folders and the trained artefacts', () => {
  const rel = editFolders.map((d) => relative(FIX, d));
  expect(rel).toEqual(expect.arrayContaining(['factworld/edits', 'factworld/edits-tiny', 'factworld/preview']));
  expect(editorFiles.map((f) => basename(f))).toEqual(expect.arrayContaining(['mend-fact-small.safetensors', 'ke-fact-small.safetensors']));
  expect(seracComponents.map((f) => relative(FIX, f))).toEqual(expect.arrayContaining(['serac/fact-small/scope-embedding/training.json', 'serac/fact-small/counterfactual/training.json']));
  expect(allEvalSubjects.size).toBeGreaterThan(150);
});

describe.each(editFolders.map((d) => [relative(FIX, d), d]))('%s', (_, dir) => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  const trainFiles = files.filter((f) => /train|valid/.test(f));
  const trainStrings = trainFiles.flatMap((f) => strings(readJson(join(dir, f))));
  const trainText = new Set(trainStrings);
  const trainBlob = [...trainText].join('\n');

  test.each(files.filter((f) => /eval/.test(f) && Array.isArray(readJson(join(dir, f)))))('%s: no eval subject or eval text in a train or validation file', (f) => {
    expect(trainFiles.length).toBeGreaterThan(0);
    const records = readJson(join(dir, f)) as unknown[];
    const texts = [...new Set(longTexts(strings(records)))];
    expect(texts.length).toBeGreaterThan(0);
    expect(texts.filter((t) => trainText.has(t))).toEqual([]);
    expect(named(new Set(subjectsOf(records)), trainBlob)).toEqual([]);
  });
});

/** The texts of the listed cases of a data entry. */
function listedTexts(entry: DataEntry): string[] {
  const file = join(ROOT, entry.file);
  const ids = new Set(entry.caseIds);
  const cases = readDataset(file).cases.filter((c) => ids.has(c.id));
  expect([entry.file, cases.length]).toEqual([entry.file, ids.size]);
  return cases.flatMap((c) => [
    c.request.prompt.replace('{}', c.request.subject),
    c.request.subject,
    c.request.targetNew,
    ...c.rephrasePrompts,
    ...c.localityPrompts.flatMap((p) => [p.prompt, p.answer]),
    ...c.portabilityPrompts.flatMap((p) => [p.prompt, p.answer]),
    ...(c.attributePrompts ?? []).map((p) => p.prompt),
    ...c.generationPrompts,
  ]);
}

interface DataEntry {
  use: string;
  file: string;
  sha256: string;
  caseIds: string[];
}

function checkData(artefact: string, data: DataEntry[] | undefined): void {
  expect([artefact, Array.isArray(data) && data.length > 0]).toEqual([artefact, true]);
  for (const entry of data!) {
    expect([entry.file, entry.use]).toEqual([entry.file, expect.stringMatching(/^(train|validation)$/)]);
    expect([entry.file, /eval/.test(basename(entry.file)), /train|valid/.test(basename(entry.file))]).toEqual([entry.file, false, true]);
    const file = join(ROOT, entry.file);
    expect([entry.file, existsSync(file)]).toEqual([entry.file, true]);
    expect([entry.file, createHash('sha256').update(readFileSync(file)).digest('hex')]).toEqual([entry.file, entry.sha256]);
    const texts = listedTexts(entry);
    expect(texts.length).toBeGreaterThan(0);
    expect([entry.file, longTexts(texts).filter((t) => allEvalTexts.has(t))]).toEqual([entry.file, []]);
    expect([entry.file, named(allEvalSubjects, [...new Set(texts)].join('\n'))]).toEqual([entry.file, []]);
  }
}

/**
 * The image world's editors (scripts/imageworld/train-editors.ts) record their data in a `data.json`
 * beside them: the MMEdit files read, by SHA-256. They must name only train and validation files of
 * test-fixtures/imageworld/edits, unchanged since; that those files hold no eval subject, image
 * content or text is scripts/imageworld/test/edits.test.ts's split check.
 */
interface ImageWorldData {
  train?: { file: string; sha256: string }[];
  validation?: { file: string; sha256: string }[];
}

function imageWorldData(artefact: string): ImageWorldData | undefined {
  const beside = artefact.replace(/\.safetensors$/, '.data.json');
  const inFolder = join(dirname(dirname(artefact)), 'data.json');
  for (const f of [beside, inFolder]) {
    if (f === artefact || !existsSync(f)) continue;
    const doc = readJson(f) as ImageWorldData;
    if ([...(doc.train ?? []), ...(doc.validation ?? [])].some((e) => /imageworld/.test(e.file))) return doc;
  }
  return undefined;
}

function checkImageWorldData(artefact: string, doc: ImageWorldData): void {
  const entries = [...(doc.train ?? []), ...(doc.validation ?? [])];
  expect([artefact, (doc.train ?? []).length > 0]).toEqual([artefact, true]);
  for (const e of entries) {
    expect([artefact, e.file]).toEqual([artefact, expect.stringMatching(/^test-fixtures\/imageworld\/edits\/(vqa|caption)-(train|val)\.json$/)]);
    expect([e.file, createHash('sha256').update(readFileSync(join(ROOT, e.file))).digest('hex')]).toEqual([e.file, e.sha256]);
  }
}

test.each(editorFiles.map((f) => [relative(FIX, f), f]))('trained editor %s lists its training data, and it holds no eval subject or text', (name, file) => {
  const image = imageWorldData(file);
  if (image) checkImageWorldData(name, image);
  else checkData(name, editorDescription(file)?.training?.data);
});

test.each(seracComponents.map((f) => [relative(FIX, f), f]))('SERAC %s lists its training data, and it holds no eval subject or text', (name, file) => {
  const image = imageWorldData(file);
  if (image) checkImageWorldData(name, image);
  else checkData(name, (readJson(file) as { data?: DataEntry[] }).data);
});

test('the filler text (default T-Patcher memory, FT+KL\'s KL texts) names no eval subject and holds no eval text', () => {
  const lines = readFileSync(join(FIX, 'factworld/filler.txt'), 'utf8').split('\n').filter((l) => l.trim() !== '');
  expect(lines.length).toBeGreaterThan(100);
  expect(longTexts(lines).filter((t) => allEvalTexts.has(t))).toEqual([]);
  expect(named(allEvalSubjects, lines.join('\n'))).toEqual([]);
});
