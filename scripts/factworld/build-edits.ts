/**
 * Builds the edit sets from a generated world and the facts a trained model answers.
 *
 *   node scripts/dist/factworld/build-edits.js --world test-fixtures/factworld/world.json \
 *     --answers answers.json --out DIR [--tiny] [--max N]
 *
 * `--tiny` restricts edits to the fact-tiny sub-world (the first config.tinySubjects subjects).
 * Writes {counterfact,zsre,knowedit_zsre,knowedit_counterfact}-{train,validation,eval}.json (JSON
 * arrays, 4-space indent like the real files), case-map.json (each eval case's id in the format-1
 * edit sets, for old-vs-new comparisons) and edits-manifest.json (counts and sha256).
 */
import { createHash } from 'node:crypto';
import { loadWorld, readAnswers } from './load';
import { buildEditSets, editSetFiles } from './datasets';
import { writeFiles } from './generate';

if (require.main === module) {
  try {
    const args = process.argv.slice(2);
    const get = (flag: string) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : undefined; };
    const worldPath = get('--world');
    const answersPath = get('--answers');
    const out = get('--out');
    if (!worldPath || !answersPath || !out) throw new Error('usage: build-edits.js --world world.json --answers answers.json --out DIR [--tiny] [--max N]');
    const world = loadWorld(worldPath);
    const max = get('--max');
    const sets = buildEditSets(world, {
      answers: readAnswers(answersPath, world),
      subjects: args.includes('--tiny') ? (s) => s < world.config.tinySubjects : undefined,
      maxCasesPerSplit: max === undefined ? undefined : Number(max),
    });
    const files = editSetFiles(sets);
    const sha: Record<string, string> = {};
    const counts: Record<string, number> = {};
    for (const [k, v] of files) {
      sha[k] = createHash('sha256').update(v).digest('hex');
      const parsed = JSON.parse(v) as unknown;
      if (Array.isArray(parsed)) counts[k] = parsed.length;
    }
    files.set('edits-manifest.json', `${JSON.stringify({ world: worldPath, answers: answersPath, tiny: args.includes('--tiny'), max: max === undefined ? null : Number(max), counts, sha256: sha }, null, 1)}\n`);
    writeFiles(out, files);
    process.stdout.write(`${JSON.stringify(counts)}\n`);
  } catch (e) {
    process.stderr.write(`factworld build-edits: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
