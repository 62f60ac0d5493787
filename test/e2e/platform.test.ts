import { startEmbeddedPlatform, type EmbeddedPlatform } from '@kantoor/embedded';
import { eventually, temporaryFolder } from '@kantoor/testing';
import { call, login, mailsTo } from './helpers';

describe('the embedded platform end to end: gateway → gRPC → outbox → event → consumer', () => {
  let platform: EmbeddedPlatform;
  let folder: { path: string; remove(): Promise<void> };
  let token: string;

  beforeAll(async () => {
    folder = await temporaryFolder();
    platform = await startEmbeddedPlatform({
      dataDir: folder.path,
      port: 0,
      grpcBasePort: 0,
      smtpSinkPort: 0,
      logLevel: 'silent',
      inMemory: true,
    });
    token = await login(platform.url, platform.demo.email, platform.demo.password);
  }, 90_000);
  afterAll(async () => {
    await platform?.stop();
    await folder?.remove();
  });

  const notificationsFor = async (address: string) =>
    (
      await platform.services
        .get('notification')!
        .db.query(`SELECT id FROM notification WHERE recipient = $1`, [address])
    ).rows;

  test('an admin invites a colleague through the gateway and exactly one activation mail is sent', async () => {
    const invited = await call(platform.url, token, 'POST', '/v1/staff', {
      name: 'Els Janssens',
      email: 'els@demo.example',
      role: 'employee',
    });
    expect(invited.status).toBe(201);
    expect(invited.body).toMatchObject({ email: 'els@demo.example', role: 'employee', status: 'invited' });

    const mails = await eventually(
      () => mailsTo(platform.url, token, 'els@demo.example'),
      (found) => found.length > 0,
      10_000,
    );
    expect(mails).toHaveLength(1);
    expect(mails[0].subject).toMatch(/activate/i);
    expect(await notificationsFor('els@demo.example')).toHaveLength(1);
  });

  test('the same event delivered twice has one effect', async () => {
    await call(platform.url, token, 'POST', '/v1/staff', {
      name: 'Jan Peeters',
      email: 'jan@demo.example',
      role: 'support',
    });
    await eventually(
      () => mailsTo(platform.url, token, 'jan@demo.example'),
      (found) => found.length > 0,
      10_000,
    );

    // deliver the directory's StaffInvited record again, exactly as the relay published it
    const directory = platform.services.get('directory')!;
    const { rows } = await directory.db.query(
      `SELECT topic, key, payload, headers FROM outbox WHERE type = 'kantoor.directory.v1.StaffInvited' ORDER BY position DESC LIMIT 1`,
    );
    await platform.transport.publish([
      { topic: rows[0].topic, key: rows[0].key, value: rows[0].payload, headers: rows[0].headers },
    ]);

    expect(await notificationsFor('jan@demo.example')).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await mailsTo(platform.url, token, 'jan@demo.example')).toHaveLength(1);
  });

  test('a refusal reaches the caller as problem+json and changes nothing', async () => {
    const before = (await platform.services.get('directory')!.db.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0]
      .n;
    const duplicate = await call(platform.url, token, 'POST', '/v1/staff', {
      name: 'Els Again',
      email: 'ELS@demo.example',
      role: 'employee',
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.type).toContain('application/problem+json');
    expect(duplicate.body).toMatchObject({ type: expect.stringMatching(/duplicate-email$/), status: 409 });
    const after = (await platform.services.get('directory')!.db.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0]
      .n;
    expect(after).toBe(before);
  });

  test('without a token the gateway refuses before any service is called', async () => {
    const response = await fetch(`${platform.url}/v1/staff`, { method: 'GET' });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
  });
});
