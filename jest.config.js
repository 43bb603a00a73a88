/** One jest run over the native package and every workspace package; sources run through ts-jest
 *  (transpile only), and `@medit/<pkg>` resolves to that package's `src/` so tests never need a tsc build. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/native/test', '<rootDir>/packages', '<rootDir>/scripts'],
  testMatch: ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
  moduleNameMapper: {
    '^@medit/native$': '<rootDir>/native/lib/index.ts',
    '^@medit/([a-z-]+)$': '<rootDir>/packages/$1/src/index.ts',
  },
  testTimeout: 120000,
};
