/**
 * The MMEdit table on the image world: every method of the seed's table (spec §8.3) on one task
 * and split, each single edit on the clean VLM, side by side in one report:
 *
 *   flock /work/.heavy.lock node scripts/dist/imageworld/run-mmedit.js --task vqa --split eval --out bench/reports/mmedit-vqa-eval
 *
 * → `<out>.json` (EvalReport), `<out>.html` (with thumbnails of edited and rephrased images) and
 * a markdown table on stdout. `--methods` picks a subset (comma-separated names below).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ArgumentError, type CausalLM, type Editor, loadModel, readPng, type VisionLanguageModel, writeFileAtomic } from '@medit/core';
import { readMmedit, withCaseImages } from '@medit/data';
import { FtEditor } from '@medit/ft';
import { KeEditor, MendEditor } from '@medit/mend';
import { evaluateMmedit, mergeEvalReports, mmeditGallery, renderHtmlReport, type EvalReport } from '@medit/metrics';
import { IkeEditor, ikeTemplateFor, loadTextEncoder, mmeditIkePool, readScopeConfig, Serac, SeracEditor } from '@medit/serac';

import { arg } from '../args';

/** The methods, in the seed table's order, with what they need. */
const METHODS: Record<string, { name: string; make: (model: CausalLM, o: Artefacts) => Promise<{ editor: Editor; dispose: () => void }> }> = {
  'ft-vision': {
    name: 'FT (vision block)',
    // the last vision-side block (Q-Former layer, else ViT block), teacher-forced target loss
    make: async (model) => {
      const vlm = model as VisionLanguageModel;
      const [tmp, layers] = vlm.qformer ? ['qformer.encoder.layer.{}.', vlm.qformer.numLayers] : ['vision_model.encoder.layers.{}.', vlm.vision.numLayers];
      return { editor: new FtEditor({ layers: [layers - 1], rewrite_module_tmp: tmp, objective_optimization: 'target_new', batch_size: 1 }, { variant: 'FT-M' }), dispose: () => {} };
    },
  },
  'ft-last': {
    name: 'FT (last layer)',
    make: async (model) => ({ editor: new FtEditor({ layers: [model.config.numLayers - 1], rewrite_module_tmp: 'language_model.transformer.h.{}.mlp', objective_optimization: 'target_new', batch_size: 1 }, { variant: 'FT-M' }), dispose: () => {} }),
  },
  ke: { name: 'KE', make: async (model, o) => own(await KeEditor.load(o.ke, model)) },
  ike: {
    name: 'IKE',
    make: async (model, o) => {
      // a SERAC classifier directory declares its encoder (BERT or LM) and pooling in scope.json
      const scopeFile = path.join(o.ikeEncoder, 'scope.json');
      const scope = fs.existsSync(scopeFile) ? readScopeConfig(scopeFile) : undefined;
      const encoder = await loadTextEncoder(o.ikeEncoder, scope ? { encoder: scope.encoder, pooling: scope.pooling } : {});
      const pool = ['vqa', 'caption'].flatMap((t) => mmeditIkePool(readMmedit(path.join(o.edits, `${t}-train.json`)).cases));
      return { editor: new IkeEditor({ pool, encoder, k: 32, template: ikeTemplateFor(model.tokenizer!) }), dispose: () => encoder.dispose() };
    },
  },
  serac: {
    name: 'SERAC',
    make: async (_, o) => {
      const serac = await Serac.load(o.serac);
      return { editor: new SeracEditor(serac), dispose: () => serac.dispose() };
    },
  },
  mend: { name: 'MEND', make: async (model, o) => own(await MendEditor.load(o.mend, model)) },
  'mend-vision': { name: 'MEND (vision)', make: async (model, o) => own(await MendEditor.load(o.mendVision, model)) },
};

interface Artefacts {
  edits: string;
  ke: string;
  mend: string;
  mendVision: string;
  serac: string;
  ikeEncoder: string;
}

function own(editor: Editor & { dispose(): void }) {
  return { editor, dispose: () => editor.dispose() };
}

const pct = (x: number | null | undefined) => (typeof x === 'number' ? (100 * x).toFixed(2) : '–');

/** The seed table's columns for each method of a report. */
export function markdownTable(report: EvalReport): string {
  const cols: [string, string][] = [
    ['reliability', 'Reliability'],
    ['tGenerality', 'T-Generality'],
    ['mGenerality', 'M-Generality'],
    ['tLocality', 'T-Locality'],
    ['mLocality', 'M-Locality'],
  ];
  const lines = [`| method | ${cols.map((c) => c[1]).join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`];
  for (const m of report.methods) lines.push(`| ${m.name === 'unedited' ? 'Base model' : m.name} | ${cols.map(([k]) => pct(m.aggregates[k]?.mean)).join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const task = arg('task');
  const split = arg('split', 'eval');
  const out = arg('out');
  const o: Artefacts = {
    edits: arg('edits', 'test-fixtures/imageworld/edits'),
    ke: arg('ke', 'test-fixtures/editors/ke-image-vlm.safetensors'),
    // MMEdit trains MEND per task: the task's own editor (mend-image-vlm.safetensors is the joint one)
    mend: arg('mend', `test-fixtures/editors/mend-${task}-image-vlm.safetensors`),
    mendVision: arg('mend-vision', 'test-fixtures/editors/mend-vision-image-vlm.safetensors'),
    serac: arg('serac', 'test-fixtures/serac/image-vlm'),
    ikeEncoder: arg('ike-encoder', 'test-fixtures/serac/image-vlm/scope-embedding'),
  };
  const file = path.join(o.edits, `${task}-${split}.json`);
  const limit = Number(arg('limit', 'Infinity'));
  const cases = readMmedit(file).cases.slice(0, limit).map((c) => withCaseImages(c, readPng));
  const model = await loadModel(arg('model', 'test-fixtures/models/image-vlm'));
  const names = arg('methods', Object.keys(METHODS).join(',')).split(',');
  const reports: EvalReport[] = [];
  const notes: string[] = [];
  for (const key of names) {
    const spec = METHODS[key];
    if (!spec) throw new Error(`unknown method ${key} (known: ${Object.keys(METHODS).join(', ')})`);
    const { editor, dispose } = await spec.make(model, o);
    const t0 = Date.now();
    try {
      reports.push(await evaluateMmedit({ editor, model, cases, methodName: spec.name, datasetName: path.basename(file, '.json') }));
    } catch (err) {
      // a method that cannot run on this model (IKE: the fact and the query exceed the text context) is a row of the table, not a crash
      if (!(err instanceof ArgumentError)) throw err;
      notes.push(`${spec.name}: not measured — ${err.message}`);
      continue;
    } finally {
      dispose();
    }
    console.error(JSON.stringify({ method: spec.name, seconds: (Date.now() - t0) / 1000, ...Object.fromEntries(Object.entries(reports[reports.length - 1].methods[1].aggregates).map(([k, a]) => [k, a.mean])) }));
  }
  const report = mergeEvalReports(reports);
  writeFileAtomic(`${out}.json`, JSON.stringify(report, null, 2) + '\n');
  writeFileAtomic(`${out}.html`, renderHtmlReport(report, { title: `MMEdit ${task === 'vqa' ? 'E-VQA' : 'E-IC'} (${split}) on image-vlm`, gallery: mmeditGallery(cases) }));
  console.log(markdownTable(report));
  for (const n of notes) console.log(`\n${n}`);
  model.dispose();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
