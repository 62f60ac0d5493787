// Module hooks for run.mjs: k6's own modules resolve to the recorders beside this file, and the load scripts
// (plain .js files that k6 reads as ES modules) load as ES modules.
const DOUBLES = { k6: 'k6.mjs', 'k6/http': 'http.mjs', 'k6/execution': 'execution.mjs' };
const SCRIPTS = new URL('../', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (Object.hasOwn(DOUBLES, specifier))
    return { url: new URL(DOUBLES[specifier], import.meta.url).href, shortCircuit: true };
  if (specifier.startsWith('k6/')) throw new Error(`${specifier}: no double for this k6 module in test/load/k6-double`);
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (url.startsWith(SCRIPTS) && url.endsWith('.js')) return nextLoad(url, { ...context, format: 'module' });
  return nextLoad(url, context);
}
