/**
 * The runnable example of every package README (its first ```ts block): extracted, type-checked
 * against the packages' sources (scripts/test/readme-examples.test.ts), or run from the
 * repository root:
 *
 *   node -r packages/cli/test/helpers/ts-register.js scripts/readme-examples.ts [package ...]
 *
 * Examples read only repository files and write under /tmp.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import * as ts from 'typescript';

export const ROOT = path.resolve(__dirname, '..');

/** One package's example. */
export interface ReadmeExample {
  /** the package directory, relative to the repository root */
  dir: string;
  readme: string;
  code: string;
}

/** The package directories with a README (native and packages/*). */
function packageDirs(): string[] {
  const pkgs = fs.readdirSync(path.join(ROOT, 'packages')).map((d) => `packages/${d}`);
  return ['native', ...pkgs].filter((d) => fs.existsSync(path.join(ROOT, d, 'package.json'))).sort();
}

/** Every package's first ```ts block; packages without a README or a block are listed in `missing`. */
export function readmeExamples(): { examples: ReadmeExample[]; missing: string[] } {
  const examples: ReadmeExample[] = [];
  const missing: string[] = [];
  for (const dir of packageDirs()) {
    const readme = path.join(dir, 'README.md');
    const text = fs.existsSync(path.join(ROOT, readme)) ? fs.readFileSync(path.join(ROOT, readme), 'utf8') : '';
    const m = /```ts\n([\s\S]*?)```/.exec(text);
    if (m) examples.push({ dir, readme, code: m[1] });
    else missing.push(dir);
  }
  return { examples, missing };
}

/** Compiler options for the examples: ES modules with top-level await, `@medit/*` mapped to the sources. */
const CHECK_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  moduleDetection: ts.ModuleDetectionKind.Force,
  lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
  types: ['node'],
  typeRoots: [path.join(ROOT, 'node_modules/@types')],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
  baseUrl: ROOT,
  paths: { '@medit/native': ['native/lib/index.ts'], '@medit/*': ['packages/*/src/index.ts'] },
};

/** Type errors of the examples, as "README:line: message" lines (empty when all check). */
export function typeCheck(examples: readonly ReadmeExample[]): string[] {
  const files = new Map(examples.map((e) => [path.join(ROOT, e.dir, '__readme_example__.ts'), e]));
  const host = ts.createCompilerHost(CHECK_OPTIONS);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (f) => files.get(f)?.code ?? readFile(f);
  host.fileExists = (f) => files.has(f) || fileExists(f);
  const program = ts.createProgram([...files.keys()], CHECK_OPTIONS, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file && files.has(d.file.fileName))
    .map((d) => {
      const e = files.get(d.file!.fileName)!;
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      return `${e.readme}: example line ${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
}

/** Runs one example from the repository root (its imports hoisted, the rest in an async function). */
export async function runExample(e: ReadmeExample): Promise<void> {
  const lines = e.code.split('\n');
  const imports = lines.filter((l) => l.startsWith('import '));
  const body = lines.filter((l) => !l.startsWith('import '));
  const source = `${imports.join('\n')}\nexport async function main() {\n${body.join('\n')}\n}\n`;
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
  const file = path.join(ROOT, e.dir, '__readme_example__.ts');
  const mod = { exports: {} as { main?: () => Promise<void> } };
  new Function('exports', 'require', 'module', '__filename', '__dirname', js)(mod.exports, require, mod, file, path.dirname(file));
  await mod.exports.main!();
}

if (require.main === module) {
  const wanted = process.argv.slice(2);
  process.chdir(ROOT);
  (async () => {
    for (const e of readmeExamples().examples.filter((x) => wanted.length === 0 || wanted.some((w) => x.dir.endsWith(w)))) {
      const t0 = Date.now();
      process.stdout.write(`== ${e.readme}\n`);
      await runExample(e);
      process.stdout.write(`== ${e.readme}: ran in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
  })().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
