import { randomUUID } from 'node:crypto';
import { StaffInvitedSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { migrateService } from '@kantoor/service-runtime';
import { startSmtpSink, type SmtpSink } from '@kantoor/smtp-sink';
import {
  describeWithPostgres,
  eventually,
  openTestPostgres,
  temporaryFolder,
  type TestDatabase,
} from '@kantoor/testing';
import { createNotificationService } from '../src';
import { claimDueNotifications, queueNotification } from '../src/data-access/notification-repository';
import { planIntent } from '../src/domain/notification-intent';
import { SecretBox } from '../src/domain/secret-box';
import { admin, deliverEvent, mailsIn, SECRET_KEY, startNotification } from './notification-harness';

describe('notification: killed between the SMTP server accepting a mail and recording it', () => {
  let sink: SmtpSink;
  let folder: { path: string; remove(): Promise<void> };
  beforeAll(async () => {
    sink = await startSmtpSink();
    folder = await temporaryFolder('kantoor-notification-crash-');
  });
  afterAll(async () => {
    await sink.stop();
    await folder.remove();
  });

  test('after a restart on the same database the mail is sent again with the same Message-ID and logged as resent', async () => {
    const firmId = randomUUID();
    let crashed = false;
    const first = await startNotification({
      sink,
      dataDir: folder.path,
      inMemory: false,
      afterSmtpAccept: () => {
        crashed = true;
        throw new Error('simulated crash: the process died before recording the mail as sent');
      },
    });
    const eventId = await deliverEvent(first.transport, 'directory', StaffInvitedSchema, {
      firmId,
      staffId: randomUUID(),
      name: 'Els',
      email: 'els@firm.example',
      role: 'employee',
      activationToken: 't',
    });
    const [original] = await mailsIn(sink, 1);
    await eventually(async () => crashed, Boolean);
    const { rows } = await first.service.db.query('SELECT status FROM notification WHERE event_id = $1', [eventId]);
    expect(rows).toEqual([{ status: 'sending' }]);
    await first.stop();

    const second = await startNotification({ sink, dataDir: folder.path, inMemory: false });
    try {
      const [, resent] = await mailsIn(sink, 2);
      expect(resent.messageId).toBe(original.messageId);
      expect(resent.envelopeTo).toEqual(['els@firm.example']);
      const delivery = await eventually(
        async () => (await second.client.listDeliveries({}, { caller: admin(firmId) })).deliveries[0],
        (found) => found?.status === 'sent',
      );
      expect(delivery).toMatchObject({
        status: 'sent',
        resent: true,
        attempts: 2,
        messageId: `<${original.messageId}>`,
      });
      const { attempts } = await second.client.getDelivery({ deliveryId: delivery.id }, { caller: admin(firmId) });
      expect(attempts).toEqual([expect.objectContaining({ attempt: 2, outcome: 'sent', resent: true })]);
      expect(sink.messages()).toHaveLength(2);
    } finally {
      await second.stop();
    }
  });
});

describeWithPostgres('notification: replicas claiming from one PostgreSQL database', () => {
  let database: TestDatabase;
  const box = new SecretBox(Buffer.from(SECRET_KEY, 'base64'));
  beforeAll(async () => {
    database = await openTestPostgres(20);
    await migrateService(createNotificationService(), database.db);
  });
  afterAll(() => database.dispose());

  const queue = (count: number) =>
    Promise.all(
      Array.from({ length: count }, (_, n) =>
        queueNotification(
          database.db,
          planIntent(
            {
              eventId: randomUUID(),
              kind: 'staff_activation',
              firmId: randomUUID(),
              to: { email: `p${n}@firm.example` },
              languages: ['nl'],
              data: {},
            },
            { box, messageIdDomain: 'test' },
          ),
        ),
      ),
    );

  test('concurrent claims never take the same mail twice (FOR UPDATE SKIP LOCKED)', async () => {
    await queue(60);
    const claims = await Promise.all(Array.from({ length: 6 }, () => claimDueNotifications(database.db, 15, 60_000)));
    const ids = claims.flat().map((row) => row.id);
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(60);
    expect(claims.flat().every((row) => !row.interrupted && row.status === 'sending')).toBe(true);
  });

  test('a mail whose sending lease ran out is claimed again as interrupted, one still leased is left alone', async () => {
    await database.db.query(`UPDATE notification SET status = 'failed' WHERE status = 'sending'`);
    await queue(2);
    const [leased, expired] = await claimDueNotifications(database.db, 2, 60_000);
    await database.db.query(`UPDATE notification SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [
      expired.id,
    ]);
    const again = await claimDueNotifications(database.db, 10, 60_000);
    expect(again.map((row) => row.id)).toEqual([expired.id]);
    expect(again[0]).toMatchObject({ interrupted: true, resent: true, attempts: 2 });
    expect(again.map((row) => row.id)).not.toContain(leased.id);
  });
});
