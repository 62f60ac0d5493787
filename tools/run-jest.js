#!/usr/bin/env node
/**
 * jest, as `pnpm run test:unit [jest arguments]` runs it: with the VM modules that PGlite's `import()` needs, and one
 * second chance for a test file whose worker process was killed by a signal.
 *
 * The test process died of a SIGSEGV twice in about twenty-five full runs here (node 20 on a slow machine,
 * 2026-12-03: once after 82 suites, when jest ran them in its own process, and once in a worker running
 * test/load/load-scripts.test.ts, which then built k6's scripts as vm.SourceTextModules in a new context per script;
 * it now runs them in a node process of its own), with no test failing; which code crashed is not known. Node has
 * had such crashes under jest's `--experimental-vm-modules` around dynamic `import()` in vm contexts
 * (nodejs/node#35889, #43083).
 * jest runs the files in worker processes (jest.config.js: `workerIdleMemoryLimit`), so such a crash fails only the
 * file whose worker died, and this script runs exactly those files once more, saying so. Only a worker killed by a
 * signal counts: a failed assertion, a timeout, an error or a non-zero exit is never run again, and a file that
 * crashes twice fails the run.
 */
const { spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const JEST = require.resolve('jest/bin/jest');
const NODE_OPTIONS = [process.env.NODE_OPTIONS, '--experimental-vm-modules', '--no-warnings=ExperimentalWarning']
  .filter(Boolean)
  .join(' ');

/**
 * The test files of a jest JSON report (`--json`) whose worker process was killed by a signal (SIGSEGV, SIGBUS, …):
 * the suite failed to run, with jest-worker's message for it.
 */
function crashedFiles(report) {
  const killed = /A jest worker process \(pid=\d+\) was terminated by another process: signal=SIG[A-Z]+/;
  return report.testResults
    .filter((result) => result.status === 'failed' && killed.test(result.message ?? ''))
    .map((result) => result.name);
}

/** Runs jest with `args`; its exit status and its JSON report (undefined when jest itself died). */
function runJest(args, reportFile) {
  const run = spawnSync(process.execPath, [JEST, ...args, '--json', `--outputFile=${reportFile}`], {
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS },
  });
  let report;
  try {
    report = JSON.parse(readFileSync(reportFile, 'utf8'));
  } catch {
    report = undefined;
  }
  return { status: run.status ?? 1, signal: run.signal, report };
}

function main(args) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kantoor-jest-'));
  try {
    const first = runJest(args, path.join(dir, 'first.json'));
    if (first.status === 0) return 0;
    if (!first.report) {
      console.error(`jest ended without a report (status ${first.status}, signal ${first.signal ?? 'none'})`);
      return first.status || 1;
    }
    const crashed = crashedFiles(first.report);
    const failedOtherwise = first.report.testResults.filter(
      (result) => result.status === 'failed' && !crashed.includes(result.name),
    );
    if (crashed.length === 0 || failedOtherwise.length > 0) return first.status;
    console.log(
      `\n${crashed.length} test file(s) failed only because their jest worker was killed by a signal; running them once more:\n` +
        crashed.map((file) => `  ${path.relative(process.cwd(), file)}`).join('\n'),
    );
    // the options given (those without a separate value), not the paths: only the crashed files run again
    const options = args.filter((arg) => /^--[\w-]+(=.*)?$/.test(arg));
    const again = runJest([...options, '--runTestsByPath', ...crashed], path.join(dir, 'again.json'));
    return again.status;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) process.exit(main(process.argv.slice(2)));

module.exports = { crashedFiles };
