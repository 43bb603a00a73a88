/**
 * SERAC at inference (specs/meta-and-memory.md §2.1–§2.2): {@link Serac} is a trained artefact
 * directory loaded for use (scope classifier + counterfactual model + threshold),
 * {@link SeracEditor} turns edit requests into a {@link SeracDelta} — the edit memory — in O(1)
 * per edit (plus one encoder pass per statement for the embedding classifier's cached vectors),
 * and the delta, once applied, routes every row of `model.forward` by SERAC's hard rule:
 *
 *   i* = argmax_i g(c_i, x);  answer with h_ψ(z_{i*}, x) if g(c_{i*}, x) > threshold, else f(x).
 *
 * The classifier reads a row as text (the base tokenizer's decoding of its tokens); the
 * counterfactual model reads `statement_{i*} <sep>` and then the row's own token ids, so the two
 * models must share the vocabulary (§2.7 pitfall 1: checked on apply).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  ArgumentError,
  type CausalLM,
  EditDelta,
  type EditDeltaInfo,
  type EditOptions,
  type EditRequest,
  type Editor,
  IOError,
  loadModel,
  tensor,
  validateRequest,
  yieldToEventLoop,
} from '@medit/core';

import { counterfactualContext } from './counterfactual';
import { loadTextEncoder } from './encoder';
import { editStatement } from './examples';
import { MemoryDelta, type ForwardWrapper } from './memory-delta';
import { routedForward } from './routed-forward';
import { readScopeConfig, ScopeClassifier } from './scope';
import { DEFAULT_SERAC_CONFIG, SERAC_LAYOUT, type SeracConfig } from './train';

/** Options of {@link Serac.load}. */
export interface LoadSeracOptions {
  /** classifier sub-directory (default serac.json's `classifier`) */
  classifier?: 'scope-embedding' | 'scope-cross';
  /** run the classifier's encoder from this path instead (e.g. its ONNX export) */
  encoder?: string;
  backend?: 'engine' | 'onnx';
  /** routing threshold (default: serac.json's, else the classifier's calibrated one, else 0.5) */
  threshold?: number;
}

/** A trained SERAC: scope classifier, counterfactual model and routing threshold. */
export class Serac {
  private constructor(
    readonly dir: string,
    readonly classifier: ScopeClassifier,
    readonly counterfactual: CausalLM,
    readonly threshold: number,
    readonly classifierName: string,
  ) {}

  /**
   * Loads a SERAC artefact directory written by `trainSerac`.
   * @throws IOError naming a missing component
   * @example const serac = await Serac.load('test-fixtures/serac/fact-small');
   */
  static async load(dir: string, opts: LoadSeracOptions = {}): Promise<Serac> {
    const cfgFile = path.join(dir, SERAC_LAYOUT.config);
    const cfg: SeracConfig = fs.existsSync(cfgFile) ? { ...DEFAULT_SERAC_CONFIG, ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')) } : DEFAULT_SERAC_CONFIG;
    const name = opts.classifier ?? cfg.classifier;
    const clsDir = path.join(dir, SERAC_LAYOUT[name]);
    const cfDir = path.join(dir, SERAC_LAYOUT.counterfactual);
    for (const d of [clsDir, cfDir]) if (!fs.existsSync(d)) throw new IOError(`${d}: this SERAC directory has no such component (train it with medit train serac)`);
    const scope = readScopeConfig(path.join(clsDir, 'scope.json'));
    const threshold = opts.threshold ?? cfg.threshold ?? scope.threshold ?? 0.5;
    if (!(threshold > 0 && threshold < 1)) throw new ArgumentError(`Serac.load: threshold must be in (0, 1), not ${threshold}`);
    const encoder = await loadTextEncoder(opts.encoder ?? clsDir, { backend: opts.backend, pooling: scope.pooling, encoder: scope.encoder });
    const cf = await loadModel(cfDir);
    return new Serac(dir, new ScopeClassifier(encoder, scope), cf, threshold, name);
  }

  dispose(): void {
    this.classifier.encoder.dispose();
    this.counterfactual.dispose();
  }
}

/** Name of the pseudo-update holding the memory's cached context vectors [M, C]. */
const VECTORS = 'serac.memory.context_vectors';

/** Routing counts since the memory was applied (for reports). */
export interface RoutingStats {
  rows: number;
  routed: number;
}

/** SERAC's edit memory as an {@link EditDelta} (see {@link MemoryDelta}). */
export class SeracDelta extends MemoryDelta {
  /** Rows seen and rows routed to the counterfactual model while applied. */
  readonly routing: RoutingStats = { rows: 0, routed: 0 };

  constructor(
    readonly serac: Serac,
    readonly statements: readonly string[],
    readonly vectors: readonly Float32Array[] | undefined,
    info: EditDeltaInfo,
  ) {
    const C = vectors?.[0]?.length ?? 0;
    super(
      vectors && vectors.length > 0 ? [{ name: VECTORS, delta: tensor(Float32Array.from(vectors.flatMap((v) => [...v])), [vectors.length, C]) }] : [],
      { ...info, stats: { ...(info.stats ?? {}), serac: { statements, classifier: serac.classifierName, threshold: serac.threshold, artefact: serac.dir } } },
    );
  }

  /**
   * Reinterprets a delta read by `EditDelta.load` as a SERAC memory, routed by `serac` (which
   * must use the classifier the memory was built with).
   */
  static from(delta: EditDelta, serac: Serac): SeracDelta {
    const meta = (delta.info.stats as { serac?: { statements: string[]; classifier: string } } | undefined)?.serac;
    if (!meta) throw new ArgumentError('SeracDelta.from: the delta has no SERAC memory (stats.serac)');
    if (meta.classifier !== serac.classifierName) throw new ArgumentError(`SeracDelta.from: the memory was built for classifier ${meta.classifier}, not ${serac.classifierName}`);
    const u = delta.updates.find((x) => x.name === VECTORS);
    let vectors: Float32Array[] | undefined;
    if (u?.delta) {
      const [M, C] = u.delta.shape;
      const data = u.delta.data() as Float32Array;
      vectors = Array.from({ length: M }, (_, i) => data.slice(i * C, (i + 1) * C));
    } else if (serac.classifier.config.kind === 'embedding') {
      vectors = serac.classifier.contextVectors(meta.statements);
    }
    const { stats, ...rest } = delta.info;
    const { serac: _s, ...otherStats } = (stats ?? {}) as Record<string, unknown>;
    return new SeracDelta(serac, meta.statements, vectors, { ...rest, stats: otherStats });
  }

  /** Number of edits in the memory. */
  get size(): number {
    return this.statements.length;
  }

  protected wrapperFor(model: CausalLM): ForwardWrapper {
    const cf = this.serac.counterfactual;
    const tok = model.tokenizer;
    if (!tok) throw new ArgumentError('SERAC: the base model has no tokenizer');
    if (!cf.tokenizer || cf.config.vocabSize !== model.config.vocabSize || cf.tokenizer.vocabSize !== tok.vocabSize) {
      throw new ArgumentError(`SERAC: the counterfactual model's vocabulary (${cf.config.vocabSize}) differs from the base model's (${model.config.vocabSize}); they must share the tokenizer`);
    }
    const contexts = this.statements.map((s) => counterfactualContext(cf.tokenizer!, s));
    const router = (rows: number[][]) => {
      const texts = rows.map((r) => tok.decode(r, { skipSpecialTokens: true }));
      const decisions = this.serac.classifier.decide(this.statements, this.vectors, texts);
      this.routing.rows += rows.length;
      return decisions.map((d) => {
        if (d.index < 0 || d.score <= this.serac.threshold) return null;
        this.routing.routed++;
        return { context: contexts[d.index] };
      });
    };
    const pad = model.config.eosTokenId ?? 0;
    return (previous) => routedForward(previous, (ids, opts) => cf.forward(ids, opts), router, cf.config.maxPositions, pad);
  }
}

/** Hyperparameters of {@link SeracEditor} as reported. */
export interface SeracHyperParams {
  artefact: string;
  classifier: string;
  threshold: number;
}

/**
 * SERAC as an {@link Editor}: `edit` stores the requests in a new memory; applying the returned
 * delta routes in-scope rows to the counterfactual model. Deltas of several `edit` calls stack
 * (the newest memory is consulted first; rows it does not claim fall through to older ones).
 */
export class SeracEditor implements Editor {
  readonly name = 'SERAC';

  constructor(readonly serac: Serac) {}

  get hparams(): SeracHyperParams {
    return { artefact: this.serac.dir, classifier: this.serac.classifierName, threshold: this.serac.threshold };
  }

  async edit(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<SeracDelta> {
    await yieldToEventLoop(); // frees the handles of earlier work (see yieldToEventLoop)
    if (!model.tokenizer) throw new ArgumentError('SERAC: the base model has no tokenizer');
    requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
    const statements = requests.map((r) => editStatement(r));
    opts.onProgress?.({ stage: 'memory', done: 0, total: requests.length });
    const vectors = this.serac.classifier.contextVectors(statements);
    opts.onProgress?.({ stage: 'memory', done: requests.length, total: requests.length });
    return new SeracDelta(this.serac, statements, vectors, { method: 'SERAC', hparams: this.hparams, requests: requests.map((r) => ({ ...r })) });
  }
}
