import { grad } from '../src/autograd';
import { native, tidy } from '../src/engine';
import { crossEntropy } from '../src/ops';
import { AdamW } from '../src/optim/adamw';
import { GPT2, gpt2Config, gpt2InitParams } from '../src/models/gpt2';
test('prof', () => {
  const b = native() as any;
  const times: Record<string, number> = {};
  for (const k of Object.keys(b)) if (typeof b[k] === 'function' && k !== 'NativeTensor') { const f = b[k]; b[k] = (...a: any[]) => { const t = process.hrtime.bigint(); const r = f(...a); times[k] = (times[k] ?? 0) + Number(process.hrtime.bigint() - t) / 1e6; return r; }; }
  for (const [C, L, H] of [[128, 2, 4], [192, 4, 6]]) {
  const config = gpt2Config({ model_type: 'gpt2', vocab_size: 1812, n_embd: C, n_head: H, n_layer: L, n_positions: 64 });
  const model = new GPT2(config, gpt2InitParams(config, 1));
  const params = [...model.params.values()];
  for (const p of params) p.requiresGrad = true;
  const opt = new AdamW(params, { lr: 1e-3 });
  const ids = Array.from({ length: 16 }, (_, b) => Array.from({ length: 64 }, (_, t) => (b * 131 + t * 17) % 1812));
  const step = () => tidy(() => { const { logits } = model.forward(ids); const loss = crossEntropy(logits, ids.flat()); opt.update(grad(loss, params)); });
  step(); for (const k of Object.keys(times)) times[k] = 0;
  const t0 = Date.now(); for (let i = 0; i < 5; i++) step(); const ms = (Date.now() - t0) / 5; console.log(C, L, 'ms/step', ms, 'tok/s', Math.round(1024 / ms * 1000));
  console.log(Object.entries(times).sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => `${k} ${(v / 5).toFixed(1)}`).join('\n'));
  }
});
