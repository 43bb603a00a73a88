/**
 * Every package (native and packages/*) has a README whose first ```ts block is a runnable
 * example, and every example type-checks against the packages' sources (the API it shows
 * exists with those types). `node -r packages/cli/test/helpers/ts-register.js
 * scripts/readme-examples.ts` runs them.
 */
import { readmeExamples, typeCheck } from '../readme-examples';

test('every package README has an example, and every example type-checks', () => {
  const { examples, missing } = readmeExamples();
  expect(missing).toEqual([]);
  expect(examples.length).toBeGreaterThanOrEqual(15);
  expect(typeCheck(examples)).toEqual([]);
});
