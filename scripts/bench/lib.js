'use strict';
/**
 * Shared helpers for the benchmark sections: timing, statistics, machine description.
 * Benchmarks are never tests (STYLE.md §7): nothing here asserts a speed.
 */
const fs = require('node:fs');
const os = require('node:os');

/** Median of a non-empty array of numbers. */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Milliseconds taken by `fn()` (monotonic clock). */
function timeMs(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * Times `fn` as `reps` samples after `warmup` untimed calls. Each sample repeats `fn` enough
 * times to last at least `minSampleMs`, so sub-millisecond calls are not dominated by clock
 * resolution. Returns per-call milliseconds: { medianMs, minMs, maxMs, samples, callsPerSample }.
 */
function measure(fn, { reps = 7, warmup = 2, minSampleMs = 50 } = {}) {
  let once = Infinity;
  for (let i = 0; i < Math.max(1, warmup); ++i) once = Math.min(once, timeMs(fn));
  const calls = Math.max(1, Math.ceil(minSampleMs / Math.max(once, 1e-3)));
  const perCall = [];
  for (let r = 0; r < reps; ++r) {
    perCall.push(
      timeMs(() => {
        for (let c = 0; c < calls; ++c) fn();
      }) / calls,
    );
  }
  return {
    medianMs: median(perCall),
    minMs: Math.min(...perCall),
    maxMs: Math.max(...perCall),
    samples: perCall.length,
    callsPerSample: calls,
  };
}

/** mulberry32: seeded uniform [0, 1) so every run multiplies the same numbers. */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function cpuModel() {
  try {
    const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(text);
    if (m) return m[1].trim();
  } catch {
    // not Linux: fall through to os.cpus()
  }
  const cpus = os.cpus();
  return cpus.length ? cpus[0].model : 'unknown';
}

/** CPU flags that matter for the GEMM kernels (from /proc/cpuinfo, Linux only). */
function cpuVectorFlags() {
  try {
    const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const m = /^flags\s*:\s*(.+)$/m.exec(text);
    if (!m) return [];
    const flags = new Set(m[1].split(/\s+/));
    return ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_bf16'].filter((f) => flags.has(f));
  } catch {
    return [];
  }
}

/** The machine the numbers came from. `binding` may be null when the addon failed to load. */
function machineInfo(binding) {
  return {
    cpuModel: cpuModel(),
    cpuFlags: cpuVectorFlags(),
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    env: {
      MEDIT_NUM_THREADS: process.env.MEDIT_NUM_THREADS ?? null,
      OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? null,
      OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? null,
      MEDIT_GEMM: process.env.MEDIT_GEMM ?? null,
      MEDIT_NATIVE_PATH: process.env.MEDIT_NATIVE_PATH ?? null,
    },
    buildInfo: binding ? binding.buildInfo() : null,
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

module.exports = { median, timeMs, measure, rng, machineInfo };
