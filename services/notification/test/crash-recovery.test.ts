import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '@kantoor/database';
import { createLogger } from '@kantoor/logging';
import { migrateService } from '@kantoor/service-runtime';
import { startSmtpSink, type SmtpSink } from '@kantoor/smtp-sink';
import {
  describeEachDatabase,
  describeWithPostgres,
  eventually,
  openTestPostgres,
  temporaryFolder,
  type TestDatabase,
} from '@kantoor/testing';
import { createNotificationService } from '../src';
import { smtpMailSender, type MailSender } from '../src/adapters/smtp-transport';
import { claimDueNotifications, queueNotification } from '../src/data-access/notification-repository';
import { planIntent } from '../src/domain/notification-intent';
import { SecretBox } from '../src/domain/secret-box';
import { DeliveryWorker } from '../src/entry-points/worker/delivery-worker';
import { admin, inviteStaff, mailsIn, SECRET_KEY, startNotification } from './notification-harness';

const box = new SecretBox(Buffer.from(SECRET_KEY, 'base64'));

/** `count` invitation mails, due now, each to its own address; their Message-IDs. */
const queue = (db: Queryable, count: number) =>
  Promise.all(
    Array.from({ length: count }, async (_, n) => {
      const intent = planIntent(
        {
          eventId: randomUUID(),
          kind: 'staff_activation',
          firmId: randomUUID(),
          to: { email: `p${n}@firm.example` },
          languages: ['nl'],
          data: {},
        },
        { box, messageIdDomain: 'test' },
      );
      await queueNotification(db, intent);
      return intent.messageId;
    }),
  );

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
    const eventId = await inviteStaff(first.transport, firmId);
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
  beforeAll(async () => {
    database = await openTestPostgres(20);
    await migrateService(createNotificationService(), database.db);
  });
  afterAll(() => database.dispose());

  test('concurrent claims never take the same mail twice (FOR UPDATE SKIP LOCKED)', async () => {
    await queue(database.db, 60);
    const claims = await Promise.all(Array.from({ length: 6 }, () => claimDueNotifications(database.db, 15, 60_000)));
    const ids = claims.flat().map((row) => row.id);
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(60);
    expect(claims.flat().every((row) => !row.interrupted && row.status === 'sending')).toBe(true);
  });

  test('a mail whose sending lease ran out is claimed again as interrupted, one still leased is left alone', async () => {
    await database.db.query(`UPDATE notification SET status = 'failed' WHERE status = 'sending'`);
    await queue(database.db, 2);
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

/**
 * A worker process that dies the moment the SMTP server accepted its `lastAccepted`-th mail: from then on it
 * sends nothing more and nothing it asks of the database happens any more. Its SMTP conversations take turns,
 * so that "the n-th accepted mail" is one mail; `death` resolves with the Message-IDs it got accepted, in order.
 */
function mortalWorkerParts(db: Database, sink: SmtpSink, lastAccepted: number) {
  const real = smtpMailSender({ timeoutMs: 2000 });
  const never = new Promise<never>(() => undefined);
  let dead = false;
  const accepted: string[] = [];
  let died: (accepted: string[]) => void = () => undefined;
  const death = new Promise<string[]>((resolve) => (died = resolve));
  const unlessDead =
    <Args extends unknown[], Result>(work: (...args: Args) => Promise<Result>) =>
    (...args: Args): Promise<Result> =>
      dead ? never : work(...args);
  let turn: Promise<unknown> = Promise.resolve();
  const sender: MailSender = {
    send(server, mail) {
      const sent = turn.then(
        unlessDead(async () => {
          const answer = await real.send(server, mail);
          accepted.push(mail.messageId);
          if (accepted.length === lastAccepted) {
            dead = true;
            died(accepted);
          }
          return answer;
        }),
      );
      turn = sent.catch(() => undefined);
      return sent;
    },
    close: () => real.close(),
  };
  const mortalDb: Database = {
    dialect: db.dialect,
    query: unlessDead((text: string, params?: unknown[]) => db.query(text, params)) as Database['query'],
    transaction: unlessDead((work: Parameters<Database['transaction']>[0]) =>
      db.transaction(work),
    ) as Database['transaction'],
    close: async () => undefined,
  };
  return { db: mortalDb, sender, death, defaultSmtp: defaultSmtpOf(sink) };
}

const defaultSmtpOf = (sink: SmtpSink) => ({
  host: sink.host,
  port: sink.port,
  tls: 'none' as const,
  senderAddress: 'no-reply@kantoor.test',
});

describeEachDatabase('notification: killed in the middle of a batch', (open) => {
  let database: TestDatabase;
  let sink: SmtpSink;
  beforeAll(async () => {
    database = await open();
    await migrateService(createNotificationService(), database.db);
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.stop();
    await database.dispose();
  });

  const workerWith = (parts: { db: Database; sender: MailSender; defaultSmtp: ReturnType<typeof defaultSmtpOf> }) =>
    new DeliveryWorker({
      ...parts,
      logger: createLogger({ service: 'notification', level: 'silent' }),
      box,
      policy: { maxAttempts: 3, retryBaseMs: 20, retryMaxMs: 100 },
      publicUrl: 'https://kantoor.example',
      batchSize: 20,
      pollMs: 20,
      // on PostgreSQL the next worker takes over what the dead one held once this runs out
      leaseMs: 300,
      singleWorker: database.db.dialect === 'pglite',
    });

  test('after the 7th of 20 mails was accepted, the next worker sends the 13 not accepted and only the 7th again', async () => {
    const messageIds = await queue(database.db, 20);
    const mortal = mortalWorkerParts(database.db, sink, 7);
    await workerWith(mortal).start();
    const accepted = await mortal.death;
    const inFlight = accepted[6];
    mortal.sender.close();

    const next = workerWith({
      db: database.db,
      sender: smtpMailSender({ timeoutMs: 2000 }),
      defaultSmtp: mortal.defaultSmtp,
    });
    await next.start();
    try {
      await eventually(
        async () => (await database.db.query(`SELECT id FROM notification WHERE status <> 'sent'`)).rows,
        (unsent) => unsent.length === 0,
        10_000,
      );
    } finally {
      await next.stop();
    }
    const deliveries = new Map<string, number>();
    for (const { messageId } of sink.messages())
      deliveries.set(`<${messageId}>`, (deliveries.get(`<${messageId}>`) ?? 0) + 1);
    expect(Object.fromEntries(deliveries)).toEqual(
      Object.fromEntries(messageIds.map((id) => [id, id === inFlight ? 2 : 1])),
    );
    // the six recorded before the crash were done with; the rest (claimed by the dead worker) were tried again
    const { rows } = await database.db.query<{ message_id: string }>(
      'SELECT message_id FROM notification WHERE attempts = 1 AND NOT resent',
    );
    expect(rows.map((row) => row.message_id).sort()).toEqual(accepted.slice(0, 6).sort());
  });
});
