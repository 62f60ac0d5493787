import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { routeTable } from '@kantoor/gateway';
import { StaffInvitedSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { openTestPglite, type TestDatabase } from '@kantoor/testing';
import { bearer, staff, testApp } from '../../../gateway/test/helpers';
import { deliverEvent, mailsIn, startNotification, type Harness } from './notification-harness';

describe('gateway: delivery log, SMTP settings and the embedded mailbox', () => {
  let h: Harness;
  let database: TestDatabase;
  const firmId = randomUUID();
  const otherFirmId = randomUUID();
  beforeAll(async () => {
    h = await startNotification();
    database = await openTestPglite();
    await deliverEvent(h.transport, 'directory', StaffInvitedSchema, {
      firmId,
      staffId: randomUUID(),
      name: 'Els',
      email: 'els@firm.example',
      role: 'employee',
      activationToken: 't',
    });
    await deliverEvent(h.transport, 'directory', StaffInvitedSchema, {
      firmId: otherFirmId,
      staffId: randomUUID(),
      name: 'Piet',
      email: 'piet@other.example',
      role: 'employee',
      activationToken: 'u',
    });
    await mailsIn(h.sink, 2);
  });
  afterAll(async () => {
    await h.stop();
    await database.dispose();
  });

  const apps = new Map<boolean, ReturnType<typeof testApp>['app']>();
  // building the app compiles every route's schemas: once per variant
  const app = (withMailbox = true) => {
    if (!apps.has(withMailbox))
      apps.set(
        withMailbox,
        testApp(
          { db: database.db, services: { notification: h.client, ...(withMailbox ? { mailbox: h.sink } : {}) } },
          routeTable,
        ).app,
      );
    return apps.get(withMailbox)!;
  };
  const adminOf = (firm: string) => bearer(staff({ firmId: firm, subjectId: randomUUID() }));

  test("an admin reads the firm's log and its mails in the local mailbox, and nothing of another firm", async () => {
    const log = await request(app()).get('/v1/notifications/deliveries').set('authorization', adminOf(firmId));
    expect(log.status).toBe(200);
    expect(log.body.items).toEqual([
      expect.objectContaining({ recipient: 'els@firm.example', status: 'sent', kind: 'staff_activation' }),
    ]);
    const detail = await request(app())
      .get(`/v1/notifications/deliveries/${log.body.items[0].id}`)
      .set('authorization', adminOf(firmId));
    expect(detail.body.attempts).toEqual([expect.objectContaining({ outcome: 'sent' })]);
    const foreign = await request(app())
      .get(`/v1/notifications/deliveries/${log.body.items[0].id}`)
      .set('authorization', adminOf(otherFirmId));
    expect(foreign.status).toBe(404);

    const mailbox = await request(app()).get('/v1/mailbox/messages').set('authorization', adminOf(firmId));
    expect(mailbox.status).toBe(200);
    expect(mailbox.body.items.map((mail: { to: string[] }) => mail.to)).toEqual([['els@firm.example']]);
    const mail = await request(app())
      .get(`/v1/mailbox/messages/${mailbox.body.items[0].id}`)
      .set('authorization', adminOf(firmId));
    expect(mail.body.text).toContain('Account activeren');
    const otherFirmReads = await request(app())
      .get(`/v1/mailbox/messages/${mailbox.body.items[0].id}`)
      .set('authorization', adminOf(otherFirmId));
    expect(otherFirmReads.status).toBe(404);
  });

  test('employees are refused; without a sink there is no mailbox; bad settings are refused', async () => {
    const employee = bearer(staff({ firmId, role: 'employee' }));
    expect((await request(app()).get('/v1/notifications/deliveries').set('authorization', employee)).status).toBe(403);
    expect((await request(app()).get('/v1/mailbox/messages').set('authorization', employee)).status).toBe(403);
    const noSink = await request(app(false)).get('/v1/mailbox/messages').set('authorization', adminOf(firmId));
    expect(noSink.status).toBe(404);
    const bad = await request(app())
      .put('/v1/notifications/smtp-settings')
      .set('authorization', adminOf(firmId))
      .send({ host: 'smtp.firm.example', port: 70000, tls: 'ssl', senderAddress: 'x' });
    expect(bad.status).toBe(400);
    const good = await request(app())
      .put('/v1/notifications/smtp-settings')
      .set('authorization', adminOf(firmId))
      .send({
        host: 'smtp.firm.example',
        port: 587,
        tls: 'starttls',
        username: 'u',
        password: 'pw-123',
        senderAddress: 'mail@firm.example',
      });
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({ host: 'smtp.firm.example', hasPassword: true });
    expect(JSON.stringify(good.body)).not.toContain('pw-123');
    expect(
      (await request(app()).delete('/v1/notifications/smtp-settings').set('authorization', adminOf(firmId))).status,
    ).toBe(204);
  });
});
