/**
 * Text generation with a KV cache: greedy decoding and sampling (temperature, top-k,
 * top-p) with a seeded generator. Ragged prompts are left-padded and masked, and
 * positions follow HF generate (padding does not shift positions).
 */
import { noGrad, tidy } from './engine';
import { ArgumentError } from './errors';
import type { RgbImage } from './io/image';
import { KVCache, type CausalLM } from './models/model';
import { mulberry32 } from './tensor';

export interface GenerateOptions {
  /** Tokens to add to each prompt. */
  maxNewTokens: number;
  /** Sample instead of taking the argmax (default false: greedy). */
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Seed of the sampler (default 0). */
  seed?: number;
  /** Stop a row once it emits this token (default: the config's eos_token_id; null disables). */
  eosTokenId?: number | null;
  /** Vision-language models: one image (or null) per prompt, passed on every step (`ForwardOptions.images`). */
  images?: readonly (RgbImage | null)[];
}

/** Picks the next token from a row of logits. @internal */
export function pickToken(logits: Float32Array | Float64Array, opts: GenerateOptions, rng: () => number): number {
  if (!opts.doSample) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const temperature = opts.temperature ?? 1;
  if (!(temperature > 0)) throw new ArgumentError(`Expected a positive number for temperature but received ${temperature}`);
  let idx = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  if (opts.topK && opts.topK > 0) idx = idx.slice(0, opts.topK);
  const max = logits[idx[0]];
  let probs = idx.map((i) => Math.exp((logits[i] - max) / temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / total);
  if (opts.topP !== undefined && opts.topP < 1) {
    let acc = 0;
    let keep = 0;
    while (keep < probs.length && acc < opts.topP) acc += probs[keep++];
    idx = idx.slice(0, Math.max(keep, 1));
    probs = probs.slice(0, idx.length);
    total = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / total);
  }
  let r = rng();
  for (let j = 0; j < idx.length; j++) {
    r -= probs[j];
    if (r <= 0) return idx[j];
  }
  return idx[idx.length - 1];
}

/**
 * Continues each prompt (token ids) by up to `maxNewTokens` tokens; returns only the
 * new tokens of each row (a row stops early at the EOS token, which is included).
 * @example generate(model, [tokenizer.encode('The capital of Varsa is')], { maxNewTokens: 5 })
 */
export function generate(model: CausalLM, prompts: number[][], opts: GenerateOptions): number[][] {
  if (prompts.length === 0) return [];
  if (prompts.some((p) => p.length === 0)) throw new ArgumentError('generate: every prompt needs at least one token');
  const eos = opts.eosTokenId === undefined ? model.config.eosTokenId : opts.eosTokenId;
  const pad = eos ?? 0;
  const width = Math.max(...prompts.map((p) => p.length));
  const ragged = prompts.some((p) => p.length !== width);
  const ids = prompts.map((p) => [...Array(width - p.length).fill(pad), ...p]);
  const mask = prompts.map((p) => [...Array(width - p.length).fill(0), ...Array(p.length).fill(1)]);
  const rng = mulberry32(opts.seed ?? 0);
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  const cache = new KVCache();
  try {
    let step = ids;
    for (let n = 0; n < opts.maxNewTokens; n++) {
      const T = step[0].length;
      const rows = noGrad(() =>
        tidy(() => {
          const { logits } = model.forward(step, {
            cache,
            attentionMask: ragged ? mask : undefined,
            logitsAt: step.map(() => T - 1),
            images: opts.images,
          });
          const V = logits.shape[2];
          const data = logits.data() as Float32Array;
          return step.map((_, b) => data.subarray(b * V, (b + 1) * V));
        }),
      );
      const next = rows.map((row, b) => (done[b] ? pad : pickToken(row, opts, rng)));
      next.forEach((t, b) => {
        if (done[b]) return;
        out[b].push(t);
        if (eos !== undefined && eos !== null && t === eos) done[b] = true;
      });
      if (done.every(Boolean)) break;
      for (const m of mask) m.push(1);
      step = next.map((t) => [t]);
    }
  } finally {
    cache.dispose();
  }
  return out;
}

/** Generates from text prompts with the model's tokenizer; returns the continuations as text. */
export function generateText(model: CausalLM, prompts: string[], opts: GenerateOptions): string[] {
  const tok = model.tokenizer;
  if (!tok) throw new ArgumentError('generateText: the model has no tokenizer (load a directory with tokenizer.json)');
  return generate(model, prompts.map((p) => tok.encode(p)), opts).map((ids) => tok.decode(ids));
}
