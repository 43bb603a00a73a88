/**
 * Mutation fuzzing of every reader of user files: safetensors files (the native header parser and
 * loader, and edit deltas through `EditDelta.load`), tokenizer.json files, dataset records
 * (CounterFact, EasyEdit, zsRE, KnowEdit, JSONL) and hyperparameter files (JSON/YAML through every
 * method's resolver).
 *
 *   node scripts/dist/fuzz/readers.js --cases 1000000 [--seed 1] [--targets safetensors,tokenizer,dataset,hparams]
 *
 * Seeds are the repository's own files; each case mutates one seed either as bytes (bit flips,
 * grammar characters, insertions, deletions, truncations, duplicated spans) or as parsed JSON (a
 * node replaced by a value of another type, an extreme number, a long or odd string, deep
 * nesting, a key deleted, renamed or added — `__proto__` too). A case passes when the reader
 * accepts the input or rejects it with its typed error whose message names the file. Anything
 * else (another error class, a message without the file, the process dying) is a failure.
 * Prints progress lines and a JSON summary; exits 1 on any failure.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DTYPE_CODES, loadBinding } from '@medit/native';

import {
  ArgumentError,
  EditDelta,
  IOError,
  NonFiniteError,
  Tokenizer,
  TokenizerError,
  UnknownFieldError,
  fromNative,
  mulberry32,
  parseHparamsText,
  randn,
} from '@medit/core';
import { DatasetFormatError, DatasetParseError, DatasetSchemaError, parseDataset } from '@medit/data';
import { defaultFtHparams, resolveFtHparams } from '@medit/ft';
import { KN_DEFAULTS, resolveKnHparams } from '@medit/kn';
import { defaultMemitHparams, resolveMemitHparams } from '@medit/memit';
import { defaultKeHparams, defaultMendHparams, resolveHparams } from '@medit/mend';
import { defaultRomeHparams, resolveRomeHparams } from '@medit/rome';
import { defaultTPatcherHparams, resolveTPatcherHparams } from '@medit/tpatcher';

const ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');

export const TARGETS = ['safetensors', 'tokenizer', 'dataset', 'hparams'] as const;
export type Target = (typeof TARGETS)[number];

/** Counts for one reader. */
export interface TargetStats {
  cases: number;
  accepted: number;
  rejected: number;
  /** rejections by error class */
  errors: Record<string, number>;
  failures: number;
  /** the first failures: what was thrown and a prefix of the input */
  examples: { error: string; input: string }[];
  /** slowest case, ms */
  maxMs: number;
}

type Rng = () => number;

// ---------------------------------------------------------------- mutators

const GRAMMAR = '{}[]":,-0123456789eE.+\\ \n\tutrfaln/'.split('');
const EXTREME_NUMBERS = [0, -0, -1, 1, 2, 3, 0.5, -0.5, 255, 256, 65535, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 1e15, 1e21, 1e308, -1e308, 5e-324, 1e-7];
const ODD_STRINGS = ['', ' ', 'x', '{}', '{} {}', '__proto__', 'constructor', 'toString', '\u0000', '\ud800', 'é', '😀', '\n', '..', '../x', '/etc/passwd', 'a'.repeat(5000), 'NaN', 'Infinity', '-1', 'null', 'true', 'F32', 'BF16', 'Ġ', '▁'];
const ODD_KEYS = ['__proto__', 'constructor', 'prototype', '', ' ', 'x', '__metadata__', 'medit_document', 'layerz', 'type', 'vocab', 'merges', 'dtype', 'shape', 'data_offsets'];

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
const int = (rng: Rng, n: number): number => Math.floor(rng() * n);

/** A random JSON value, sometimes nested or deep. */
function randomValue(rng: Rng, depth = 0): unknown {
  switch (int(rng, depth > 2 ? 4 : 8)) {
    case 0:
      return null;
    case 1:
      return rng() < 0.5;
    case 2:
      return pick(rng, EXTREME_NUMBERS);
    case 3:
      return pick(rng, ODD_STRINGS);
    case 4:
      return Array.from({ length: int(rng, 4) }, () => randomValue(rng, depth + 1));
    case 5:
      return Object.fromEntries(Array.from({ length: int(rng, 3) }, () => [pick(rng, ODD_KEYS), randomValue(rng, depth + 1)]));
    case 6: {
      // deep nesting
      let v: unknown = 0;
      const n = pick(rng, [50, 500, 1500]);
      for (let i = 0; i < n; i++) v = rng() < 0.5 ? [v] : { a: v };
      return v;
    }
    default:
      return Array.from({ length: pick(rng, [1000, 20000]) }, (_, i) => i);
  }
}

/** Containers (objects/arrays) of `v` with their keys, for picking a node to mutate. */
function containers(v: unknown, out: (Record<string, unknown> | unknown[])[] = [], depth = 0): (Record<string, unknown> | unknown[])[] {
  if (depth > 40 || typeof v !== 'object' || v === null) return out;
  out.push(v as Record<string, unknown>);
  for (const c of Object.values(v as object)) containers(c, out, depth + 1);
  return out;
}

/** Mutates a parsed JSON value in place (or returns a replacement for the root). */
export function mutateJson(root: unknown, rng: Rng): unknown {
  const nodes = containers(root);
  if (nodes.length === 0 || rng() < 0.02) return randomValue(rng);
  const rounds = 1 + int(rng, 3);
  for (let r = 0; r < rounds; r++) {
    const node = pick(rng, nodes);
    const keys = Object.keys(node);
    const key = keys.length ? pick(rng, keys) : '0';
    const obj = node as Record<string, unknown>;
    const cur = obj[key];
    switch (int(rng, 10)) {
      case 0:
        if (Array.isArray(node)) node.splice(Number(key), 1);
        else delete obj[key];
        break;
      case 1: {
        const nk = rng() < 0.5 ? pick(rng, ODD_KEYS) : key + pick(rng, ['z', '_', 's', '']);
        if (!Array.isArray(node)) {
          Object.defineProperty(obj, nk, { value: cur, enumerable: true, writable: true, configurable: true });
          if (nk !== key) delete obj[key];
        }
        break;
      }
      case 2:
        if (typeof cur === 'number') obj[key] = rng() < 0.5 ? cur + pick(rng, [-1, 1, -2, 2]) : cur * pick(rng, [-1, 2, 1e6, 1e-6, 0]);
        else obj[key] = pick(rng, EXTREME_NUMBERS);
        break;
      case 3:
        if (typeof cur === 'string' && cur.length > 0) {
          const i = int(rng, cur.length);
          obj[key] = cur.slice(0, i) + pick(rng, [...ODD_STRINGS.slice(0, 12), cur[i] ?? '']) + cur.slice(i + 1);
        } else obj[key] = pick(rng, ODD_STRINGS);
        break;
      case 4:
        if (Array.isArray(cur) && cur.length) cur.push(cur[int(rng, cur.length)]);
        else obj[key] = [cur];
        break;
      case 5:
        if (Array.isArray(cur) && cur.length > 1) {
          const i = int(rng, cur.length);
          const j = int(rng, cur.length);
          [cur[i], cur[j]] = [cur[j], cur[i]];
        } else obj[key] = randomValue(rng);
        break;
      case 6: {
        const other = pick(rng, nodes);
        obj[key] = JSON.parse(JSON.stringify(other));
        break;
      }
      default:
        obj[key] = randomValue(rng);
    }
  }
  return root;
}

/** Byte-level mutation of a buffer (text or binary). */
export function mutateBytes(buf: Buffer, rng: Rng, focus?: [number, number]): Buffer {
  let b = Buffer.from(buf);
  const [lo, hi] = focus ?? [0, b.length];
  const at = () => lo + int(rng, Math.max(1, Math.min(hi, b.length) - lo));
  const rounds = 1 + int(rng, 4);
  for (let r = 0; r < rounds && b.length > 0; r++) {
    switch (int(rng, 7)) {
      case 0: {
        const i = at();
        b[i] ^= 1 << int(rng, 8);
        break;
      }
      case 1:
        b[at()] = pick(rng, GRAMMAR).charCodeAt(0);
        break;
      case 2: {
        const i = at();
        b = Buffer.concat([b.subarray(0, i), Buffer.from(pick(rng, [...GRAMMAR, '"__proto__":', '1e999', '-', '\\u0000', '\xff'])), b.subarray(i)]);
        break;
      }
      case 3: {
        const i = at();
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + int(rng, 8))]);
        break;
      }
      case 4:
        b = b.subarray(0, at());
        break;
      case 5: {
        const i = at();
        const n = 1 + int(rng, 64);
        b = Buffer.concat([b.subarray(0, i + n), b.subarray(i, i + n), b.subarray(i + n)]);
        break;
      }
      default:
        b[at()] = int(rng, 256);
    }
  }
  return b;
}

/** Mutates JSON text: as bytes, or parsed, mutated and written back. */
function mutateJsonText(text: string, rng: Rng): string {
  if (rng() < 0.3) return mutateBytes(Buffer.from(text), rng).toString('utf8');
  return JSON.stringify(mutateJson(JSON.parse(text), rng));
}

// ---------------------------------------------------------------- targets

interface Case {
  /** runs the reader on one mutant; throws what the reader throws */
  run(): void | Promise<void>;
  /** a prefix of the input, for reports */
  input: () => string;
}

interface FuzzTarget {
  /** the label every error message must contain */
  label: string;
  /** error classes the reader may reject with */
  allowed: (new (...args: never[]) => Error)[];
  next(rng: Rng): Case;
}

async function safetensorsTarget(dir: string): Promise<FuzzTarget> {
  const b = loadBinding();
  const seeds: Buffer[] = [];
  const deltaSeeds: Buffer[] = [];
  const f32 = (values: number[], shape: number[]) => b.fromTypedArray(new Float32Array(values), shape, DTYPE_CODES.float32);
  const saveRaw = async (name: string, tensors: Record<string, ReturnType<typeof f32>>, metadata: Record<string, string>) => {
    const file = path.join(dir, name);
    await b.safetensorsSave(file, tensors, metadata);
    for (const h of Object.values(tensors)) b.dispose(h);
    return fs.readFileSync(file);
  };
  seeds.push(
    await saveRaw(
      'seed-mixed.safetensors',
      {
        w: f32([1, 2, 3, 4, 5, 6], [2, 3]),
        d: b.fromTypedArray(new Float64Array([1, -2]), [2], DTYPE_CODES.float64),
        h: b.fromTypedArray(new Uint16Array([0x3c00, 0x4000, 0x7c00]), [3], DTYPE_CODES.float16),
        bf: b.fromTypedArray(new Uint16Array([0x3f80, 0xc000]), [2], DTYPE_CODES.bfloat16),
        ids: b.fromTypedArray(new BigInt64Array([1n, 2n]), [2], DTYPE_CODES.int64),
        i: b.fromTypedArray(new Int32Array([7]), [1], DTYPE_CODES.int32),
        s: f32([3], []),
        e: f32([], [0, 4]),
      },
      { format: 'pt', note: 'fuzz seed' },
    ),
  );
  seeds.push(await saveRaw('seed-empty.safetensors', {}, { format: 'pt' }));
  seeds.push(await saveRaw('seed-one.safetensors', { 'transformer.h.0.mlp.c_fc.weight': f32(Array.from({ length: 32 }, (_, k) => k / 7), [4, 8]) }, {}));
  const delta = new EditDelta([{ name: 'w', left: randn([4, 1], { seed: 3 }), right: randn([1, 4], { seed: 4 }) }, { name: 'b', delta: randn([4], { seed: 5 }) }], { method: 'fuzz' });
  await delta.save(path.join(dir, 'seed-delta.safetensors'));
  delta.dispose();
  deltaSeeds.push(fs.readFileSync(path.join(dir, 'seed-delta.safetensors')));
  const file = path.join(dir, 'mutant.safetensors');
  return {
    label: file,
    allowed: [IOError, NonFiniteError],
    next(rng) {
      const asDelta = rng() < 0.2;
      const seed = pick(rng, asDelta ? deltaSeeds : seeds);
      const headerLen = Number(seed.readBigUInt64LE(0));
      let mutant: Buffer;
      const mode = rng();
      if (mode < 0.5) {
        // the header as JSON, mutated and re-framed (length prefix and padding kept right)
        const header = JSON.parse(seed.subarray(8, 8 + headerLen).toString('utf8'));
        const meta = header.__metadata__;
        if (asDelta && meta && typeof meta.medit_document === 'string' && rng() < 0.5) {
          meta.medit_document = mutateJsonText(meta.medit_document, rng);
        } else mutateJson(header, rng);
        const text = Buffer.from(JSON.stringify(header));
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(text.length));
        mutant = Buffer.concat([len, text, seed.subarray(8 + headerLen)]);
      } else if (mode < 0.9) {
        mutant = mutateBytes(seed, rng, [0, Math.min(seed.length, 8 + headerLen)]);
      } else mutant = mutateBytes(seed, rng);
      return {
        input: () => mutant.subarray(0, 300).toString('latin1'),
        run: async () => {
          fs.writeFileSync(file, mutant);
          if (asDelta) {
            const d = await EditDelta.load(file);
            d.dispose();
            return;
          }
          let header;
          try {
            header = b.safetensorsReadHeader(file);
          } catch (err) {
            throw fromNative(err);
          }
          for (const e of header.tensors) {
            if (e.begin > e.end) throw new Error(`accepted an entry with begin > end: ${e.name}`);
          }
          if (rng() < 0.25) {
            let loaded;
            try {
              loaded = await b.safetensorsLoad(file, null, rng() < 0.5);
            } catch (err) {
              throw fromNative(err);
            }
            for (const h of Object.values(loaded.tensors)) b.dispose(h);
          }
        },
      };
    },
  };
}

function tokenizerTarget(dir: string): FuzzTarget {
  const base = path.join(ROOT, 'test-fixtures/tokenizers');
  const seeds = fs
    .readdirSync(base)
    .map((d) => path.join(base, d, 'tokenizer.json'))
    .filter((f) => fs.existsSync(f))
    .map((f) => fs.readFileSync(f, 'utf8'));
  seeds.push(fs.readFileSync(path.join(ROOT, 'test-fixtures/factworld/tokenizer/tokenizer.json'), 'utf8'));
  const parsed = seeds.map((s) => JSON.parse(s));
  const file = path.join(dir, 'tokenizer.json');
  const texts = ['Hello world', 'The Eiffel Tower is located in Paris.', 'Qqq Ééé 123 😀', '', '  \n\t', '<|endoftext|>[CLS] x'];
  return {
    label: file,
    allowed: [TokenizerError],
    next(rng) {
      const i = int(rng, seeds.length);
      const asText = rng() < 0.15;
      const mutant = asText ? mutateBytes(Buffer.from(seeds[i]), rng).toString('utf8') : mutateJson(structuredClone(parsed[i]), rng);
      return {
        input: () => (typeof mutant === 'string' ? mutant : JSON.stringify(mutant) ?? String(mutant)).slice(0, 300),
        run: () => {
          let tok: Tokenizer;
          if (asText) {
            fs.writeFileSync(file, mutant as string);
            tok = Tokenizer.fromFile(file);
          } else tok = Tokenizer.fromJSON(mutant, { source: file });
          for (const t of texts) {
            const ids = tok.encode(t);
            tok.decode(ids);
            tok.unknownWords(t);
          }
        },
      };
    },
  };
}

function datasetTarget(dir: string): FuzzTarget {
  const files = [
    'test-fixtures/datasets/counterfact_sample.json',
    'test-fixtures/datasets/counterfact_easyedit_200.json',
    'test-fixtures/datasets/counterfact_portability_200.json',
    'test-fixtures/datasets/knowedit_wiki_counterfact_sample.json',
    'test-fixtures/factworld/edits-tiny/zsre-train.json',
    'test-fixtures/factworld/edits-tiny/knowedit_zsre-train.json',
    'test-fixtures/factworld/edits-tiny/counterfact-train.json',
  ];
  const arrays = files.map((f) => (JSON.parse(fs.readFileSync(path.join(ROOT, f), 'utf8')) as unknown[]).slice(0, 2));
  const jsonl = fs.readFileSync(path.join(ROOT, 'test-fixtures/datasets/edits_sample.jsonl'), 'utf8');
  const file = path.join(dir, 'dataset.json');
  return {
    label: file,
    allowed: [DatasetSchemaError, DatasetParseError, DatasetFormatError],
    next(rng) {
      let text: string;
      const mode = rng();
      if (mode < 0.15) text = mutateBytes(Buffer.from(jsonl), rng).toString('utf8');
      else if (mode < 0.35) text = mutateBytes(Buffer.from(JSON.stringify(pick(rng, arrays))), rng).toString('utf8');
      else text = JSON.stringify(mutateJson(structuredClone(pick(rng, arrays)), rng)) ?? 'undefined';
      const format = rng() < 0.2 ? pick(rng, ['counterfact', 'counterfact-easyedit', 'zsre', 'knowedit', 'jsonl'] as const) : undefined;
      return {
        input: () => text.slice(0, 300),
        run: () => {
          const ds = parseDataset(text, { file, ...(format ? { format } : {}) });
          for (const c of ds.cases) if (typeof c.request.prompt !== 'string' || typeof c.request.subject !== 'string') throw new Error('accepted a case without a string prompt/subject');
        },
      };
    },
  };
}

/** Every method's reader: the fields it knows and its resolver (what `read*Hparams` run). */
const HPARAMS_READERS: { known: string[]; ignored?: string[]; resolve: (given: Record<string, unknown>, source: string) => unknown }[] = [
  { known: Object.keys(defaultRomeHparams(8)), resolve: (g, s) => resolveRomeHparams(g, 8, s) },
  { known: Object.keys(defaultMemitHparams(8)), resolve: (g, s) => resolveMemitHparams(g, 8, 'MEMIT', s) },
  { known: Object.keys(defaultMemitHparams(8)), resolve: (g, s) => resolveMemitHparams(g, 8, 'AlphaEdit', s) },
  { known: Object.keys(defaultFtHparams(8)), resolve: (g, s) => resolveFtHparams(g, 8, 'FT-L', s) },
  { known: Object.keys(KN_DEFAULTS), resolve: (g, s) => resolveKnHparams(g, 8, s) },
  { known: Object.keys(defaultTPatcherHparams(8)), resolve: (g, s) => resolveTPatcherHparams(g, 8, s) },
  { known: Object.keys(defaultMendHparams()), resolve: (g, s) => resolveHparams(defaultMendHparams(), g, s) },
  { known: Object.keys(defaultKeHparams()), resolve: (g, s) => resolveHparams(defaultKeHparams(), g, s) },
];

function hparamsTarget(dir: string): FuzzTarget {
  const files = [
    ...fs.readdirSync(path.join(ROOT, 'bench/hparams')).map((f) => path.join('bench/hparams', f)),
    'packages/mend/hparams/fact-small-mend.json',
    'test-fixtures/cli/hparams-fast.json',
    'test-fixtures/cli/hparams-fast.yaml',
    'test-fixtures/parity/rome/hparams.json',
    'test-fixtures/memit/MEMIT-gpt2-xl.yaml',
    'test-fixtures/memit/EMMET-gpt2-xl.yaml',
    'test-fixtures/ft/gpt2-xl.yaml',
  ];
  const seeds = files.map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8'));
  const yamlFile = path.join(dir, 'hparams.yaml');
  const jsonFile = path.join(dir, 'hparams.json');
  return {
    label: dir,
    allowed: [IOError, UnknownFieldError, ArgumentError],
    next(rng) {
      const seed = pick(rng, seeds);
      const asJson = rng() < 0.5;
      let text: string;
      if (rng() < 0.4) text = mutateBytes(Buffer.from(seed), rng).toString('utf8');
      else {
        let obj: unknown;
        try {
          obj = JSON.parse(seed);
        } catch {
          obj = Object.fromEntries(seed.split('\n').filter((l) => /^[a-z_0-9]+:/i.test(l)).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
        }
        text = JSON.stringify(mutateJson(obj, rng)) ?? 'null';
      }
      const reader = pick(rng, HPARAMS_READERS);
      const source = asJson ? jsonFile : yamlFile;
      return {
        input: () => text.slice(0, 300),
        run: () => {
          const mapping = parseHparamsText(text, source, rng() < 0.8 ? { known: reader.known, ignored: reader.ignored } : undefined);
          reader.resolve(mapping, source);
        },
      };
    },
  };
}

// ---------------------------------------------------------------- the loop

/**
 * Runs `cases` mutants spread evenly over `targets`.
 * @param onProgress - called every `progressEvery` cases with the counts so far
 */
export async function fuzzReaders(opts: {
  cases: number;
  seed?: number;
  targets?: readonly Target[];
  progressEvery?: number;
  onProgress?: (done: number, stats: Record<string, TargetStats>) => void;
}): Promise<Record<string, TargetStats>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-fuzz-'));
  const targets = opts.targets ?? TARGETS;
  try {
    const built: Record<string, FuzzTarget> = {};
    for (const t of targets) {
      built[t] = t === 'safetensors' ? await safetensorsTarget(dir) : t === 'tokenizer' ? tokenizerTarget(dir) : t === 'dataset' ? datasetTarget(dir) : hparamsTarget(dir);
    }
    const stats: Record<string, TargetStats> = Object.fromEntries(targets.map((t) => [t, { cases: 0, accepted: 0, rejected: 0, errors: {}, failures: 0, examples: [], maxMs: 0 }]));
    const rng = mulberry32(opts.seed ?? 1);
    for (let i = 0; i < opts.cases; i++) {
      const name = targets[i % targets.length];
      const target = built[name];
      const s = stats[name];
      const c = target.next(rng);
      const t0 = performance.now();
      s.cases++;
      try {
        await c.run();
        s.accepted++;
      } catch (err) {
        const e = err as Error;
        const named = target.allowed.some((cls) => e instanceof cls) && typeof e.message === 'string' && e.message.includes(target.label);
        if (named) {
          s.rejected++;
          s.errors[e.constructor.name] = (s.errors[e.constructor.name] ?? 0) + 1;
        } else {
          s.failures++;
          if (s.examples.length < 8) s.examples.push({ error: `${e?.constructor?.name ?? typeof e}: ${String(e?.message ?? e).slice(0, 400)}`, input: c.input() });
        }
      }
      s.maxMs = Math.max(s.maxMs, performance.now() - t0);
      if (opts.onProgress && (i + 1) % (opts.progressEvery ?? 10000) === 0) opts.onProgress(i + 1, stats);
    }
    return stats;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const targets = (flag('targets')?.split(',') ?? [...TARGETS]) as Target[];
  for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`unknown target ${t} (targets: ${TARGETS.join(', ')})`);
  const started = Date.now();
  fuzzReaders({
    cases: Number(flag('cases') ?? 1_000_000),
    seed: Number(flag('seed') ?? 1),
    targets,
    progressEvery: Number(flag('progress-every') ?? 50_000),
    onProgress: (done, s) =>
      console.log(JSON.stringify({ done, seconds: Math.round((Date.now() - started) / 1000), failures: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.failures])) })),
  })
    .then((stats) => {
      const failures = Object.values(stats).reduce((n, s) => n + s.failures, 0);
      console.log(JSON.stringify({ summary: { failures, seconds: Math.round((Date.now() - started) / 1000), stats } }, null, 2));
      process.exitCode = failures > 0 ? 1 : 0;
    })
    .catch((err) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exitCode = 1;
    });
}
