/**
 * Context templates: short texts the model generates itself, used as prefixes so an
 * edit generalises over contexts (ROME §3.1; spec §1.4; also MEMIT's and T-Patcher's edit rows). ROME samples
 * `count` continuations of `length` tokens from "<|endoftext|>" with top-k 5 and
 * builds `text + ". {}"`, plus the bare "{}". Sampling is seeded here (ROME samples
 * once per process, unseeded), and braces are removed (a generated "{" breaks the
 * template, as in EasyEdit).
 */
import { ArgumentError } from '../errors';
import { generate } from '../generation';
import type { CausalLM } from '../models/model';

const cache = new WeakMap<CausalLM, Map<string, string[]>>();

/**
 * @param lengthParams [[length, count], ...]: `length` is the total tokens incl. the seed
 */
export function contextTemplates(model: CausalLM, lengthParams: [number, number][], seed: number): string[] {
  const tok = model.tokenizer;
  if (!tok) throw new ArgumentError('contextTemplates needs the model tokenizer');
  const key = JSON.stringify([lengthParams, seed]);
  let perModel = cache.get(model);
  if (!perModel) cache.set(model, (perModel = new Map()));
  const hit = perModel.get(key);
  if (hit) return hit;
  const start = model.config.bosTokenId ?? model.config.eosTokenId ?? 0;
  const templates = ['{}'];
  lengthParams.forEach(([length, count], i) => {
    const rows = generate(model, Array.from({ length: count }, () => [start]), {
      maxNewTokens: Math.max(length - 1, 1),
      doSample: true,
      topK: 5,
      seed: seed + 1000 * i,
      eosTokenId: null,
    });
    for (const ids of rows) {
      const text = tok.decode(ids, { skipSpecialTokens: true }).replace(/[{}]/g, ' ').replace(/\n\n/g, ' ').trim();
      templates.push(`${text}. {}`);
    }
  });
  perModel.set(key, templates);
  return templates;
}
