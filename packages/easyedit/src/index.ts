/**
 * @packageDocumentation
 * `@medit/easyedit`: EasyEdit's interface over medit, for people switching over.
 * `BaseEditor.fromHparams(file)` reads EasyEdit's hparams YAML unchanged (`alg_name` picks the
 * medit method, its other fields are medit's own field names; `model_name` and the other path
 * fields are mapped to local paths), and `editor.edit({ prompts, target_new, subject, ... })`
 * returns `{ metrics, model, delta }` with EasyEdit's per-case metric keys (`rewrite_acc`,
 * `rephrase_acc`, `locality`, `portability`, before and after the edit).
 *
 * @example
 * ```ts
 * import { BaseEditor, summaryMetrics } from '@medit/easyedit';
 *
 * const editor = await BaseEditor.fromHparams('test-fixtures/easyedit/fact-small/ROME.yaml', {
 *   pathsFile: 'test-fixtures/easyedit/fact-small/paths.yaml',
 * });
 * const { metrics, delta } = await editor.edit({
 *   prompts: ['The city where Shohun Castle is located is'],
 *   target_new: ['Raifain'],
 *   subject: ['Shohun Castle'],
 * });
 * console.log(metrics[0].post.rewrite_acc, summaryMetrics(metrics));
 * delta[0].apply(editor.model); // the edited model
 * ```
 */
export { BaseEditor } from './base-editor';
export type { FromHparamsOptions, EditResult } from './base-editor';
export { readEasyEditHparams, methodFor, ALG_METHODS, BATCH_METHODS } from './hparams';
export type { EasyEditHparams } from './hparams';
export { prepareRequests } from './requests';
export type { EasyEditArgs, EasyEditPromptSet, EasyEditRequest, EasyEditPromptRecord, PerEdit } from './requests';
export { summaryMetrics } from './metrics';
export type { EasyEditScores, EasyEditCaseMetrics, EasyEditSummary } from './metrics';
export { readPathMapping } from './paths';
export type { PathMapping } from './paths';
