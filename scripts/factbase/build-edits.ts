/**
 * Builds the fact-base edit sets from the facts a trained model answers:
 *
 *   node scripts/dist/factbase/build-edits.js --world test-fixtures/factbase/world.json \
 *     --answers test-fixtures/models/fact-base/answers.json --out test-fixtures/factbase/edits [--max N]
 *
 * answers.json: `{"format": "factworld-answers/1", "answered": ["12:P27", ...]}` (train.ts writes it).
 * Writes `<format>-{train,validation,eval}.json` for counterfact, zsre, knowedit_zsre,
 * knowedit_counterfact and mquake (JSON arrays, 4-space indent like the real files) and
 * edits-manifest.json (counts and sha256).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { writeFiles } from '../factworld/generate';
import { answersFromKeys } from '../factworld/load';
import { EDIT_SET_FILES, SPLITS, buildEditSets } from './edit-sets';
import type { World } from './world';

if (require.main === module) {
  try {
    const args = process.argv.slice(2);
    const get = (flag: string) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : undefined; };
    const [worldPath, answersPath, out] = [get('--world'), get('--answers'), get('--out')];
    if (!worldPath || !answersPath || !out) throw new Error('usage: build-edits.js --world world.json --answers answers.json --out DIR [--max N]');
    const world = JSON.parse(readFileSync(worldPath, 'utf8')) as World;
    if (world.format !== 'factbase/1') throw new Error(`Expected format "factbase/1" in ${worldPath} but received ${JSON.stringify(world.format)}`);
    const raw = JSON.parse(readFileSync(answersPath, 'utf8')) as { format?: string; answered?: unknown };
    if (raw.format !== 'factworld-answers/1' || !Array.isArray(raw.answered)) throw new Error(`Expected {"format": "factworld-answers/1", "answered": [...]} in ${answersPath}`);
    const keys = new Set(world.facts.map((f) => `${f.subject}:${f.relation}`));
    for (const k of raw.answered) if (typeof k !== 'string' || !keys.has(k)) throw new Error(`${answersPath}: answered entry ${JSON.stringify(k)} is not a "subject:relation" key of a world fact`);
    const max = get('--max');
    const sets = buildEditSets(world, { answers: answersFromKeys(raw.answered as string[]), maxCasesPerSplit: max === undefined ? undefined : Number(max) });
    const files = new Map<string, string>();
    const counts: Record<string, number> = {};
    const sha256: Record<string, string> = {};
    for (const [key, stem] of EDIT_SET_FILES) {
      for (const split of SPLITS) {
        const name = `${stem}-${split}.json`;
        const text = `${JSON.stringify(sets[key][split], null, 4)}\n`;
        files.set(name, text);
        counts[name] = sets[key][split].length;
        sha256[name] = createHash('sha256').update(text).digest('hex');
      }
    }
    files.set('edits-manifest.json', `${JSON.stringify({ world: worldPath, answers: answersPath, max: max ?? null, counts, sha256 }, null, 1)}\n`);
    writeFiles(out, files);
    process.stdout.write(`${JSON.stringify(counts)}\n`);
  } catch (e) {
    process.stderr.write(`factbase build-edits: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
