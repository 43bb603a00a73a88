'use strict';
/**
 * GEMM throughput of both CPU paths: the system BLAS (when linked) and the built-in blocked
 * kernel (src/cpu/gemm.cpp), measured through `binding.matmul` (C = A·B, beta = 0), so each
 * call also includes the N-API hop and the output allocation (< 5% at 256³, noise above).
 * GFLOP/s = 2·M·N·K / median per-call time.
 */
const { measure, rng } = require('../lib');

/** [dtype, M, N, K]; 2048x768x768 is a GPT-2-small MLP/attention projection at 2048 tokens. */
const SHAPES = [
  ['float32', 256, 256, 256],
  ['float32', 512, 512, 512],
  ['float32', 1024, 1024, 1024],
  ['float32', 2048, 768, 768],
  ['float64', 1024, 1024, 1024],
];

const SETTLE_MS = 300;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function randomTensor(binding, dtypeCode, dtype, shape, rand) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; ++i) data[i] = rand() * 2 - 1;
  return binding.fromTypedArray(data, shape, dtypeCode);
}

/** Largest |x - y| / (1 + |y|) between two products, a guard against timing a broken path. */
function maxRelDiff(x, y) {
  let worst = 0;
  for (let i = 0; i < x.length; ++i) {
    const d = Math.abs(x[i] - y[i]) / (1 + Math.abs(y[i]));
    if (!(d <= worst)) worst = d; // also keeps NaN
  }
  return worst;
}

/**
 * @param {import('../run').BenchContext} ctx
 * @returns {Promise<object>} this section's JSON
 */
async function run(ctx) {
  const { binding, dtypeCodes, log } = ctx;
  const info = binding.buildInfo();
  const initialBlasActive = info.blasActive;
  const paths = info.blas ? ['blas', 'fallback'] : ['fallback'];
  const results = [];
  const summary = {};
  const rand = rng(42);
  try {
    for (const [dtype, M, N, K] of SHAPES) {
      const key = `${dtype === 'float32' ? 'f32' : 'f64'} ${M}x${N}x${K}`;
      const a = randomTensor(binding, dtypeCodes[dtype], dtype, [M, K], rand);
      const b = randomTensor(binding, dtypeCodes[dtype], dtype, [K, N], rand);
      const products = {};
      summary[key] = {};
      try {
        for (const path of paths) {
          // Idle first: after a call, OpenBLAS workers spin for ~0.1 s and
          // would steal the cores from whichever path is timed next.
          await sleep(SETTLE_MS);
          binding.setGemmFallback(path === 'fallback');
          const c = binding.matmul(a, b, false, false);
          products[path] = binding.read(c);
          binding.dispose(c);
          const t = measure(() => binding.dispose(binding.matmul(a, b, false, false)), {
            reps: ctx.reps,
            minSampleMs: ctx.quick ? 20 : 100,
          });
          const gflops = (2 * M * N * K) / (t.medianMs * 1e6);
          results.push({ dtype, M, N, K, path, gflops: round(gflops, 1), ...roundTimes(t) });
          summary[key][path] = round(gflops, 1);
          log(`gemm ${key} ${path}: ${gflops.toFixed(1)} GFLOP/s (median ${t.medianMs.toFixed(3)} ms)`);
        }
      } finally {
        binding.dispose(a);
        binding.dispose(b);
      }
      if (products.blas && products.fallback) {
        summary[key].fallbackOverBlas = round(summary[key].fallback / summary[key].blas, 2);
        summary[key].maxRelDiff = maxRelDiff(products.fallback, products.blas);
      }
    }
  } finally {
    binding.setGemmFallback(!initialBlasActive);
  }
  return {
    unit: 'GFLOP/s',
    method: `binding.matmul(A[M,K], B[K,N]); median of ${ctx.reps} samples, each >= ${ctx.quick ? 20 : 100} ms of back-to-back calls, after 2 warm-up calls and ${SETTLE_MS} ms idle`,
    threads: 'the engine\'s thread pool (MEDIT_NUM_THREADS, default all cores) for the built-in kernel; OpenBLAS default for BLAS',
    summary,
    results,
  };
}

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function roundTimes(t) {
  return {
    medianMs: round(t.medianMs, 4),
    minMs: round(t.minMs, 4),
    maxMs: round(t.maxMs, 4),
    samples: t.samples,
    callsPerSample: t.callsPerSample,
  };
}

module.exports = { name: 'gemm', description: 'CPU GEMM GFLOP/s, BLAS vs built-in kernel', run };
