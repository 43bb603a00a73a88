// Runs in the scratch project of scripts/pack-test.sh, against the installed tarballs only:
// edits a fact of fact-small with ROME and checks that the new answer is given, that revert
// restores the old one, and that the packages' "exports" close their internals.
'use strict';
const { generate, loadModel } = require('@medit/core');
const { RomeEditor } = require('@medit/rome');

const modelDir = process.argv[2];
const request = { prompt: 'The city where {} is located is', subject: 'Shohun Castle', targetNew: 'Raifain' };
const prompt = request.prompt.replace('{}', request.subject);
const answer = (model) => model.tokenizer.decode(generate(model, [model.tokenizer.encode(prompt)], { maxNewTokens: 4 })[0], { skipSpecialTokens: true }).trim();

(async () => {
  const model = await loadModel(modelDir);
  const before = answer(model);
  // C = I and one context template keep the check to seconds.
  const editor = new RomeEditor({ mom2_adjustment: false, v_num_grad_steps: 20, context_template_length_params: [[5, 1]] });
  const delta = await editor.edit(model, [request]);
  delta.apply(model);
  const after = answer(model);
  delta.revert(model);
  const restored = answer(model);
  let internals = 'reachable';
  try {
    require('@medit/core/dist/tensor');
  } catch (err) {
    internals = err.code;
  }
  const ok = after.startsWith(request.targetNew) && !before.startsWith(request.targetNew) && restored === before && internals === 'ERR_PACKAGE_PATH_NOT_EXPORTED';
  console.log(JSON.stringify({ prompt, before, after, restored, internals, ok }));
  delta.dispose();
  model.dispose();
  process.exitCode = ok ? 0 : 1;
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
