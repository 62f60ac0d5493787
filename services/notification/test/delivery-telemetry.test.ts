import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { DocumentsSentSchema } from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import { eventually, hasAttributes, recordTelemetry, type RecordedTelemetry } from '@kantoor/testing';
import {
  admin,
  deliverEvent,
  inviteStaff,
  startNotification,
  useSmtpServer,
  type Harness,
} from './notification-harness';
import { refusingPort, startScriptedSmtpServer, type ScriptedSmtpServer } from './scripted-smtp-server';
import { silence, startWebhookReceiver, status, type WebhookReceiver } from './webhook-receiver';

let telemetry: RecordedTelemetry;
beforeAll(() => {
  telemetry = recordTelemetry();
});
afterAll(() => telemetry.stop());

/** A counter's values (a histogram's counts) by outcome. */
async function byOutcome(metric: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { attributes, value } of await telemetry.points(metric)) {
    const outcome = String(attributes['kantoor.notification.outcome']);
    counts[outcome] = (counts[outcome] ?? 0) + (typeof value === 'number' ? value : (value as Histogram).count);
  }
  return counts;
}

/** What `metric` counted by outcome since `before`, once it holds `expected` (or the time is up). */
async function countedSince(metric: string, before: Record<string, number>, expected: Record<string, number>) {
  const since = async () => {
    const now = await byOutcome(metric);
    return Object.fromEntries(
      Object.entries(now)
        .map(([outcome, count]) => [outcome, count - (before[outcome] ?? 0)])
        .filter(([, count]) => count !== 0),
    );
  };
  return eventually(since, (counted) => isDeepStrictEqual(counted, expected), 10_000);
}

/** The attributes of every data point of `metric`. */
const attributesOf = async (metric: string) => (await telemetry.points(metric)).map((point) => point.attributes);

/** The consumer's span that handled event `eventId`. */
const consumerSpanOf = (eventId: string) =>
  eventually(
    async () => telemetry.spans().find((span) => span.attributes['messaging.message.id'] === eventId),
    Boolean,
  ) as Promise<ReadableSpan>;

/** The `name` spans linked to `queuedBy`, once there are `count`, oldest first. */
const spansLinkedTo = (name: string, queuedBy: ReadableSpan, count: number) =>
  eventually(
    async () =>
      telemetry
        .spans()
        .filter((span) => span.name === name && span.links[0]?.context.spanId === queuedBy.spanContext().spanId),
    (spans) => spans.length >= count,
    10_000,
  );

/** documents.sent for every subscribed webhook of the firm. */
const sendDocuments = (h: Harness, firmId: string) =>
  deliverEvent(h.transport, 'document-intake', DocumentsSentSchema, {
    firmId,
    dossierId: randomUUID(),
    documentIds: ['d1'],
    actorId: 'portal-user-7',
    sentAt: timestampFromDate(new Date()),
  });

/** What a test reads of an attempt's span. */
const summary = (span: ReadableSpan, keys: string[]) => ({
  kind: span.kind,
  status: span.status.code,
  ...Object.fromEntries(keys.map((key) => [key, span.attributes[key]])),
});

describe('telemetry: every delivery attempt is counted, timed and traced, by what became of it', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  const servers: ScriptedSmtpServer[] = [];
  const firmId = randomUUID();

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    h = await startNotification();
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
    for (const server of servers) await server.stop();
  });

  const subscribe = async (path: string) =>
    (
      await h.client.createWebhook(
        { url: receiver.url(path), eventTypes: ['documents.sent'], description: '' },
        { caller: admin(firmId) },
      )
    ).webhook!.id;

  /** An invitation mail, through the platform's server or the firm's own at `port`. */
  const invite = async (port?: number) => {
    const firm = randomUUID();
    if (port) await useSmtpServer(h.client, firm, port);
    return inviteStaff(h.transport, firm);
  };

  test('webhooks: a 2xx counts as delivered, a 500 as a retry (then delivered), a 410 as failed', async () => {
    const attempts = await byOutcome('kantoor.notification.webhook.attempts');
    const durations = await byOutcome('kantoor.notification.webhook.attempt.duration');
    const webhookIds = [await subscribe('/ok'), await subscribe('/flaky'), await subscribe('/gone')];
    receiver.answer('/flaky', status(500));
    receiver.answer('/gone', status(410));
    const eventId = await sendDocuments(h, firmId);

    const expected = { delivered: 2, failed: 1, retry_scheduled: 1 };
    expect(await countedSince('kantoor.notification.webhook.attempts', attempts, expected)).toEqual(expected);
    expect(await countedSince('kantoor.notification.webhook.attempt.duration', durations, expected)).toEqual(expected);
    // labelled by outcome and event type only: no firm, webhook or URL
    for (const metric of ['kantoor.notification.webhook.attempts', 'kantoor.notification.webhook.attempt.duration'])
      for (const attributes of await attributesOf(metric))
        expect(Object.keys(attributes).sort()).toEqual(['kantoor.notification.outcome', 'kantoor.webhook.event_type']);

    // one CLIENT span per attempt, each a trace of its own linked to the consumer that queued the delivery
    const consumer = await consumerSpanOf(eventId);
    const spans = await spansLinkedTo('webhook deliver', consumer, 4);
    const answered = (code: number) => ({ kind: SpanKind.CLIENT, 'http.response.status_code': code });
    const keys = [
      'http.response.status_code',
      'kantoor.notification.outcome',
      'kantoor.notification.attempt',
      'error.type',
    ];
    expect(spans.map((span) => summary(span, keys))).toEqual(
      expect.arrayContaining([
        { ...answered(204), status: SpanStatusCode.UNSET, ...attempt('delivered', 1) },
        { ...answered(500), status: SpanStatusCode.ERROR, ...attempt('retry_scheduled', 1, '500') },
        { ...answered(204), status: SpanStatusCode.UNSET, ...attempt('delivered', 2) },
        { ...answered(410), status: SpanStatusCode.ERROR, ...attempt('failed', 1, '410') },
      ]),
    );
    for (const span of spans) {
      expect(span.attributes['kantoor.webhook.event_type']).toBe('documents.sent');
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.links[0].context.traceId).toBe(consumer.spanContext().traceId);
      const text = JSON.stringify(span.attributes);
      for (const personal of [firmId, '127.0.0.1', ...webhookIds]) expect(text).not.toContain(personal);
    }
  });

  test('mails: accepted counts as sent, a 451 as a retry (then sent), a 550 as failed', async () => {
    const attempts = await byOutcome('kantoor.notification.mail.attempts');
    const durations = await byOutcome('kantoor.notification.mail.attempt.duration');
    servers.push(await startScriptedSmtpServer(['451', 'accept']), await startScriptedSmtpServer(['550']));
    const toSink = await invite();
    const retried = await invite(servers[0].port);
    const refused = await invite(servers[1].port);

    const expected = { failed: 1, retry_scheduled: 1, sent: 2 };
    expect(await countedSince('kantoor.notification.mail.attempts', attempts, expected)).toEqual(expected);
    expect(await countedSince('kantoor.notification.mail.attempt.duration', durations, expected)).toEqual(expected);
    for (const metric of ['kantoor.notification.mail.attempts', 'kantoor.notification.mail.attempt.duration'])
      for (const attributes of await attributesOf(metric))
        expect(attributes).toEqual({
          'kantoor.notification.kind': 'staff_activation',
          'kantoor.notification.outcome': expect.any(String),
        });

    const keys = [
      'kantoor.notification.kind',
      'kantoor.notification.outcome',
      'kantoor.notification.attempt',
      'error.type',
    ];
    const mailSpans = async (eventId: string, count: number) =>
      (await spansLinkedTo('smtp send', await consumerSpanOf(eventId), count)).map((span) => summary(span, keys));
    const sent = {
      kind: SpanKind.CLIENT,
      status: SpanStatusCode.UNSET,
      'kantoor.notification.kind': 'staff_activation',
    };
    const error = { ...sent, status: SpanStatusCode.ERROR };
    expect(await mailSpans(toSink, 1)).toEqual([{ ...sent, ...attempt('sent', 1) }]);
    expect(await mailSpans(retried, 2)).toEqual([
      { ...error, ...attempt('retry_scheduled', 1, '451') },
      { ...sent, ...attempt('sent', 2) },
    ]);
    expect(await mailSpans(refused, 1)).toEqual([{ ...error, ...attempt('failed', 1, '550') }]);
    const text = JSON.stringify(
      telemetry
        .spans()
        .filter((span) => span.name === 'smtp send')
        .map((span) => span.attributes),
    );
    expect(text).not.toContain('firm.example');
  });
});

describe('telemetry: the deliveries waiting for an attempt, due now or scheduled for a retry', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  const firmId = randomUUID();

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    // one webhook attempt at a time, retries (mails and webhooks) an hour later
    h = await startNotification({
      settings: {
        NOTIFICATION_WEBHOOK_CONCURRENCY: 1,
        NOTIFICATION_WEBHOOK_TIMEOUT_MS: 1000,
        NOTIFICATION_WEBHOOK_RETRY_SCHEDULE: [3600],
        NOTIFICATION_RETRY_BASE_MS: 3_600_000,
        NOTIFICATION_RETRY_MAX_MS: 3_600_000,
      },
    });
  });
  afterAll(async () => {
    await h.stop();
    await receiver.stop();
  });

  /** The gauge's values by state, as a collection (a Prometheus scrape) reads them now. */
  const pending = async (channel: 'mail' | 'webhook') => {
    const points = await telemetry.points(`kantoor.notification.${channel}.pending`);
    const of = (state: string) =>
      points.find((point) => hasAttributes(point.attributes, { 'kantoor.notification.state': state }))?.value as number;
    return { due: of('due'), scheduled: of('scheduled') };
  };
  const same =
    <T>(expected: T) =>
    (found: T) =>
      isDeepStrictEqual(found, expected);

  test('webhook deliveries behind a receiver that does not answer are due, then scheduled for their retry', async () => {
    expect(await pending('webhook')).toEqual({ due: 0, scheduled: 0 });
    await h.client.createWebhook(
      { url: receiver.url('/slow'), eventTypes: ['documents.sent'], description: '' },
      { caller: admin(firmId) },
    );
    receiver.answer('/slow', silence, silence, silence);
    for (let event = 0; event < 3; event++) await sendDocuments(h, firmId);
    // the one slot holds the first delivery: the other two wait, due
    expect(await eventually(() => pending('webhook'), same({ due: 2, scheduled: 0 }))).toEqual({
      due: 2,
      scheduled: 0,
    });
    // each timed out in turn, to be tried again in an hour
    expect(await eventually(() => pending('webhook'), same({ due: 0, scheduled: 3 }), 10_000)).toEqual({
      due: 0,
      scheduled: 3,
    });
  });

  test('a mail whose SMTP server refused the connection waits for its retry', async () => {
    const firm = randomUUID();
    await useSmtpServer(h.client, firm, await refusingPort());
    await inviteStaff(h.transport, firm);
    expect(await eventually(() => pending('mail'), same({ due: 0, scheduled: 1 }))).toEqual({ due: 0, scheduled: 1 });
  });
});

/** The attributes of an attempt's span that tell what became of it. */
function attempt(outcome: string, number: number, errorType?: string) {
  return { 'kantoor.notification.outcome': outcome, 'kantoor.notification.attempt': number, 'error.type': errorType };
}
