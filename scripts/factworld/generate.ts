/**
 * Writes the fact world to a folder.
 *
 *   npx tsc -p scripts
 *   node scripts/dist/factworld/generate.js --out test-fixtures/factworld [--small] [--seed N]
 *
 * `--small` uses SMALL_CONFIG (a 120-subject world for quick checks); `--seed` overrides the seed.
 * Running it twice gives byte-identical files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildFactWorld, type FileSet } from './build';
import { DEFAULT_CONFIG, SMALL_CONFIG, type WorldConfig } from './world';

/** Writes every file of a FileSet under `outDir` (creating folders). */
export function writeFiles(outDir: string, files: FileSet): void {
  for (const [path, content] of files) {
    const full = join(outDir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content, 'utf8');
  }
}

/** Parses CLI arguments. @throws on unknown or malformed flags */
export function parseArgs(argv: readonly string[]): { out: string; config: WorldConfig } {
  let out: string | undefined;
  let small = false;
  let seed: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') out = argv[++i];
    else if (a === '--small') small = true;
    else if (a === '--seed') {
      seed = Number(argv[++i]);
      if (!Number.isInteger(seed)) throw new Error(`Expected an integer for --seed but received ${argv[i]}`);
    } else throw new Error(`Unknown argument "${a}" (usage: generate.js --out DIR [--small] [--seed N])`);
  }
  if (!out) throw new Error('Expected --out DIR (usage: generate.js --out DIR [--small] [--seed N])');
  const base = small ? SMALL_CONFIG : DEFAULT_CONFIG;
  return { out, config: { ...base, seed: seed ?? base.seed } };
}

if (require.main === module) {
  try {
    const { out, config } = parseArgs(process.argv.slice(2));
    const files = buildFactWorld(config);
    writeFiles(out, files);
    const manifest = JSON.parse(files.get('manifest.json')!);
    process.stdout.write(`${JSON.stringify({ out, counts: manifest.counts }, null, 1)}\n`);
  } catch (e) {
    process.stderr.write(`factworld: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
