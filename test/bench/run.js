#!/usr/bin/env node
/**
 * Runs every benchmark (`*.bench.js` here, or the ones named on the command line) one after another after a
 * build, prints their figures, and keeps them in test/bench/results/<date>.jsonl so regressions show.
 * Each benchmark prints one JSON line with its figures and a `withinBudget` verdict. Each runs with
 * `--expose-gc`, so that a benchmark measuring memory growth can take its baseline after a full collection.
 *
 *   pnpm run build && pnpm run bench [name ...]
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const wanted = process.argv.slice(2);
const scripts = fs
  .readdirSync(__dirname)
  .filter((file) => file.endsWith('.bench.js'))
  .filter((file) => wanted.length === 0 || wanted.some((name) => file.includes(name)))
  .sort();

const results = [];
for (const script of scripts) {
  console.log(`\n== ${script}`);
  const run = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, script)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.stdout.write(run.stdout);
  const line = run.stdout
    .trim()
    .split('\n')
    .reverse()
    .find((text) => text.startsWith('{'));
  const figures = line ? JSON.parse(line) : { error: `exit ${run.status}` };
  results.push({ benchmark: script.replace(/\.bench\.js$/, ''), at: new Date().toISOString(), ...figures });
}
const file = path.join(__dirname, 'results', `${new Date().toISOString().slice(0, 10)}.jsonl`);
fs.appendFileSync(file, results.map((result) => JSON.stringify(result)).join('\n') + '\n');
console.log('\nsummary');
for (const result of results)
  console.log(
    `  ${result.withinBudget === false ? 'OVER BUDGET' : result.error ? 'FAILED' : 'ok'}  ${result.benchmark}`,
  );
console.log(`figures kept in ${path.relative(process.cwd(), file)}`);
