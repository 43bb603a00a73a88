/**
 * Does SERAC's counterfactual model copy a landmark name from the edit statement? Each world
 * landmark's name is put into the target caption of a few validation E-IC records (frames: the
 * record's image, prompt and caption, the name slot filled with the landmark's name); a frame
 * counts when the model, reading `statement [SEP] prompt caption` teacher-forced, has the name as
 * its argmax at the name's position. Rates by landmark group (the world's split, and whether the
 * VLM was trained to recognise it), and by the name's token-embedding norm (GPT-2's tied head: a
 * name the VLM never wrote has a small one).
 *
 *   node scripts/dist/imageworld/copy-probe.js [--counterfactual DIR] [--groups train,val] [--frames 6]
 *     [--frames-file test-fixtures/imageworld/edits/caption-val.json] [--world FILE] [--out FILE]
 *
 * Only the groups named are probed: choose on `train,val`; the eval names are for after the choice.
 */
import * as fs from 'node:fs';

import { argmax, indexSelect, loadModel, noGrad, readPng, reshape, rightPad, targetIds, tidy, type VisionLanguageModel, writeFileAtomic } from '@medit/core';
import { mmeditRequest, readMmedit, withCaseImages } from '@medit/data';
import { counterfactualContext, editStatement } from '@medit/serac';

import { arg } from '../args';
import type { World } from './world';

interface ProbeRow {
  name: string;
  group: string;
  norm: number;
  copied: number;
}

async function main(): Promise<void> {
  const dir = arg('counterfactual', 'test-fixtures/serac/image-vlm/counterfactual');
  const groups = arg('groups', 'train,val').split(',');
  const world = JSON.parse(fs.readFileSync(arg('world', 'test-fixtures/imageworld/world.json'), 'utf8')) as World;
  const frames = readMmedit(arg('frames-file', 'test-fixtures/imageworld/edits/caption-val.json'))
    .cases.filter((c) => / of [A-Z]\w*$/.test(c.alt) && !c.alt.startsWith('the flag'))
    .slice(0, Number(arg('frames', '6')))
    .map((c) => withCaseImages(c, readPng));
  if (frames.length === 0) throw new Error('copy-probe: no landmark caption records to use as frames');
  const model = (await loadModel(dir)) as VisionLanguageModel;
  const tok = model.tokenizer!;
  const wteName = [...model.params.keys()].find((n) => /wte\.weight$/.test(n));
  if (!wteName) throw new Error(`${dir}: no token embedding (wte.weight) to read name norms from`);
  const wte = model.param(wteName);
  const [, C] = wte.shape;
  const W = wte.data() as Float32Array;
  const rows: ProbeRow[] = [];
  for (const l of world.landmarks) {
    const group = `${l.group}${l.known ? '-known' : ''}`;
    if (!groups.includes(l.group)) continue;
    const nameIds = targetIds(tok, l.name);
    if (nameIds.length !== 1) throw new Error(`copy-probe: ${l.name} is ${nameIds.length} tokens; the probe reads one name token`);
    let norm = 0;
    for (let i = 0; i < C; i++) norm += W[nameIds[0] * C + i] ** 2;
    const seqs = frames.map((f) => {
      const alt = f.alt.replace(/\S+$/, l.name);
      const ctx = counterfactualContext(tok, editStatement(mmeditRequest({ ...f, alt })));
      return [...ctx, ...tok.encode(f.src), ...targetIds(tok, alt)];
    });
    const { ids, mask } = rightPad(seqs, 0);
    const copied = noGrad(() =>
      tidy(() => {
        const logits = model.forward(ids, { attentionMask: mask, images: frames.map((f) => f.image) }).logits;
        const [B, T, V] = logits.shape;
        // the image prefix comes first: text position p is logit row T − ids[0].length + p; the name is read at the row before it
        const off = T - ids[0].length;
        const best = argmax(indexSelect(reshape(logits, [B * T, V]), 0, seqs.map((s, b) => b * T + off + s.length - 2))).data();
        return seqs.filter((s, b) => best[b] === s[s.length - 1]).length;
      }),
    );
    rows.push({ name: l.name, group, norm: Math.sqrt(norm), copied: copied / frames.length });
  }
  const mean = (rs: readonly ProbeRow[]) => rs.reduce((a, r) => a + r.copied, 0) / rs.length;
  const byGroup = Object.fromEntries([...new Set(rows.map((r) => r.group))].sort().map((g) => [g, { names: rows.filter((r) => r.group === g).length, copied: mean(rows.filter((r) => r.group === g)) }]));
  const sorted = [...rows].sort((a, b) => a.norm - b.norm);
  const q = Math.ceil(sorted.length / 4);
  const byNorm = [0, 1, 2, 3].map((i) => sorted.slice(i * q, (i + 1) * q)).filter((s) => s.length > 0).map((s) => ({ norm: [s[0].norm, s[s.length - 1].norm], copied: mean(s) }));
  const report = { counterfactual: dir, frames: frames.length, byGroup, byNorm, rows };
  console.log(JSON.stringify({ byGroup, byNorm }, null, 1));
  const out = arg('out', '');
  if (out) writeFileAtomic(out, JSON.stringify(report, null, 1) + '\n');
  model.dispose();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
