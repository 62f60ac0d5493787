import { createHmac, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { createLogger } from '@kantoor/logging';
import { DocumentsProcessedSchema, DocumentsSentSchema } from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import type { WebhookDelivery } from '@kantoor/proto/kantoor/notification/v1/notification_pb';
import { eventually } from '@kantoor/testing';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { queueWebhookEvent } from '../src/data-access/webhook-delivery-repository';
import { SecretBox } from '../src/domain/secret-box';
import {
  admin,
  apiKey,
  deliverEvent,
  SECRET_KEY,
  settle,
  startNotification,
  type Harness,
} from './notification-harness';
import {
  endlessBody,
  silence,
  startWebhookReceiver,
  status,
  type ReceivedRequest,
  type WebhookReceiver,
} from './webhook-receiver';

const box = new SecretBox(Buffer.from(SECRET_KEY, 'base64'));

/**
 * The signatures of a request checked by hand, as the Standard Webhooks specification describes them (not with the
 * service's signer): HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<body>` with the base64-decoded part of the
 * secret after `whsec_`, in base64, each as `v1,<signature>` in the space-separated header.
 */
function signedWith(request: ReceivedRequest, secret: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const content = `${request.headers['webhook-id']}.${request.headers['webhook-timestamp']}.${request.body}`;
  const expected = `v1,${createHmac('sha256', key).update(content).digest('base64')}`;
  return String(request.headers['webhook-signature']).split(' ').includes(expected);
}

/** The same check with the standard's own library (throws when no signature matches). */
function verifiedByLibrary(request: ReceivedRequest, secret: string): unknown {
  const headers = Object.fromEntries(
    ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => [name, String(request.headers[name])]),
  );
  return new StandardWebhook(secret).verify(request.body, headers);
}

const signatureCount = (request: ReceivedRequest) => String(request.headers['webhook-signature']).split(' ').length;

describe('webhooks: events delivered to partners, signed, with a delivery log', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  const logLines: string[] = [];
  const firmId = randomUUID();
  const otherFirmId = randomUUID();
  const caller = admin(firmId);
  const secrets: string[] = [];

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    const destination = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    h = await startNotification({
      settings: { NOTIFICATION_WEBHOOK_TIMEOUT_MS: 500 },
      logger: createLogger({ service: 'notification', level: 'debug', destination }),
    });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  /** A webhook of the firm at `path` of the receiver; its id and secret. */
  const subscribe = async (path: string, firm = firmId, eventTypes = ['documents.sent']) => {
    const created = await h.client.createWebhook(
      { url: receiver.url(path), eventTypes, description: `receiver ${path}` },
      { caller: admin(firm) },
    );
    secrets.push(created.secret);
    return { id: created.webhook!.id, secret: created.secret, webhook: created.webhook! };
  };

  const sendDocuments = (firm = firmId, id?: string) =>
    deliverEvent(
      h.transport,
      'document-intake',
      DocumentsSentSchema,
      {
        firmId: firm,
        dossierId: '0b0c1d2e-0000-4000-8000-000000000001',
        documentIds: ['d1', 'd2'],
        actorId: 'portal-user-7',
        automatic: false,
        sentAt: timestampFromDate(new Date('2026-05-04T09:30:00Z')),
      },
      id,
    );

  /** The webhook's delivery for `eventId` once `accept` holds of it (or the time is up). */
  const deliveryOf = async (
    webhookId: string,
    eventId: string,
    accept: (delivery: WebhookDelivery | undefined) => boolean = (delivery) => delivery?.status === 'delivered',
    timeoutMs = 5000,
  ) =>
    eventually(
      async () =>
        (await h.client.listWebhookDeliveries({ webhookId }, { caller })).deliveries.find(
          (delivery) => delivery.eventId === eventId,
        ),
      accept,
      timeoutMs,
    );

  test('documents.sent reaches every subscribed webhook of the firm once, signed, with the documented headers and body', async () => {
    const first = await subscribe('/sent-a');
    const second = await subscribe('/sent-b');
    const otherFirm = await subscribe('/other-firm', otherFirmId);
    const eventId = await sendDocuments();

    const [a] = await receiver.received('/sent-a', 1);
    const [b] = await receiver.received('/sent-b', 1);
    const delivery = await deliveryOf(first.id, eventId);
    expect(delivery).toMatchObject({
      status: 'delivered',
      attempts: 1,
      eventType: 'documents.sent',
      lastStatusCode: 204,
    });
    expect(a.method).toBe('POST');
    expect(a.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'Kantoor-Webhooks/1',
      'webhook-id': delivery!.id,
    });
    expect(Math.abs(Number(a.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(30);
    expect(JSON.parse(a.body)).toEqual({
      id: eventId,
      type: 'documents.sent',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      firmId,
      dossierId: '0b0c1d2e-0000-4000-8000-000000000001',
      data: {
        documentIds: ['d1', 'd2'],
        sentBy: 'portal-user-7',
        automatic: false,
        sentAt: '2026-05-04T09:30:00.000Z',
      },
    });
    expect(signatureCount(a)).toBe(1);
    expect(signedWith(a, first.secret)).toBe(true);
    expect(signedWith(a, second.secret)).toBe(false);
    expect(verifiedByLibrary(a, first.secret)).toEqual(JSON.parse(a.body));
    expect(() => verifiedByLibrary(a, second.secret)).toThrow();
    // each webhook gets its own delivery (its own webhook-id) of the same body, signed with its own secret
    expect(b.body).toBe(a.body);
    expect(b.headers['webhook-id']).not.toBe(a.headers['webhook-id']);
    expect(verifiedByLibrary(b, second.secret)).toBeTruthy();

    const { attempts, payload } = await h.client.getWebhookDelivery(
      { webhookId: first.id, deliveryId: delivery!.id },
      { caller },
    );
    expect(payload).toBe(a.body);
    expect(attempts).toEqual([
      expect.objectContaining({ attempt: 1, outcome: 'delivered', statusCode: 204, error: '', responseExcerpt: '' }),
    ]);
    // another firm's webhook heard nothing of it
    await settle(200);
    expect(receiver.requests('/other-firm')).toEqual([]);
    const { deliveries } = await h.client.listWebhookDeliveries(
      { webhookId: otherFirm.id },
      { caller: admin(otherFirmId) },
    );
    expect(deliveries).toEqual([]);
  });

  test('a webhook not subscribed to the type, a disabled one, and events that are no webhook type get nothing', async () => {
    const subscribed = await subscribe('/subscribed');
    const disabled = await subscribe('/disabled');
    await h.client.updateWebhook({ webhookId: disabled.id, enabled: false }, { caller });
    // a subscription to a type a later version adds, as if it existed already
    const future = randomUUID();
    await h.service.db.query(
      `INSERT INTO webhook (id, firm_id, url, event_types, secret_sealed, secret_hint, created_by, updated_by)
       VALUES ($1, $2, $3, ARRAY['invoice.issued'], $4, 'whsec_abcd', 'test', 'test')`,
      [future, firmId, receiver.url('/future-type'), box.seal('whsec_' + Buffer.alloc(32, 1).toString('base64'))],
    );
    await deliverEvent(h.transport, 'document-intake', DocumentsProcessedSchema, {
      firmId,
      dossierId: randomUUID(),
      documentIds: ['d9'],
      actorId: 'staff-1',
    });
    const eventId = await sendDocuments();
    await deliveryOf(subscribed.id, eventId);
    await settle(200);
    expect(receiver.requests('/subscribed')).toHaveLength(1);
    expect(receiver.requests('/disabled')).toEqual([]);
    expect(receiver.requests('/future-type')).toEqual([]);
    const { rows } = await h.service.db.query('SELECT webhook_id FROM webhook_delivery WHERE webhook_id = ANY ($1)', [
      [disabled.id, future],
    ]);
    expect(rows).toEqual([]);
  });

  test('the same event delivered twice queues one delivery per webhook', async () => {
    const once = await subscribe('/once');
    const eventId = randomUUID();
    await sendDocuments(firmId, eventId);
    await sendDocuments(firmId, eventId);
    await deliveryOf(once.id, eventId);
    await settle(200);
    expect(receiver.requests('/once')).toHaveLength(1);
    // past the consumer's inbox too: the queue itself refuses a second delivery of an event to a webhook
    const queuedAgain = await queueWebhookEvent(h.service.db, { id: eventId, type: 'documents.sent', firmId }, '{}');
    expect(queuedAgain).toBe(0);
    const { deliveries } = await h.client.listWebhookDeliveries({ webhookId: once.id }, { caller });
    expect(deliveries).toHaveLength(1);
  });

  test('a 500 is tried again after the schedule’s pause; the log shows both attempts under one webhook-id', async () => {
    const flaky = await subscribe('/flaky');
    receiver.answer('/flaky', status(500, 'database down'), status(200, '{"ok":true}'));
    const eventId = await sendDocuments();
    const delivery = await deliveryOf(flaky.id, eventId);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 2, lastStatusCode: 200 });
    const [first, second] = receiver.requests('/flaky');
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(second.body).toBe(first.body);
    expect(signedWith(second, flaky.secret)).toBe(true);
    const { attempts } = await h.client.getWebhookDelivery(
      { webhookId: flaky.id, deliveryId: delivery!.id },
      { caller },
    );
    expect(attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        outcome: 'retry_scheduled',
        statusCode: 500,
        error: 'the receiver answered 500',
        responseExcerpt: 'database down',
      }),
      expect.objectContaining({ attempt: 2, outcome: 'delivered', statusCode: 200, responseExcerpt: '{"ok":true}' }),
    ]);
    expect(attempts[1].startedAt!.seconds >= attempts[0].startedAt!.seconds).toBe(true);
  });

  test('a receiver that does not answer in time is tried again', async () => {
    const slow = await subscribe('/slow');
    receiver.answer('/slow', silence);
    const eventId = await sendDocuments();
    const delivery = await deliveryOf(slow.id, eventId);
    const { attempts } = await h.client.getWebhookDelivery(
      { webhookId: slow.id, deliveryId: delivery!.id },
      { caller },
    );
    expect(attempts[0]).toMatchObject({ outcome: 'retry_scheduled', statusCode: 0, error: 'no answer within 500 ms' });
    expect(attempts[0].durationMs).toBeGreaterThanOrEqual(450);
    expect(attempts[1]).toMatchObject({ outcome: 'delivered', statusCode: 204 });
  });

  test('a redirect is not followed: it is a failed attempt', async () => {
    const moved = await subscribe('/moved');
    receiver.answer('/moved', status(302, '', { location: receiver.url('/moved-here') }));
    const eventId = await sendDocuments();
    const delivery = await deliveryOf(moved.id, eventId);
    expect(delivery!.attempts).toBe(2);
    expect(receiver.requests('/moved-here')).toEqual([]);
    const { attempts } = await h.client.getWebhookDelivery(
      { webhookId: moved.id, deliveryId: delivery!.id },
      { caller },
    );
    expect(attempts[0]).toMatchObject({ outcome: 'retry_scheduled', statusCode: 302 });
  });

  test('410 Gone fails the delivery and disables the webhook: nothing more is queued for it', async () => {
    const gone = await subscribe('/gone');
    receiver.answer('/gone', status(410));
    const eventId = await sendDocuments();
    const delivery = await deliveryOf(gone.id, eventId, (found) => found?.status === 'failed');
    expect(delivery).toMatchObject({ status: 'failed', attempts: 1, lastStatusCode: 410 });
    const { webhook } = await h.client.getWebhook({ webhookId: gone.id }, { caller });
    expect(webhook).toMatchObject({ enabled: false, disabledReason: 'gone', updatedBy: 'system:notification' });
    await sendDocuments();
    await settle(200);
    expect(receiver.requests('/gone')).toHaveLength(1);
    expect((await h.client.listWebhookDeliveries({ webhookId: gone.id }, { caller })).deliveries).toHaveLength(1);
    // enabled again by a user, the platform's reason is gone too
    const { webhook: enabled } = await h.client.updateWebhook({ webhookId: gone.id, enabled: true }, { caller });
    expect(enabled).toMatchObject({ enabled: true, disabledReason: '', updatedBy: `staff:${caller.subjectId}` });
  });

  test('when the schedule is used up the delivery fails; RetryWebhookDelivery sends it again, numbering on', async () => {
    const down = await subscribe('/down');
    receiver.answer('/down', status(503), status(503), status(503));
    const eventId = await sendDocuments();
    const failed = await deliveryOf(down.id, eventId, (found) => found?.status === 'failed');
    // the schedule has two pauses: three attempts
    expect(failed).toMatchObject({ status: 'failed', attempts: 3, lastStatusCode: 503 });
    expect(receiver.requests('/down')).toHaveLength(3);

    const { delivery: requeued } = await h.client.retryWebhookDelivery(
      { webhookId: down.id, deliveryId: failed!.id },
      { caller },
    );
    expect(requeued).toMatchObject({ status: 'pending', attempts: 3 });
    const delivered = await deliveryOf(down.id, eventId);
    expect(delivered).toMatchObject({ status: 'delivered', attempts: 4, lastStatusCode: 204 });
    const requests = receiver.requests('/down');
    expect(requests).toHaveLength(4);
    expect(new Set(requests.map((request) => request.headers['webhook-id']))).toEqual(new Set([failed!.id]));
    const { attempts } = await h.client.getWebhookDelivery({ webhookId: down.id, deliveryId: failed!.id }, { caller });
    expect(attempts.map((attempt) => [attempt.attempt, attempt.outcome])).toEqual([
      [1, 'retry_scheduled'],
      [2, 'retry_scheduled'],
      [3, 'failed'],
      [4, 'delivered'],
    ]);
    // a delivered one may be sent again too; one still pending may not
    receiver.answer('/down', silence);
    await h.client.retryWebhookDelivery({ webhookId: down.id, deliveryId: failed!.id }, { caller });
    await eventually(
      async () => receiver.requests('/down').length,
      (count) => count === 5,
    );
    await expect(
      h.client.retryWebhookDelivery({ webhookId: down.id, deliveryId: failed!.id }, { caller }),
    ).rejects.toMatchObject({ kind: 'failed_precondition', reason: 'webhook_delivery_in_progress' });
  });

  test('a delivery shows its latest 100 attempts, and is retried by hand until it has had 1,000', async () => {
    const hook = await subscribe('/often');
    const eventId = await sendDocuments();
    const delivered = await deliveryOf(hook.id, eventId);
    // as if it had been retried by hand a thousand times: each retry added attempts
    await h.service.db.query(
      `INSERT INTO webhook_attempt (delivery_id, attempt, outcome, status_code, duration_ms, started_at)
       SELECT $1, n, 'delivered', 204, 5, now() FROM generate_series(2, 1000) AS n`,
      [delivered!.id],
    );
    await h.service.db.query('UPDATE webhook_delivery SET attempts = 1000 WHERE id = $1', [delivered!.id]);
    const { delivery, attempts } = await h.client.getWebhookDelivery(
      { webhookId: hook.id, deliveryId: delivered!.id },
      { caller },
    );
    expect(delivery?.attempts).toBe(1000);
    expect(attempts.map((attempt) => attempt.attempt)).toEqual(Array.from({ length: 100 }, (_, i) => 901 + i));
    await expect(
      h.client.retryWebhookDelivery({ webhookId: hook.id, deliveryId: delivered!.id }, { caller }),
    ).rejects.toMatchObject({ kind: 'failed_precondition', reason: 'webhook_delivery_attempts_exhausted' });
    expect(
      (await h.client.getWebhookDelivery({ webhookId: hook.id, deliveryId: delivered!.id }, { caller })).delivery,
    ).toMatchObject({ status: 'delivered', attempts: 1000 });
  });

  test('a firm has at most 50 webhooks; one more is refused until one is deleted', async () => {
    const firm = randomUUID();
    const made = await Promise.all(Array.from({ length: 50 }, (_, i) => subscribe(`/many-${i}`, firm)));
    await expect(subscribe('/many-50', firm)).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'too_many_webhooks',
    });
    expect((await h.client.listWebhooks({ pageSize: 100 }, { caller: admin(firm) })).webhooks).toHaveLength(50);
    await h.client.deleteWebhook({ webhookId: made[0].id }, { caller: admin(firm) });
    await expect(subscribe('/many-50', firm)).resolves.toMatchObject({ webhook: { url: receiver.url('/many-50') } });
  });

  test('after a rotation both secrets sign until the overlap ends, then only the new one; a second rotation drops the oldest', async () => {
    const rotating = await subscribe('/rotating');
    const { webhook, secret: second } = await h.client.rotateWebhookSecret({ webhookId: rotating.id }, { caller });
    expect(second).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(webhook!.secretHint).toBe(second.slice(0, 10));
    const expires = Number(webhook!.previousSecretExpiresAt!.seconds) * 1000;
    expect(Math.abs(expires - (Date.now() + 24 * 3600_000))).toBeLessThan(60_000);

    await h.client.pingWebhook({ webhookId: rotating.id }, { caller });
    const [during] = await receiver.received('/rotating', 1);
    expect(signatureCount(during)).toBe(2);
    expect(String(during.headers['webhook-signature']).split(' ')[0]).toBe(
      `v1,${createHmac('sha256', Buffer.from(second.slice(6), 'base64'))
        .update(`${during.headers['webhook-id']}.${during.headers['webhook-timestamp']}.${during.body}`)
        .digest('base64')}`,
    );
    expect(signedWith(during, rotating.secret)).toBe(true);
    expect(verifiedByLibrary(during, second)).toBeTruthy();
    expect(verifiedByLibrary(during, rotating.secret)).toBeTruthy();

    // a second rotation within the overlap: the first secret stops signing at once
    const { secret: third } = await h.client.rotateWebhookSecret({ webhookId: rotating.id }, { caller });
    await h.client.pingWebhook({ webhookId: rotating.id }, { caller });
    const [, afterSecond] = await receiver.received('/rotating', 2);
    expect(signatureCount(afterSecond)).toBe(2);
    expect(signedWith(afterSecond, third)).toBe(true);
    expect(signedWith(afterSecond, second)).toBe(true);
    expect(signedWith(afterSecond, rotating.secret)).toBe(false);

    // once the overlap has passed
    await h.service.db.query(
      `UPDATE webhook SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1`,
      [rotating.id],
    );
    expect((await h.client.getWebhook({ webhookId: rotating.id }, { caller })).webhook!.previousSecretExpiresAt).toBe(
      undefined,
    );
    await h.client.pingWebhook({ webhookId: rotating.id }, { caller });
    const [, , after] = await receiver.received('/rotating', 3);
    expect(signatureCount(after)).toBe(1);
    expect(signedWith(after, third)).toBe(true);
    expect(() => verifiedByLibrary(after, second)).toThrow();
    secrets.push(second, third);
  });

  test('a ping is queued for the webhook alone, and refused while it is disabled', async () => {
    const pinged = await subscribe('/pinged');
    const { delivery } = await h.client.pingWebhook({ webhookId: pinged.id }, { caller });
    expect(delivery).toMatchObject({
      status: 'pending',
      eventType: 'webhook.ping',
      webhookId: pinged.id,
      dossierId: '',
    });
    const [ping] = await receiver.received('/pinged', 1);
    expect(JSON.parse(ping.body)).toEqual({
      id: delivery!.eventId,
      type: 'webhook.ping',
      timestamp: expect.any(String),
      firmId,
      dossierId: null,
      data: { webhookId: pinged.id },
    });
    await h.client.updateWebhook({ webhookId: pinged.id, enabled: false }, { caller });
    await expect(h.client.pingWebhook({ webhookId: pinged.id }, { caller })).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'webhook_disabled',
    });
  });

  test('disabling a webhook cancels its deliveries not yet made; one queued meanwhile is cancelled, not sent', async () => {
    const paused = await subscribe('/paused');
    receiver.answer('/paused', status(500));
    const eventId = await sendDocuments();
    const waiting = await deliveryOf(
      paused.id,
      eventId,
      (found) => found?.attempts === 1 && found.status === 'pending',
    );
    // the retry is an hour away
    await h.service.db.query(`UPDATE webhook_delivery SET next_attempt_at = now() + interval '1 hour' WHERE id = $1`, [
      waiting!.id,
    ]);
    await h.client.updateWebhook({ webhookId: paused.id, enabled: false }, { caller });
    const cancelled = await deliveryOf(paused.id, eventId, (found) => found?.status === 'cancelled');
    expect(cancelled).toMatchObject({ status: 'cancelled', lastError: 'the webhook was disabled' });

    // an event whose transaction queued it while the webhook was being disabled
    const late = randomUUID();
    await h.service.db.query(
      `INSERT INTO webhook_delivery (id, webhook_id, firm_id, event_id, event_type, payload) VALUES ($1, $2, $3, $4, 'documents.sent', '{}')`,
      [randomUUID(), paused.id, firmId, late],
    );
    const lateOne = await deliveryOf(paused.id, late, (found) => found?.status === 'cancelled');
    expect(lateOne!.lastError).toBe('the webhook was disabled or deleted before it could be sent');
    expect(receiver.requests('/paused')).toHaveLength(1);
    await expect(
      h.client.retryWebhookDelivery({ webhookId: paused.id, deliveryId: lateOne!.id }, { caller }),
    ).rejects.toMatchObject({ reason: 'webhook_disabled' });
  });

  test('a deleted webhook gets nothing more; its log can still be read', async () => {
    const deleted = await subscribe('/deleted');
    const eventId = await sendDocuments();
    await deliveryOf(deleted.id, eventId);
    await h.client.deleteWebhook({ webhookId: deleted.id }, { caller });
    await expect(h.client.getWebhook({ webhookId: deleted.id }, { caller })).rejects.toMatchObject({
      kind: 'not_found',
      reason: 'webhook_not_found',
    });
    await expect(h.client.deleteWebhook({ webhookId: deleted.id }, { caller })).rejects.toMatchObject({
      kind: 'not_found',
    });
    await sendDocuments();
    await settle(200);
    expect(receiver.requests('/deleted')).toHaveLength(1);
    const { deliveries } = await h.client.listWebhookDeliveries({ webhookId: deleted.id }, { caller });
    expect(deliveries).toHaveLength(1);
    const { webhooks } = await h.client.listWebhooks({}, { caller });
    expect(webhooks.map((webhook) => webhook.id)).not.toContain(deleted.id);
  });

  test('a huge answer is not read whole: at most 64 KiB, of which the log keeps 512 characters', async () => {
    const talkative = await subscribe('/talkative');
    const huge = endlessBody(512 * 1024 * 1024);
    receiver.answer('/talkative', huge.answer);
    const eventId = await sendDocuments();
    const delivery = await deliveryOf(talkative.id, eventId);
    const { attempts } = await h.client.getWebhookDelivery(
      { webhookId: talkative.id, deliveryId: delivery!.id },
      { caller },
    );
    expect(attempts[0]).toMatchObject({ outcome: 'delivered', statusCode: 200, responseExcerpt: 'x'.repeat(512) });
    await settle(300);
    // what the receiver could write before the worker hung up: its 64 KiB and what the sockets' buffers held
    expect(huge.written()).toBeLessThan(64 * 1024 * 1024);
  });

  test('lists page oldest first with a cursor; another firm’s webhooks and deliveries are not found', async () => {
    const firm = randomUUID();
    const created: Array<{ id: string }> = [];
    for (const path of ['/p1', '/p2', '/p3']) created.push(await subscribe(path, firm));
    const first = await h.client.listWebhooks({ pageSize: 2 }, { caller: admin(firm) });
    expect(first.webhooks.map((webhook) => webhook.id)).toEqual([created[0].id, created[1].id]);
    const second = await h.client.listWebhooks({ pageSize: 2, cursor: first.nextCursor }, { caller: admin(firm) });
    expect(second.webhooks.map((webhook) => webhook.id)).toEqual([created[2].id]);
    expect(second.nextCursor).toBe('');

    const stranger = admin(randomUUID());
    for (const call of [
      () => h.client.getWebhook({ webhookId: created[0].id }, { caller: stranger }),
      () => h.client.updateWebhook({ webhookId: created[0].id, description: 'mine' }, { caller: stranger }),
      () => h.client.deleteWebhook({ webhookId: created[0].id }, { caller: stranger }),
      () => h.client.rotateWebhookSecret({ webhookId: created[0].id }, { caller: stranger }),
      () => h.client.pingWebhook({ webhookId: created[0].id }, { caller: stranger }),
      () => h.client.listWebhookDeliveries({ webhookId: created[0].id }, { caller: stranger }),
    ])
      await expect(call()).rejects.toMatchObject({ kind: 'not_found', reason: 'webhook_not_found' });
    expect((await h.client.listWebhooks({}, { caller: stranger })).webhooks).toEqual([]);
    const { delivery } = await h.client.pingWebhook({ webhookId: created[0].id }, { caller: admin(firm) });
    await expect(
      h.client.getWebhookDelivery({ webhookId: created[1].id, deliveryId: delivery!.id }, { caller: admin(firm) }),
    ).rejects.toMatchObject({ kind: 'not_found', reason: 'webhook_delivery_not_found' });
    await expect(
      h.client.getWebhookDelivery({ webhookId: created[0].id, deliveryId: delivery!.id }, { caller: stranger }),
    ).rejects.toMatchObject({ kind: 'not_found' });
    await expect(h.client.listWebhooks({ cursor: 'nonsense' }, { caller: admin(firm) })).rejects.toMatchObject({
      reason: 'invalid_cursor',
    });
  });

  test('staff admins and API keys with webhook scopes may; employees, clients and other keys may not', async () => {
    const writer = apiKey(firmId, ['webhook:write', 'webhook:read']);
    const { webhook } = await h.client.createWebhook(
      { url: receiver.url('/by-key'), eventTypes: ['documents.sent'], description: '' },
      { caller: writer },
    );
    expect(webhook).toMatchObject({
      createdBy: `api_key:${writer.subjectId}`,
      updatedBy: `api_key:${writer.subjectId}`,
    });
    const { webhook: changed } = await h.client.updateWebhook(
      { webhookId: webhook!.id, description: 'changed by an admin' },
      { caller },
    );
    expect(changed).toMatchObject({ createdBy: `api_key:${writer.subjectId}`, updatedBy: `staff:${caller.subjectId}` });
    // the same key with the read scope only
    const reader = { ...writer, scopes: ['webhook:read'] };
    expect((await h.client.getWebhook({ webhookId: webhook!.id }, { caller: reader })).webhook!.id).toBe(webhook!.id);
    await expect(h.client.pingWebhook({ webhookId: webhook!.id }, { caller: reader })).rejects.toMatchObject({
      kind: 'permission_denied',
      reason: 'missing_scope',
    });
    for (const refused of [
      admin(firmId, { role: 'employee' }),
      admin(firmId, { kind: 'portal_user', role: undefined }),
      admin(firmId, { impersonation: { dossierId: randomUUID(), portalUserId: randomUUID() } }),
      apiKey(firmId, ['document:read']),
    ]) {
      await expect(h.client.listWebhooks({}, { caller: refused })).rejects.toMatchObject({ kind: 'permission_denied' });
    }
  });

  test('an API key sees and manages only the webhooks it created; admins see them all', async () => {
    const firm = randomUUID();
    const [keyA, keyB] = [
      apiKey(firm, ['webhook:write', 'webhook:read']),
      apiKey(firm, ['webhook:write', 'webhook:read']),
    ];
    const create = async (who: typeof keyA, path: string) =>
      (
        await h.client.createWebhook(
          { url: receiver.url(path), eventTypes: ['documents.sent'], description: path },
          { caller: who },
        )
      ).webhook!;
    const ofA = await create(keyA, '/key-a');
    const ofB = await create(keyB, '/key-b');
    const ofStaff = await create(admin(firm), '/staff');
    expect([ofA.ownerApiKeyId, ofB.ownerApiKeyId, ofStaff.ownerApiKeyId]).toEqual([keyA.subjectId, keyB.subjectId, '']);
    const listed = async (who: typeof keyA) =>
      (await h.client.listWebhooks({}, { caller: who })).webhooks.map((webhook) => webhook.id);
    expect(await listed(keyA)).toEqual([ofA.id]);
    expect(await listed(keyB)).toEqual([ofB.id]);
    expect(await listed(admin(firm))).toEqual([ofA.id, ofB.id, ofStaff.id]);
    // another key's webhook, or staff's, is as unknown to a key as one that does not exist, and stays as it was
    for (const other of [ofA, ofStaff]) {
      const webhookId = other.id;
      for (const attempt of [
        () => h.client.getWebhook({ webhookId }, { caller: keyB }),
        () => h.client.updateWebhook({ webhookId, description: 'taken over' }, { caller: keyB }),
        () => h.client.deleteWebhook({ webhookId }, { caller: keyB }),
        () => h.client.rotateWebhookSecret({ webhookId }, { caller: keyB }),
        () => h.client.pingWebhook({ webhookId }, { caller: keyB }),
        () => h.client.listWebhookDeliveries({ webhookId }, { caller: keyB }),
      ])
        await expect(attempt()).rejects.toMatchObject({ kind: 'not_found', reason: 'webhook_not_found' });
    }
    const { webhook: unchanged } = await h.client.getWebhook({ webhookId: ofA.id }, { caller: admin(firm) });
    expect(unchanged).toEqual(ofA);
    // the admin manages a key's webhook too; the key keeps it
    const { webhook: renamed } = await h.client.updateWebhook(
      { webhookId: ofA.id, description: 'renamed by the admin' },
      { caller: admin(firm) },
    );
    expect(renamed).toMatchObject({ description: 'renamed by the admin', ownerApiKeyId: keyA.subjectId });
    expect(await listed(keyA)).toEqual([ofA.id]);
  });

  test('revoking a key (DisableApiKeyWebhooks, admins only) disables its webhooks and cancels what they had queued', async () => {
    const firm = randomUUID();
    const [keyA, keyB] = [
      apiKey(firm, ['webhook:write', 'webhook:read']),
      apiKey(firm, ['webhook:write', 'webhook:read']),
    ];
    const ofA = (
      await h.client.createWebhook(
        { url: receiver.url('/revoked-key'), eventTypes: ['documents.sent'], description: '' },
        { caller: keyA },
      )
    ).webhook!;
    const ofB = (
      await h.client.createWebhook(
        { url: receiver.url('/kept-key'), eventTypes: ['documents.sent'], description: '' },
        { caller: keyB },
      )
    ).webhook!;
    // a delivery still waiting when the key is revoked (a receiver that keeps failing)
    receiver.answer('/revoked-key', status(500));
    const { delivery } = await h.client.pingWebhook({ webhookId: ofA.id }, { caller: keyA });
    await eventually(
      async () =>
        (await h.client.listWebhookDeliveries({ webhookId: ofA.id }, { caller: admin(firm) })).deliveries.find(
          (found) => found.id === delivery!.id,
        ),
      (found) => found?.status === 'pending' && found.attempts >= 1,
      5000,
    );
    await expect(h.client.disableApiKeyWebhooks({ apiKeyId: keyA.subjectId }, { caller: keyA })).rejects.toMatchObject({
      kind: 'permission_denied',
      reason: 'admin_only',
    });
    await expect(
      h.client.disableApiKeyWebhooks({ apiKeyId: 'not-a-key' }, { caller: admin(firm) }),
    ).rejects.toMatchObject({ kind: 'invalid_argument' });
    // another firm's admin reaches nothing of this firm
    expect(
      await h.client.disableApiKeyWebhooks({ apiKeyId: keyA.subjectId }, { caller: admin(randomUUID()) }),
    ).toMatchObject({ disabled: 0 });
    expect(await h.client.disableApiKeyWebhooks({ apiKeyId: keyA.subjectId }, { caller: admin(firm) })).toMatchObject({
      disabled: 1,
    });
    const { webhook } = await h.client.getWebhook({ webhookId: ofA.id }, { caller: admin(firm) });
    expect(webhook).toMatchObject({ enabled: false, disabledReason: 'api_key_revoked' });
    const [cancelled] = (await h.client.listWebhookDeliveries({ webhookId: ofA.id }, { caller: admin(firm) }))
      .deliveries;
    expect(cancelled).toMatchObject({ status: 'cancelled' });
    expect((await h.client.getWebhook({ webhookId: ofB.id }, { caller: keyB })).webhook).toMatchObject({
      enabled: true,
    });
    // repeating it changes nothing more
    expect(await h.client.disableApiKeyWebhooks({ apiKeyId: keyA.subjectId }, { caller: admin(firm) })).toMatchObject({
      disabled: 0,
    });
  });

  test('bad input is refused with its reason, and a refused request changes nothing', async () => {
    const firm = randomUUID();
    const who = admin(firm);
    const create = (fields: { url?: string; eventTypes?: string[]; description?: string }) =>
      h.client.createWebhook(
        { url: 'https://partner.example/hooks', eventTypes: ['documents.sent'], description: '', ...fields },
        { caller: who },
      );
    for (const url of ['', 'partner.example/hooks', 'ftp://partner.example/', 'https://user:pw@partner.example/'])
      await expect(create({ url })).rejects.toMatchObject({ kind: 'invalid_argument', reason: 'webhook_url_invalid' });
    await expect(create({ url: `https://partner.example/${'a'.repeat(2000)}` })).rejects.toMatchObject({
      reason: 'webhook_url_invalid',
    });
    await expect(create({ eventTypes: ['documents.sent', 'documents.eaten'] })).rejects.toMatchObject({
      kind: 'invalid_argument',
      reason: 'unknown_event_type',
      message: expect.stringContaining('the known types are documents.sent'),
    });
    await expect(create({ eventTypes: ['webhook.ping'] })).rejects.toMatchObject({ reason: 'unknown_event_type' });
    await expect(create({ eventTypes: ['dócuments.sent'] })).rejects.toMatchObject({
      reason: 'unknown_event_type',
      message: expect.stringContaining('"dócuments.sent"'),
      violations: [{ field: 'eventTypes', message: 'holds unknown types: dócuments.sent' }],
    });
    await expect(create({ eventTypes: [] })).rejects.toMatchObject({ reason: 'invalid_event_types' });
    await expect(create({ eventTypes: ['documents.sent', 'documents.sent'] })).rejects.toMatchObject({
      reason: 'invalid_event_types',
    });
    await expect(create({ eventTypes: Array(21).fill('documents.sent') })).rejects.toMatchObject({
      reason: 'invalid_event_types',
    });
    await expect(create({ description: 'd'.repeat(501) })).rejects.toMatchObject({ reason: 'validation_failed' });
    expect((await h.client.listWebhooks({}, { caller: who })).webhooks).toEqual([]);

    const { webhook } = await create({ description: 'd'.repeat(500) });
    await expect(
      h.client.updateWebhook(
        { webhookId: webhook!.id, url: 'https://other.example/', updateEventTypes: true, eventTypes: [] },
        { caller: who },
      ),
    ).rejects.toMatchObject({ reason: 'invalid_event_types' });
    await expect(
      h.client.updateWebhook({ webhookId: webhook!.id, eventTypes: ['documents.sent'] }, { caller: who }),
    ).rejects.toMatchObject({ reason: 'validation_failed' });
    expect((await h.client.getWebhook({ webhookId: webhook!.id }, { caller: who })).webhook!.url).toBe(
      'https://partner.example/hooks',
    );
    for (const call of [
      () => h.client.getWebhook({ webhookId: 'not-a-uuid' }, { caller: who }),
      () => h.client.getWebhookDelivery({ webhookId: webhook!.id, deliveryId: '42' }, { caller: who }),
    ])
      await expect(call()).rejects.toMatchObject({ kind: 'invalid_argument', reason: 'validation_failed' });
    await expect(h.client.getWebhook({ webhookId: randomUUID() }, { caller: who })).rejects.toMatchObject({
      kind: 'not_found',
    });
    await expect(
      h.client.retryWebhookDelivery({ webhookId: webhook!.id, deliveryId: randomUUID() }, { caller: who }),
    ).rejects.toMatchObject({ kind: 'not_found', reason: 'webhook_delivery_not_found' });
    await expect(
      h.client.listWebhookDeliveries({ webhookId: webhook!.id, status: 'lost' }, { caller: who }),
    ).rejects.toMatchObject({ reason: 'invalid_status' });
  });

  test('secrets never appear in answers other than create and rotate, nor in the logs, nor in clear at rest', async () => {
    const { rows } = await h.service.db.query<{ secret_sealed: string; previous_secret_sealed: string | null }>(
      'SELECT secret_sealed, previous_secret_sealed FROM webhook',
    );
    const { webhooks } = await h.client.listWebhooks({ pageSize: 200 }, { caller });
    const answers = JSON.stringify(
      [
        webhooks,
        await Promise.all(webhooks.map((webhook) => h.client.getWebhook({ webhookId: webhook.id }, { caller }))),
        await Promise.all(
          webhooks.map((webhook) => h.client.listWebhookDeliveries({ webhookId: webhook.id }, { caller })),
        ),
      ],
      (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value),
    );
    const logs = logLines.join('');
    expect(logs).toContain('webhook delivered');
    expect(secrets.length).toBeGreaterThan(10);
    for (const secret of secrets) {
      const key = secret.slice('whsec_'.length);
      for (const text of [answers, logs, JSON.stringify(rows)]) {
        expect(text).not.toContain(key);
        expect(text).not.toContain(key.slice(0, 16));
      }
    }
  });
});

describe('webhooks: destinations are checked (cluster defaults: https to public addresses only)', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  const firmId = randomUUID();
  const caller = admin(firmId);
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    // the cluster's defaults: neither http nor private networks
    h = await startNotification({
      settings: {
        KANTOOR_MODE: 'cluster',
        NOTIFICATION_WEBHOOK_ALLOW_HTTP: undefined,
        NOTIFICATION_WEBHOOK_ALLOW_PRIVATE_NETWORKS: undefined,
      },
    });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  const create = (url: string) =>
    h.client.createWebhook({ url, eventTypes: ['documents.sent'], description: '' }, { caller });

  test('http is refused', async () => {
    await expect(create(receiver.url('/plain'))).rejects.toMatchObject({
      kind: 'invalid_argument',
      reason: 'webhook_url_not_allowed',
      message: expect.stringContaining('must use https'),
    });
  });

  test.each([
    ['loopback', 'https://127.0.0.1/hook'],
    ['loopback, written as a number', 'https://2130706433/hook'],
    ['private', 'https://10.1.2.3/hook'],
    ['private', 'https://192.168.1.20:8443/hook'],
    ['private', 'https://172.20.0.5/hook'],
    ['link-local (cloud metadata)', 'https://169.254.169.254/latest/meta-data'],
    ['CGNAT', 'https://100.64.0.1/'],
    ['unspecified', 'https://0.0.0.0/'],
    ['multicast', 'https://224.0.0.1/'],
    ['IPv6 loopback', 'https://[::1]/hook'],
    ['IPv6 unique-local', 'https://[fd12:3456::1]/hook'],
    ['IPv6 link-local', 'https://[fe80::1]/hook'],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/hook'],
    ['IPv4-mapped private', 'https://[::ffff:10.0.0.1]/hook'],
    ['NAT64 to loopback', 'https://[64:ff9b::127.0.0.1]/hook'],
    ['NAT64 to link-local', 'https://[64:ff9b::a9fe:a9fe]/hook'],
  ])('an IP address in a refused range is refused: %s %s', async (_range, url) => {
    await expect(create(url)).rejects.toMatchObject({ kind: 'invalid_argument', reason: 'webhook_url_not_allowed' });
  });

  test('public addresses and host names are taken', async () => {
    for (const url of [
      'https://203.0.113.10/hook',
      'https://[2001:db8::1]/hook',
      'https://hooks.partner.example/k',
      // NAT64 to a public IPv4 address (an IPv6-only cluster reaching an IPv4 partner)
      'https://[64:ff9b::cb00:710a]/hook',
    ])
      expect((await create(url)).webhook!.url).toBe(url);
  });

  test('a host name that resolves to a refused address is refused when the attempt connects', async () => {
    const { webhook } = await create(receiver.url('/via-name').replace('http://127.0.0.1', 'https://localhost'));
    const { delivery } = await h.client.pingWebhook({ webhookId: webhook!.id }, { caller });
    const attempts = await eventually(
      async () =>
        (await h.client.getWebhookDelivery({ webhookId: webhook!.id, deliveryId: delivery!.id }, { caller })).attempts,
      (found) => found.length >= 1,
    );
    expect(attempts[0]).toMatchObject({
      outcome: 'retry_scheduled',
      statusCode: 0,
      error: 'localhost resolves to 127.0.0.1, a loopback address, which webhooks never reach',
    });
    expect(receiver.requests('/via-name')).toEqual([]);
  });

  test('an address allowed when the webhook was made but refused now fails each attempt (settings changed)', async () => {
    const id = randomUUID();
    await h.service.db.query(
      `INSERT INTO webhook (id, firm_id, url, event_types, secret_sealed, secret_hint, created_by, updated_by)
       VALUES ($1, $2, $3, ARRAY['documents.sent'], $4, 'whsec_abcd', 'test', 'test')`,
      [id, firmId, receiver.url('/made-before'), box.seal('whsec_' + Buffer.alloc(32, 2).toString('base64'))],
    );
    const { delivery } = await h.client.pingWebhook({ webhookId: id }, { caller });
    const attempts = await eventually(
      async () => (await h.client.getWebhookDelivery({ webhookId: id, deliveryId: delivery!.id }, { caller })).attempts,
      (found) => found.length >= 1,
    );
    expect(attempts[0].error).toBe(
      'The webhook URL must use https (this platform does not send webhooks over plain http).',
    );
    expect(receiver.requests('/made-before')).toEqual([]);
  });
});
