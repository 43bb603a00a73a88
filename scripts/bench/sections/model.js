'use strict';
/**
 * Model throughput: forward and forward+backward tokens/s of a GPT-2-small-shaped model
 * (n_embd 768, 12 layers, 12 heads, vocab 50257; random weights — speed does not depend on
 * training) at batch × sequence 8 × 128, through @medit/core's compiled API. Backward
 * computes gradients for every parameter (as training does). MFU-style figure: achieved
 * GFLOP/s using 2·params FLOPs per token forward and 6·params forward+backward.
 */
const path = require('node:path');

const B = 8;
const T = 128;

module.exports = {
  name: 'model',
  description: 'GPT-2-small-shaped forward and forward+backward tokens/s at 8x128 (random weights)',
  async run(ctx) {
    const core = require(path.join(ctx.repoRoot, 'packages/core/dist/index.js'));
    const config = { model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024 };
    const model = core.createModel(config, { seed: 1 });
    const params = [...model.params.values()];
    const nParams = params.reduce((s, p) => s + p.size, 0);
    const ids = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 7919 + t * 104729) % config.vocab_size));
    const targets = ids.flatMap((row) => row.map((_, t) => (t + 1 < T ? row[t + 1] : -100)));
    const reps = ctx.quick ? 1 : Math.max(2, Math.min(ctx.reps, 3));
    const time = (fn) => {
      fn(); // warm-up
      const samples = [];
      for (let i = 0; i < reps; i++) {
        const t0 = process.hrtime.bigint();
        fn();
        samples.push(Number(process.hrtime.bigint() - t0) / 1e9);
      }
      samples.sort((a, b) => a - b);
      return samples[Math.floor(samples.length / 2)];
    };
    ctx.log(`model: ${(nParams / 1e6).toFixed(1)}M parameters, forward`);
    const fwd = time(() => core.noGrad(() => core.tidy(() => void model.forward(ids))));
    ctx.log('model: forward+backward');
    for (const p of params) p.requiresGrad = true;
    const fwdBwd = time(() =>
      core.tidy(() => {
        const loss = core.crossEntropy(model.forward(ids).logits, targets);
        core.grad(loss, params);
      }),
    );
    model.dispose();
    const tokens = B * T;
    return {
      shape: { ...config, batch: B, seq: T },
      params: nParams,
      forward: { seconds: fwd, tokensPerSecond: tokens / fwd, gflops: (2 * nParams * tokens) / fwd / 1e9 },
      forwardBackward: { seconds: fwdBwd, tokensPerSecond: tokens / fwdBwd, gflops: (6 * nParams * tokens) / fwdBwd / 1e9 },
      gemm: core.buildInfo().blasActive ? 'blas' : 'fallback',
    };
  },
};
