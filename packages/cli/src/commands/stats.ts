/**
 * `medit stats`: covariance statistics C = E[k kᵀ] of the MLP keys at chosen layers over a
 * local corpus (ROME's layer_stats), cached for `medit edit`. Ctrl-C stops it cleanly and
 * keeps a partial file; running the same command again resumes from it.
 */
import { modelFingerprint, statsCachePath } from '@medit/core';
import { defaultRomeHparams } from '@medit/rome';

import { type OptionSpecs, UsageError } from '../args';
import { type CommandContext, FILLER_CORPUS, covarianceStats, defaultCacheDir, loadModelDir, normaliseMaxDocs, resolvePath, shortPath, statsCorpus } from '../common';
import { formatDuration, formatInt } from '../output';

export const STATS_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'Hugging Face model directory' },
  layers: { type: 'string', value: 'L1,L2', description: "layers whose MLP keys to collect (default: ROME's default layer for the model)" },
  corpus: { type: 'string', value: 'FILE', description: `text corpus, .txt (a document per line) or .jsonl ({"text"}) (default: ${FILLER_CORPUS} when present)` },
  'max-docs': { type: 'string', value: 'N', description: 'use only the first N documents' },
  'batch-tokens': { type: 'string', value: 'N', description: 'padded tokens per forward batch (default 4096)' },
  cache: { type: 'string', value: 'DIR', description: 'cache directory (default: $MEDIT_CACHE_DIR/stats or ~/.cache/medit/stats)' },
};

export async function runStats(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const modelDir = args.required('model');
  let layers = args.intList('layers');
  const maxDocsArg = args.int('max-docs', { min: 1 });
  const batchTokens = args.int('batch-tokens', { min: 1 });
  const corpus = statsCorpus(io, args.string('corpus'));
  if (!corpus) throw new UsageError(`missing required option --corpus (the default ${FILLER_CORPUS} is not in this tree)`, 'stats');
  const cacheDir = resolvePath(io, args.string('cache') ?? defaultCacheDir(io));
  const model = await loadModelDir(io, modelDir);
  try {
    layers ??= defaultRomeHparams(model.config.numLayers).layers;
    for (const l of layers) {
      if (l >= model.config.numLayers) throw new UsageError(`--layers: layer ${l} is outside the model's ${model.config.numLayers} layers (0–${model.config.numLayers - 1})`, 'stats');
    }
    const maxDocs = normaliseMaxDocs(corpus, maxDocsArg);
    const nDocs = maxDocs ?? corpus.docs.length;
    out.line(`model   ${modelDir} (${model.config.modelType}, ${model.config.numLayers} layers)`);
    out.line(`corpus  ${shortPath(io, corpus.source)}: ${formatInt(nDocs)} documents`);
    const started = Date.now();
    const r = await covarianceStats(ctx, model, layers, { corpus, cacheDir, maxDocs, batchTokens });
    const ms = Date.now() - started;
    const fingerprint = modelFingerprint(model);
    const files = layers.map((l) => statsCachePath(cacheDir, fingerprint, corpus.hash, l, maxDocs ?? 'all'));
    for (const s of r.stats.values()) s.mom2Sum.dispose();
    if (r.cached) out.line(`cached  ${formatInt(r.tokens)} tokens (computed earlier)`);
    else out.line(`done    ${formatInt(r.tokens)} tokens in ${formatDuration(ms)} (${formatInt(r.tokensPerSecond ?? 0)} tokens/s)`);
    layers.forEach((l, i) => out.line(`layer ${l}: ${shortPath(io, files[i])}`));
    out.result({
      model: modelDir,
      corpus: shortPath(io, corpus.source),
      corpusHash: corpus.hash,
      docs: nDocs,
      tokens: r.tokens,
      tokensPerSecond: r.tokensPerSecond,
      ms,
      cached: r.cached,
      layers: layers.map((l, i) => ({ layer: l, file: files[i] })),
    });
    return 0;
  } finally {
    model.dispose();
  }
}
