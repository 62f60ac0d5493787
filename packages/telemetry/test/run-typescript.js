/**
 * Runs a TypeScript file in a plain Node process (`node -r ./run-typescript.js file.ts`), with `@kantoor/*`
 * resolved to sources as in jest. Needed because the OTLP exporters load `http` through `import()`, which
 * jest's module sandbox refuses without --experimental-vm-modules.
 */
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { transformSync } = require('@swc/core');

const packagesRoot = path.resolve(__dirname, '../..');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const workspacePackage = /^@kantoor\/([a-z-]+)$/.exec(request);
  const target = workspacePackage ? path.join(packagesRoot, workspacePackage[1], 'src/index.ts') : request;
  return resolveFilename.call(this, target, ...rest);
};

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
