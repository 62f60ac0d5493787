/**
 * `node services/<name>/dist/main.js [migrate|<command>]`, as the chart's Jobs and CronJobs run it: a command
 * the service does not have is refused before anything starts, instead of serving until the job's deadline.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { temporaryFolder } from '@kantoor/testing';

const repoRoot = path.join(__dirname, '..', '..', '..');

interface Outcome {
  code: number | null;
  stderr: string;
  /** still running after the time allowed: it was serving */
  served: boolean;
}

/**
 * Runs a built service's main.js in embedded mode with `args`, each in turn on one data folder; a process still
 * running after `ms` is killed. The outcome of the last.
 */
async function runMain(service: string, ...runs: string[][]): Promise<Outcome> {
  const data = await temporaryFolder('kantoor-run-main-');
  try {
    let outcome: Outcome | undefined;
    for (const args of runs) outcome = await runOnce(service, args, data.path);
    return outcome!;
  } finally {
    await data.remove();
  }
}

async function runOnce(service: string, args: string[], dataDir: string, ms = 15_000): Promise<Outcome> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'services', service, 'dist', 'main.js'), ...args], {
    env: {
      PATH: process.env.PATH,
      KANTOOR_MODE: 'embedded',
      DATA_DIR: dataDir,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let served = false;
  const timer = setTimeout(() => {
    served = true;
    child.kill('SIGKILL');
  }, ms);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, stderr, served };
}

describe('a service main run with a command', () => {
  it('refuses a command the service does not have, naming the ones it has, with exit code 64', async () => {
    const outcome = await runMain('backup', ['daily-backup']);
    expect(outcome).toEqual({
      code: 64,
      served: false,
      stderr: 'backup has no command "daily-backup"; it knows: migrate (no command: serve)\n',
    });
  });

  it("names the service's own commands too", async () => {
    const outcome = await runMain('archive', ['verfiy']);
    expect(outcome.code).toBe(64);
    expect(outcome.stderr).toBe(
      'archive has no command "verfiy"; it knows: migrate, verify, purge (no command: serve)\n',
    );
  });

  it("still runs the commands it has: migrate, and the archive's verify and purge of its CronJobs", async () => {
    expect(await runMain('backup', ['migrate'])).toEqual({ code: 0, served: false, stderr: '' });
    expect(await runMain('archive', ['migrate'], ['verify'])).toEqual({ code: 0, served: false, stderr: '' });
    expect(await runMain('archive', ['migrate'], ['purge'])).toEqual({ code: 0, served: false, stderr: '' });
  }, 60_000);
});
