/**
 * Writes the fact-base world to a folder, or one epoch's training documents to a file.
 *
 *   npx tsc -p scripts
 *   node scripts/dist/factbase/generate.js --out test-fixtures/factbase [--small]
 *   node scripts/dist/factbase/generate.js --epoch N --dump FILE.jsonl [--small]
 *
 * Running it twice gives byte-identical files (`manifest.json` holds their sha256).
 */
import { writeFileSync } from 'node:fs';
import { writeFiles } from '../factworld/generate';
import { DEFAULT_BUILD, SMALL_BUILD, buildFactBase, buildFiller } from './build';
import { epochDocuments } from './corpus';
import { generateWorld } from './world';

if (require.main === module) {
  try {
    const args = process.argv.slice(2);
    const get = (flag: string) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : undefined; };
    const known = new Set(['--out', '--small', '--epoch', '--dump']);
    for (const a of args) if (a.startsWith('--') && !known.has(a)) throw new Error(`Unknown argument "${a}" (usage: generate.js --out DIR [--small] | --epoch N --dump FILE)`);
    const config = args.includes('--small') ? SMALL_BUILD : DEFAULT_BUILD;
    const out = get('--out');
    const dump = get('--dump');
    if (out) {
      const files = buildFactBase(config);
      writeFiles(out, files);
      process.stdout.write(`${JSON.stringify({ out, counts: JSON.parse(files.get('manifest.json')!).counts }, null, 1)}\n`);
    } else if (dump) {
      const epoch = Number(get('--epoch') ?? '0');
      if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`Expected a non-negative integer for --epoch but received ${get('--epoch')}`);
      const world = generateWorld(config.world);
      const docs = epochDocuments(world, buildFiller(world, config.fillerLines), config.corpus, epoch);
      writeFileSync(dump, `${docs.map((d) => JSON.stringify(d)).join('\n')}\n`);
    } else throw new Error('Expected --out DIR or --dump FILE (usage: generate.js --out DIR [--small] | --epoch N --dump FILE)');
  } catch (e) {
    process.stderr.write(`factbase: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
