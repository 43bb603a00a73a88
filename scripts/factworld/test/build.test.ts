import { mkdtempSync, readFileSync, readdirSync, statSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { buildFactWorld } from '../build';
import { writeFiles } from '../generate';
import { containsHeldout, heldoutMatchers, factLine, renderPrompt } from '../corpus';
import { loadWorld } from '../load';
import { encode, UNK_TOKEN } from '../tokenizer';
import { RELATIONS, HELDOUT_PREFIXES, TRAIN_PREFIXES, NQ_PREFIX, relationById } from '../templates';
import { SMALL_CONFIG, DEFAULT_CONFIG } from '../world';

const FIXTURES = join(__dirname, '../../../test-fixtures/factworld');

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? listFiles(p) : [p];
  });
}

describe('fact world build', () => {
  it('writes byte-identical files when run twice', () => {
    const a = mkdtempSync(join(tmpdir(), 'fw-a-'));
    const b = mkdtempSync(join(tmpdir(), 'fw-b-'));
    try {
      writeFiles(a, buildFactWorld(SMALL_CONFIG));
      writeFiles(b, buildFactWorld(SMALL_CONFIG));
      const fa = listFiles(a).map((p) => relative(a, p)).sort();
      expect(fa).toEqual(listFiles(b).map((p) => relative(b, p)).sort());
      expect(fa).toContain('tokenizer/tokenizer.json');
      for (const f of fa) expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f)))).toBe(true);
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });

  it('matches the committed fixtures (regenerate with the command in the README if this fails)', () => {
    const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8'));
    const files = buildFactWorld(DEFAULT_CONFIG);
    for (const [path, hash] of Object.entries(manifest.sha256 as Record<string, string>)) {
      expect([path, createHash('sha256').update(readFileSync(join(FIXTURES, path))).digest('hex')]).toEqual([path, hash]);
      expect([path, createHash('sha256').update(files.get(path)!).digest('hex')]).toEqual([path, hash]);
    }
    expect(files.get('manifest.json')).toBe(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8'));
  });
});

describe('committed fact-world corpus and tokenizer', () => {
  const read = (p: string) => readFileSync(join(FIXTURES, p), 'utf8').split('\n').filter((l) => l.length > 0);
  const corpora = { full: read('corpus/train-full.txt'), tiny: read('corpus/train-tiny.txt') };
  const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8'));

  it('never shows held-out phrasings or prefixes in training text', () => {
    const matchers = heldoutMatchers();
    expect(matchers).toHaveLength(RELATIONS.length * 2);
    for (const lines of Object.values(corpora)) {
      for (const l of lines) if (containsHeldout(l, matchers)) throw new Error(`held-out wording in training line: ${l}`);
    }
    // The detector itself must fire on held-out renderings.
    expect(containsHeldout(`${HELDOUT_PREFIXES[0]} Varn Oltega plays the violin.`, matchers)).toBe(true);
    expect(containsHeldout(RELATIONS[0].heldout[0].replace('{}', 'Varn Oltega'), matchers)).toBe(true);
  });

  it('consists only of filler and facts in training phrasings after an optional training prefix', () => {
    const world = loadWorld(join(FIXTURES, 'world.json'));
    const expected = new Set(read('filler.txt'));
    for (const f of world.facts) {
      for (const t of relationById(f.relation).train) expected.add(factLine(renderPrompt(t, world.entities[f.subject].name), world.entities[f.object].name));
    }
    const prefixes = [...TRAIN_PREFIXES, NQ_PREFIX].map((p) => `${p} `);
    let prefixed = 0;
    for (const l of corpora.full) {
      const p = prefixes.find((x) => l.startsWith(x) && expected.has(l.slice(x.length)));
      if (p) prefixed++;
      else if (!expected.has(l)) throw new Error(`corpus line is neither filler nor a training fact: ${l}`);
    }
    expect(prefixed / corpora.full.length).toBeGreaterThan(0.15);
  });

  it('encodes every corpus line without <|unk|>, within a vocabulary of at most 6,000', () => {
    const tok = JSON.parse(readFileSync(join(FIXTURES, 'tokenizer/tokenizer.json'), 'utf8'));
    const vocab = new Map<string, number>(Object.entries(tok.model.vocab as Record<string, number>));
    expect(vocab.size).toBeLessThanOrEqual(6000);
    expect(vocab.get('<|endoftext|>')).toBe(0);
    expect(vocab.get(UNK_TOKEN)).toBe(1);
    const unk = vocab.get(UNK_TOKEN)!;
    let tokens = 0;
    for (const l of [...corpora.full, ...read('filler.txt')]) {
      const ids = encode(vocab, l);
      if (ids.includes(unk)) throw new Error(`<|unk|> in line: ${l}`);
      tokens += ids.length;
    }
    expect(tokens).toBe(manifest.counts.corpusTokens.full + manifest.counts.corpusTokens.filler);
  });

  it('has one training line per fact and training phrasing, plus filler', () => {
    const c = manifest.counts;
    expect(c.corpusLines.full).toBe(c.facts * c.trainPhrasingsPerRelation + c.fillerLines);
    expect(corpora.full).toHaveLength(c.corpusLines.full);
    expect(corpora.tiny).toHaveLength(c.tinyFacts * c.trainPhrasingsPerRelation + DEFAULT_CONFIG.tinyFillerLines);
  });
});
