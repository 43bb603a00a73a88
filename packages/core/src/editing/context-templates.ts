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
 * @param startWords when given, each `count` is shared among these words (`count / words`
 *   samples each, rounded down, as MEMIT's `n_gen // 5`) and every sample starts with its word,
 *   which stays in the template (MEMIT's seeds "The", "Therefore", ...); `length` then counts
 *   the word's tokens and the generated ones. Default: `count` samples from the start token (ROME).
 * @throws ArgumentError when the model has no tokenizer
 */
export function contextTemplates(model: CausalLM, lengthParams: [number, number][], seed: number, startWords?: readonly string[]): string[] {
  const tok = model.tokenizer;
  if (!tok) throw new ArgumentError('contextTemplates needs the model tokenizer');
  const key = JSON.stringify([lengthParams, seed, startWords ?? null]);
  let perModel = cache.get(model);
  if (!perModel) cache.set(model, (perModel = new Map()));
  const hit = perModel.get(key);
  if (hit) return hit;
  const start = model.config.bosTokenId ?? model.config.eosTokenId ?? 0;
  const starts = startWords ? startWords.map((w) => tok.encode(w, { addSpecialTokens: false })) : [[]];
  const templates = ['{}'];
  lengthParams.forEach(([length, count], i) => {
    const perStart = startWords ? Math.floor(count / startWords.length) : count;
    if (perStart === 0) return;
    starts.forEach((word, w) => {
      const rows = generate(model, Array.from({ length: perStart }, () => [start, ...word]), {
        maxNewTokens: Math.max(length - Math.max(word.length, 1), 1),
        doSample: true,
        topK: 5,
        seed: seed + 1000 * i + 100 * w,
        eosTokenId: null,
      });
      for (const ids of rows) {
        const text = tok.decode([...word, ...ids], { skipSpecialTokens: true }).replace(/[{}]/g, ' ').replace(/\n\n/g, ' ').trim();
        templates.push(`${text}. {}`);
      }
    });
  });
  perModel.set(key, templates);
  return templates;
}
