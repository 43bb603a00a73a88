#!/usr/bin/env node
'use strict';
/**
 * medit benchmark runner (`npm run bench`). Prints ONE JSON object to stdout; progress goes to
 * stderr, so `npm run bench --silent > bench.json` captures clean JSON.
 *
 *   node scripts/bench/run.js                 every section but the opt-in vs-torch
 *   node scripts/bench/run.js --only gemm     a comma-separated subset
 *   node scripts/bench/run.js --reps 11       samples per measurement (median reported; default 7)
 *   node scripts/bench/run.js --quick         shorter samples (smoke runs, CI)
 *   node scripts/bench/run.js --list          section names and descriptions
 *   node scripts/bench/run.js --vs-torch      medit beside PyTorch (sections/vs-torch.js; opt-in:
 *                                            the default run leaves it out)
 *
 * Sections live in scripts/bench/sections/<name>.js and export
 *   { name: string, description: string, run(ctx: BenchContext): Promise<object> }
 * where the returned object becomes `sections[name]` in the output. A section that throws is
 * reported as { error } and makes the exit status 1; the others still run.
 *
 * The engine is loaded through @medit/native's compiled entry (native/dist, from `npm run
 * build`), which honours MEDIT_NATIVE_PATH like every other consumer. Benchmarks are never
 * tests: nothing here compares a speed against a threshold.
 */
const path = require('node:path');
const { machineInfo } = require('./lib');

/**
 * @typedef {object} BenchContext
 * @property {import('../../native/lib/binding').NativeBinding} binding the loaded addon
 * @property {Record<string, number>} dtypeCodes dtype name -> engine code (DTYPE_CODES)
 * @property {number} reps samples per measurement
 * @property {boolean} quick shorter samples
 * @property {(msg: string) => void} log progress line to stderr
 * @property {string} repoRoot absolute path of the repository
 */

/**
 * The section registry, in run order. Each entry is loaded lazily so a section whose own
 * dependencies are missing (e.g. an unbuilt package) fails alone.
 */
const SECTIONS = [
  { name: 'gemm', load: () => require('./sections/gemm') },
  { name: 'model', load: () => require('./sections/model') },
  { name: 'rome', load: () => require('./sections/rome') },
  { name: 'mend', load: () => require('./sections/mend') },
  { name: 'serac', load: () => require('./sections/serac') },
  { name: 'memit', load: () => require('./sections/memit') },
  { name: 'memit-z', load: () => require('./sections/memit-z') },
  { name: 'vs-torch', load: () => require('./sections/vs-torch'), optIn: true },
];

function parseArgs(argv) {
  const opts = { only: null, reps: 7, quick: false, list: false, help: false, vsTorch: false };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`Expected a value after ${arg}`);
      return v;
    };
    if (arg === '--only') opts.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (arg.startsWith('--only=')) opts.only = arg.slice(7).split(',').map((s) => s.trim()).filter(Boolean);
    else if (arg === '--reps') opts.reps = Number(value());
    else if (arg.startsWith('--reps=')) opts.reps = Number(arg.slice(7));
    else if (arg === '--quick') opts.quick = true;
    else if (arg === '--vs-torch') opts.vsTorch = true;
    else if (arg === '--list') opts.list = true;
    else if (arg === '--help' || arg === '-h') opts.help = true;
    else throw new Error(`Unknown argument ${arg} (try --help)`);
  }
  if (!Number.isInteger(opts.reps) || opts.reps < 1) {
    throw new Error(`Expected a positive integer for --reps but received ${opts.reps}`);
  }
  if (opts.vsTorch) opts.only = [...new Set([...(opts.only ?? []), 'vs-torch'])];
  if (opts.only) {
    const known = new Set(SECTIONS.map((s) => s.name));
    const unknown = opts.only.filter((n) => !known.has(n));
    if (unknown.length) {
      throw new Error(`Unknown section(s) ${unknown.join(', ')} for --only; known: ${[...known].join(', ')}`);
    }
  }
  return opts;
}

function loadEngine() {
  try {
    // eslint-disable-next-line global-require
    const native = require('@medit/native');
    return { binding: native.loadBinding(), dtypeCodes: native.DTYPE_CODES };
  } catch (err) {
    const hint = /Cannot find module/.test(err.message)
      ? ' (is @medit/native compiled? run `npm run build`)'
      : '';
    throw new Error(`Could not load the medit engine${hint}: ${err.message}`);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    const source = require('node:fs').readFileSync(__filename, 'utf8');
    process.stderr.write(`${source.slice(source.indexOf('/**'), source.indexOf('*/') + 2)}\n`);
    return 0;
  }
  if (opts.list) {
    for (const s of SECTIONS) process.stdout.write(`${s.name}\t${s.load().description}\n`);
    return 0;
  }
  const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
  const { binding, dtypeCodes } = loadEngine();
  const started = new Date();
  const out = {
    schema: 'medit-bench/1',
    date: started.toISOString(),
    command: ['node', path.relative(process.cwd(), __filename) || __filename, ...process.argv.slice(2)].join(' '),
    machine: machineInfo(binding),
    options: { reps: opts.reps, quick: opts.quick, only: opts.only },
    sections: {},
  };
  /** @type {BenchContext} */
  const ctx = { binding, dtypeCodes, reps: opts.reps, quick: opts.quick, log, repoRoot: path.resolve(__dirname, '../..') };
  let failed = false;
  for (const entry of SECTIONS) {
    if (opts.only ? !opts.only.includes(entry.name) : entry.optIn) continue;
    const t0 = Date.now();
    log(`section ${entry.name} ...`);
    try {
      const section = entry.load();
      out.sections[entry.name] = await section.run(ctx);
    } catch (err) {
      failed = true;
      out.sections[entry.name] = { error: String((err && err.stack) || err) };
      log(`section ${entry.name} failed: ${err && err.message}`);
    }
    log(`section ${entry.name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  out.machine.loadAverageAtEnd = require('node:os').loadavg().map((x) => Math.round(x * 100) / 100);
  out.elapsedSeconds = Math.round((Date.now() - started.getTime()) / 100) / 10;
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`medit bench: ${err.message}\n`);
    process.exitCode = 2;
  },
);
