import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { routeTable } from '@kantoor/gateway';
import { StaffInvitedSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { openTestPglite, type TestDatabase } from '@kantoor/testing';
import { bearer, problemType, staff, testApp } from '../../../gateway/test/helpers';
import { everyPage, expectPaging, expectPagingRefusals, type PagedList } from '../../../gateway/test/paged-list';
import { deliverEvent, inviteStaff, mailsIn, startNotification, type Harness } from './notification-harness';

describe('gateway: delivery log, SMTP settings and the embedded mailbox', () => {
  let h: Harness;
  let database: TestDatabase;
  const firmId = randomUUID();
  const otherFirmId = randomUUID();
  beforeAll(async () => {
    h = await startNotification();
    database = await openTestPglite();
    await inviteStaff(h.transport, firmId);
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

  describe('paging', () => {
    const pagedFirm = randomUUID();
    /** four mails of the firm, less than a millisecond apart, newest first */
    const newestFirst = [0, 1, 2, 3].map(() => randomUUID());
    const mailboxFirst = [0, 1, 2, 3, 4].map(() => randomUUID()).sort();
    // three mails received in the same millisecond, two earlier; the same millisecond sorts by id, descending
    const sameMs = new Date('2026-03-01T10:00:00.500Z');
    const received = [sameMs, sameMs, sameMs, new Date('2026-03-01T09:00:00.000Z'), new Date('2026-03-01T08:00:00Z')];
    const mailboxOrder = [...mailboxFirst.slice(0, 3).reverse(), ...mailboxFirst.slice(3)];
    const summary = (id: string, receivedAt: Date, firm: string) => ({
      id,
      messageId: null,
      envelopeTo: ['x@firm.example'],
      from: null,
      subject: 'Hallo',
      receivedAt,
      size: 10,
      headers: { 'x-kantoor-firm': firm },
    });
    const mailbox = {
      messages: () => [
        ...mailboxFirst.map((id, n) => summary(id, received[n], pagedFirm)),
        summary(randomUUID(), sameMs, otherFirmId),
      ],
      message: () => undefined,
    };
    let pagedApp: ReturnType<typeof testApp>['app'];
    beforeAll(async () => {
      for (const [n, id] of [...newestFirst].reverse().entries())
        await h.service.db.query(
          `INSERT INTO notification (id, event_id, kind, firm_id, recipient, language, status, message_id, created_at)
           VALUES ($1, $2, 'staff_activation', $3, 'x@firm.example', 'nl', 'failed', $4, $5)`,
          [id, `event-${id}`, pagedFirm, `<${id}@test>`, `2026-03-01 10:00:00.10000${n}+00`],
        );
      pagedApp = testApp({ db: database.db, services: { notification: h.client, mailbox } }, routeTable, {
        VALIDATE_RESPONSES: 'true',
      }).app;
    });
    const list = (path: string): PagedList => ({
      app: pagedApp,
      path,
      authorization: adminOf(pagedFirm),
      items: 'items',
      idOf: (item) => item.id as string,
    });
    const deliveries = (query: Record<string, string | number>) =>
      request(pagedApp).get('/v1/notifications/deliveries').query(query).set('authorization', adminOf(pagedFirm));

    test('the delivery log pages by cursor, newest first, without gaps or repeats', async () => {
      for (const pageSize of [1, 2, 3])
        expect(await everyPage(list('/v1/notifications/deliveries'), pageSize)).toEqual({
          ids: newestFirst,
          pages: Math.ceil(newestFirst.length / pageSize),
        });
      await expectPagingRefusals(list('/v1/notifications/deliveries'));
    });

    test('the deprecated pageToken and nextPageToken still page; giving cursor and pageToken is refused', async () => {
      const first = await deliveries({ pageSize: 3 });
      expect(first.body.nextPageToken).toBe(first.body.nextCursor);
      const byToken = await deliveries({ pageSize: 3, pageToken: first.body.nextPageToken });
      expect(byToken.status).toBe(200);
      expect(byToken.body).toMatchObject({ nextCursor: '', nextPageToken: null });
      expect(byToken.body.items.map((item: { id: string }) => item.id)).toEqual(newestFirst.slice(3));
      const both = await deliveries({ cursor: first.body.nextCursor, pageToken: first.body.nextCursor });
      expect(both.status).toBe(400);
      expect(both.body.type).toBe(problemType('validation-failed'));
      expect((await deliveries({ pageToken: 'not-a-cursor' })).body.type).toBe(problemType('invalid-cursor'));
      // an empty pageToken still asks for the first page
      const empty = await deliveries({ pageSize: 3, pageToken: '' });
      expect(empty.body.items.map((item: { id: string }) => item.id)).toEqual(newestFirst.slice(0, 3));
    });

    test('the mailbox pages newest first, then by id, and still takes the deprecated limit', async () => {
      await expectPaging(list('/v1/mailbox/messages'), mailboxOrder);
    });
  });
});
