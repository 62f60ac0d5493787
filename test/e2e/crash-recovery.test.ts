import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PgliteDatabase } from '@kantoor/database';
import { eventually, temporaryFolder } from '@kantoor/testing';
import { call, login, mailsTo } from './helpers';

const MAIN = path.join(__dirname, '..', '..', 'deploy', 'embedded', 'dist', 'main.js');

/** The real `pnpm start` process (built), on free ports, with its data in `dataDir`. */
async function startProcess(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: '0',
      GRPC_BASE_PORT: '0',
      SMTP_SINK_PORT: '0',
      // no e-mail intake: a platform already running here holds its port
      INTAKE_SMTP_PORT: '0',
      LOG_LEVEL: 'error',
      NODE_OPTIONS: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (chunk) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const match = /API:\s+(http:\/\/localhost:\d+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`the platform exited with ${code}:\n${output}`)));
  });
  return { child, url };
}

const killHard = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

describe('a consumer killed after handling an event but before it was acknowledged', () => {
  let folder: { path: string; remove(): Promise<void> };
  let running: ChildProcess | undefined;

  beforeAll(async () => {
    folder = await temporaryFolder();
  });
  afterAll(async () => {
    if (running && running.exitCode === null && running.signalCode === null) await killHard(running);
    await folder.remove();
  });

  test('handles it once: after kill -9 and restart the redelivered event has no second effect', async () => {
    const first = await startProcess(folder.path);
    running = first.child;
    const demo = JSON.parse(await readFile(path.join(folder.path, 'demo-login.json'), 'utf8'));
    let token = await login(first.url, demo.email, demo.password);
    expect(
      (
        await call(first.url, token, 'POST', '/v1/staff', {
          name: 'An Claes',
          email: 'an@demo.example',
          role: 'employee',
        })
      ).status,
    ).toBe(201);
    await eventually(
      () => mailsTo(first.url, token, 'an@demo.example'),
      (found) => found.length === 1,
      15_000,
    );
    // the delivery log has recorded the mail as sent, so nothing of the first run is left to resend
    await eventually(
      async () => (await call(first.url, token, 'GET', '/v1/notifications/deliveries?status=sent')).body.items,
      (items: Array<{ recipient: string }>) => items.some((item) => item.recipient === 'an@demo.example'),
      10_000,
    );
    await killHard(first.child);

    // the acknowledgement never happened: the relay's record of publishing is undone, as if the process had
    // died between the consumer's commit and the relay's
    const directoryDb = await PgliteDatabase.open(path.join(folder.path, 'directory', 'pgdata'));
    const reset = await directoryDb.query(
      `UPDATE outbox SET published_at = NULL WHERE type = 'kantoor.directory.v1.StaffInvited'`,
    );
    expect(reset.rowCount).toBe(1);
    await directoryDb.close();

    const second = await startProcess(folder.path);
    running = second.child;
    token = await login(second.url, demo.email, demo.password);
    // the relay publishes the record again right at start; give a mail, if one were made, time to arrive
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await mailsTo(second.url, token, 'an@demo.example')).toEqual([]);
    await killHard(second.child);

    const notificationDb = await PgliteDatabase.open(path.join(folder.path, 'notification', 'pgdata'));
    const { rows } = await notificationDb.query(
      `SELECT recipient FROM notification WHERE recipient = 'an@demo.example'`,
    );
    expect(rows).toHaveLength(1);
    const inbox = await notificationDb.query(`SELECT count(*)::int AS n FROM inbox`);
    expect(inbox.rows[0].n).toBeGreaterThan(0);
    await notificationDb.close();
    const directoryAgain = await PgliteDatabase.open(path.join(folder.path, 'directory', 'pgdata'));
    const unpublished = await directoryAgain.query(`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`);
    expect(unpublished.rows[0].n).toBe(0);
    await directoryAgain.close();
  }, 120_000);
});
