import { randomUUID } from 'node:crypto';
import type { Queryable } from '@kantoor/database';
import { createLogger } from '@kantoor/logging';
import { migrateService } from '@kantoor/service-runtime';
import {
  describeWithPostgres,
  eventually,
  openTestPostgres,
  temporaryFolder,
  type TestDatabase,
} from '@kantoor/testing';
import { createNotificationService } from '../src';
import { webhookPoster } from '../src/adapters/webhook-http';
import { claimDueWebhookDeliveries, queueWebhookEvent } from '../src/data-access/webhook-delivery-repository';
import { insertWebhook } from '../src/data-access/webhook-repository';
import { SecretBox } from '../src/domain/secret-box';
import { generateWebhookSecret } from '../src/domain/webhook-signature';
import { WebhookWorker } from '../src/entry-points/worker/webhook-worker';
import { admin, SECRET_KEY, startNotification } from './notification-harness';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver';

const box = new SecretBox(Buffer.from(SECRET_KEY, 'base64'));

describe('webhooks: killed between the receiver’s answer and its record', () => {
  let receiver: WebhookReceiver;
  let folder: { path: string; remove(): Promise<void> };
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    folder = await temporaryFolder('kantoor-webhook-crash-');
  });
  afterAll(async () => {
    await receiver.stop();
    await folder.remove();
  });

  test('after a restart on the same database the delivery is sent again with the same webhook-id', async () => {
    const firmId = randomUUID();
    let crashed = false;
    const first = await startNotification({
      dataDir: folder.path,
      inMemory: false,
      afterWebhookAnswer: () => {
        crashed = true;
        throw new Error('simulated crash: the process died before recording the attempt');
      },
    });
    const { webhook } = await first.client.createWebhook(
      { url: receiver.url('/crash'), eventTypes: ['documents.sent'], description: '' },
      { caller: admin(firmId) },
    );
    const { delivery } = await first.client.pingWebhook({ webhookId: webhook!.id }, { caller: admin(firmId) });
    const [original] = await receiver.received('/crash', 1);
    await eventually(async () => crashed, Boolean);
    const { rows } = await first.service.db.query('SELECT status FROM webhook_delivery WHERE id = $1', [delivery!.id]);
    expect(rows).toEqual([{ status: 'delivering' }]);
    await first.stop();

    const second = await startNotification({ dataDir: folder.path, inMemory: false });
    try {
      const [, again] = await receiver.received('/crash', 2);
      expect(again.headers['webhook-id']).toBe(original.headers['webhook-id']);
      expect(again.body).toBe(original.body);
      const found = await eventually(
        async () =>
          second.client.getWebhookDelivery(
            { webhookId: webhook!.id, deliveryId: delivery!.id },
            { caller: admin(firmId) },
          ),
        (answer) => answer.delivery?.status === 'delivered',
      );
      expect(found.delivery).toMatchObject({ status: 'delivered', attempts: 2 });
      // the first attempt was never recorded: the log has the one that was
      expect(found.attempts).toEqual([expect.objectContaining({ attempt: 2, outcome: 'delivered' })]);
      expect(receiver.requests('/crash')).toHaveLength(2);
    } finally {
      await second.stop();
    }
  });
});

describeWithPostgres('webhooks: replicas sending from one PostgreSQL database', () => {
  let database: TestDatabase;
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    database = await openTestPostgres(20);
    await migrateService(createNotificationService(), database.db);
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver.stop();
    await database.dispose();
  });

  /** `count` events for a webhook of a new firm at `path`; the webhook's id. */
  const queue = async (db: Queryable, path: string, count: number) => {
    const firmId = randomUUID();
    const webhook = await insertWebhook(db, {
      id: randomUUID(),
      firm_id: firmId,
      url: receiver.url(path),
      event_types: ['documents.sent'],
      description: '',
      secret_sealed: box.seal(generateWebhookSecret()),
      secret_hint: 'whsec_test',
      created_by: 'test',
    });
    for (let n = 0; n < count; n++)
      await queueWebhookEvent(db, { id: randomUUID(), type: 'documents.sent', firmId }, `{"n":${n}}`);
    return webhook.id;
  };

  test('concurrent claims never take the same delivery twice (FOR UPDATE SKIP LOCKED)', async () => {
    await queue(database.db, '/claims', 60);
    const claims = await Promise.all(
      Array.from({ length: 6 }, () => claimDueWebhookDeliveries(database.db, 15, 60_000)),
    );
    const ids = claims.flat().map((row) => row.id);
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(60);
    await database.db.query(`UPDATE webhook_delivery SET status = 'failed' WHERE status = 'delivering'`);
  });

  test('two workers deliver every delivery once', async () => {
    const webhookId = await queue(database.db, '/replicas', 40);
    const workers = Array.from(
      { length: 2 },
      () =>
        new WebhookWorker({
          db: database.db,
          logger: createLogger({ service: 'notification', level: 'silent' }),
          box,
          post: webhookPoster({ timeoutMs: 2000, rules: { allowHttp: true, allowPrivateNetworks: true } }),
          retryScheduleSeconds: [0.05],
          concurrency: 4,
          pollMs: 20,
          leaseMs: 60_000,
          singleWorker: false,
        }),
    );
    await Promise.all(workers.map((worker) => worker.start()));
    try {
      await eventually(
        async () =>
          (
            await database.db.query(`SELECT id FROM webhook_delivery WHERE webhook_id = $1 AND status <> 'delivered'`, [
              webhookId,
            ])
          ).rows,
        (left) => left.length === 0,
        15_000,
      );
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
    }
    const ids = receiver.requests('/replicas').map((request) => request.headers['webhook-id']);
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    const { rows } = await database.db.query(
      `SELECT count(*)::int AS attempts FROM webhook_attempt a JOIN webhook_delivery d ON d.id = a.delivery_id
        WHERE d.webhook_id = $1`,
      [webhookId],
    );
    expect(rows).toEqual([{ attempts: 40 }]);
  });
});
