/**
 * `medit train <method>`: trains a meta-learned editor. Each method lives in its own module
 * (`train-<method>.ts`) exporting its options and runner; this file only dispatches.
 */
import { type OptionSpecs, UsageError } from '../args';
import type { CommandContext } from '../common';
import { TRAIN_KE } from './train-ke';
import { TRAIN_MEND } from './train-mend';
import { TRAIN_SERAC } from './train-serac';

/** One trainable method of `medit train`. */
export interface TrainMethod {
  summary: string;
  usage: string;
  options: OptionSpecs;
  run(ctx: CommandContext): Promise<number>;
}

/** `medit train <name>` → its module. */
export const TRAIN_METHODS: Record<string, TrainMethod> = {
  mend: TRAIN_MEND,
  ke: TRAIN_KE,
  serac: TRAIN_SERAC,
};

/** The method named by the first argument, or a usage error listing the known ones. */
export function trainMethod(name: string | undefined): TrainMethod {
  const m = name !== undefined && Object.prototype.hasOwnProperty.call(TRAIN_METHODS, name) ? TRAIN_METHODS[name] : undefined;
  if (!m) throw new UsageError(`${name === undefined ? 'missing method' : `unknown method ${JSON.stringify(name)}`}: medit train <${Object.keys(TRAIN_METHODS).join('|')}>`, 'train');
  return m;
}

/** Runs `medit train <ctx.sub>`. */
export async function runTrain(ctx: CommandContext): Promise<number> {
  return trainMethod(ctx.sub).run(ctx);
}
