/**
 * @packageDocumentation
 * `@medit/data`: readers for knowledge-editing datasets, all mapped to one {@link EditCase} type.
 *
 * Formats: ROME CounterFact (`counterfact`), EasyEdit's flattened CounterFact
 * (`counterfact-easyedit`), MEND/ROME zsRE (`zsre`), KnowEdit ZsRE / WikiData_counterfact /
 * WikiData_recent / WikiBio (`knowedit`), and plain JSONL edit requests (`jsonl`). Each reader's
 * module comment documents its field mapping; schema violations throw {@link DatasetSchemaError}
 * naming file, record index and JSON path.
 */
export type { DatasetFormat, EditCase, EditDataset, EditRequest, LabeledPrompt, CaseSource } from './types';
export { DATASET_FORMATS } from './types';
export { DatasetSchemaError, DatasetParseError, DatasetFormatError } from './errors';
export type { ZsreTargetConvention } from './formats/zsre';
export { readDataset, parseDataset, detectFormat, fillTemplate } from './read';
export type { ReadDatasetOptions, ArrayFormat } from './read';
export { readMmedit, withCaseImages, mmeditLocalityPrompt, mmeditRequest, MMEDIT_FIELDS, MMEDIT_VQA_TEMPLATE } from './formats/mmedit';
export type { MmeditCase, MmeditDataset } from './formats/mmedit';
