/**
 * Lets a child `node` process run the CLI from TypeScript sources, as jest does in-process:
 * `.ts` files are transpiled on require (cached on disk by content hash), and `@medit/<pkg>`
 * resolves to `packages/<pkg>/src/index.ts` (`@medit/native` to `native/lib/index.ts`).
 * Used as `node -r packages/cli/test/helpers/ts-register.js packages/cli/src/bin.ts ...`,
 * so the spawned-process tests do not depend on a `tsc -b` build of every package.
 */
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const Module = require('node:module');
const os = require('node:os');
const path = require('node:path');
const ts = require('typescript');

const ROOT = path.resolve(__dirname, '../../../..');
const CACHE = path.join(os.tmpdir(), `medit-ts-register-${ts.version}`);
fs.mkdirSync(CACHE, { recursive: true });

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  const m = /^@medit\/([a-z-]+)$/.exec(request);
  if (m) request = m[1] === 'native' ? path.join(ROOT, 'native/lib/index.ts') : path.join(ROOT, 'packages', m[1], 'src/index.ts');
  return resolve.call(this, request, parent, ...rest);
};

require.extensions['.ts'] = function (module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const key = crypto.createHash('sha256').update(filename).update('\0').update(source).digest('hex');
  const cached = path.join(CACHE, `${key}.js`);
  let js;
  try {
    js = fs.readFileSync(cached, 'utf8');
  } catch {
    js = ts.transpileModule(source, {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
    }).outputText;
    const tmp = `${cached}.${process.pid}`;
    fs.writeFileSync(tmp, js);
    fs.renameSync(tmp, cached);
  }
  module._compile(js, filename);
};
