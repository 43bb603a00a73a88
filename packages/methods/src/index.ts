/**
 * @packageDocumentation
 * `@medit/methods`: every medit editing method by name — what it reads, what its edit is, and a
 * factory building its editor for a model. `medit edit|eval|serve` and `@medit/easyedit` build
 * their editors from this one table; each answers the factories' questions ({@link MethodInputs})
 * from its own inputs.
 *
 * @example
 * ```ts
 * import { loadModel } from '@medit/core';
 * import { methodSpec, type MethodInputs } from '@medit/methods';
 *
 * const model = await loadModel('test-fixtures/models/fact-small');
 * const inputs: MethodInputs = {
 *   hparams: () => ({ values: { v_num_grad_steps: 10, mom2_adjustment: false }, source: 'inline' }),
 *   noCovariance: () => false,
 *   covariance: async () => { throw new Error('not needed: mom2_adjustment is false'); },
 *   trainedEditor: (m) => { throw new Error(`no trained ${m} editor`); },
 *   demonstrationPool: () => [],
 *   demonstrationCount: () => undefined,
 *   unrelatedTexts: async () => ({ texts: [], given: false }),
 * };
 * const editor = await methodSpec('rome').create(model, [], inputs);
 * const delta = await editor.edit(model, [{ prompt: '{} is a citizen of', subject: 'Rakem Boskre', targetNew: 'Lasktra' }]);
 * ```
 */
export { METHODS, METHOD_NAMES, methodSpec, SHIPPED, FACT_SMALL } from './methods';
export type { MethodSpec, MethodEditor, EditKind } from './methods';
export type { MethodInput, MethodInputs, TrainedMethod, HparamsInput, CovarianceInput, UnrelatedTexts } from './inputs';
