import { randomUUID } from 'node:crypto';
import { eventually } from '@kantoor/testing';
import { admin, inviteStaff, settle, startNotification, useSmtpServer, type Harness } from './notification-harness';
import { messageIdOf, refusingPort, startScriptedSmtpServer, type ScriptedSmtpServer } from './scripted-smtp-server';

describe('notification: a failing SMTP server leads to retries and a failed state, never a lost or doubled mail', () => {
  let h: Harness;
  const servers: ScriptedSmtpServer[] = [];
  beforeAll(async () => {
    h = await startNotification({ settings: { NOTIFICATION_MAX_ATTEMPTS: 3, NOTIFICATION_SMTP_TIMEOUT_MS: 300 } });
  });
  afterAll(async () => {
    await h.stop();
    for (const server of servers) await server.stop();
  });

  /** A firm whose own SMTP server is at `port`, and one invitation mail for it; the delivery once it settled. */
  async function mailThrough(port: number) {
    const firmId = randomUUID();
    await useSmtpServer(h.client, firmId, port);
    const eventId = await inviteStaff(h.transport, firmId);
    const settled = await eventually(
      async () =>
        (await h.client.listDeliveries({}, { caller: admin(firmId) })).deliveries.find((d) => d.eventId === eventId),
      (delivery) => delivery?.status === 'sent' || delivery?.status === 'failed',
      10_000,
    );
    const { attempts } = await h.client.getDelivery({ deliveryId: settled!.id }, { caller: admin(firmId) });
    return { delivery: settled!, attempts };
  }

  test('a refused connection is retried with back-off, then the mail is failed', async () => {
    const { delivery, attempts } = await mailThrough(await refusingPort());
    expect(delivery).toMatchObject({ status: 'failed', attempts: 3 });
    expect(delivery.lastError).toMatch(/ECONNREFUSED/);
    expect(attempts.map((a) => a.outcome)).toEqual(['retry_scheduled', 'retry_scheduled', 'failed']);
    const starts = attempts.map((a) => Number(a.startedAt!.seconds) * 1000 + a.startedAt!.nanos / 1e6);
    expect(starts[2] - starts[1]).toBeGreaterThanOrEqual(15);
  });

  test('a dropped connection and a 451 are retried until the server accepts: exactly one mail, one Message-ID', async () => {
    const server = await startScriptedSmtpServer(['drop', '451', 'accept']);
    servers.push(server);
    const { delivery, attempts } = await mailThrough(server.port);
    expect(delivery).toMatchObject({ status: 'sent', attempts: 3, smtpResponse: '250 2.0.0 accepted', resent: false });
    expect(attempts.map((a) => a.outcome)).toEqual(['retry_scheduled', 'retry_scheduled', 'sent']);
    expect(attempts[1].smtpResponse).toBe('451 4.3.0 try again later');
    await settle(100);
    expect(server.accepted()).toHaveLength(1);
    expect(server.transmitted.map((mail) => messageIdOf(mail.raw))).toEqual([
      delivery.messageId,
      delivery.messageId,
      delivery.messageId,
    ]);
  });

  test('a server too slow to answer times out; after the last attempt the mail is failed and nothing arrived', async () => {
    const server = await startScriptedSmtpServer(['accept'], { greetingDelayMs: 5000 });
    servers.push(server);
    const { delivery, attempts } = await mailThrough(server.port);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 3 });
    // nodemailer names it by the step that took too long: the greeting or the socket
    expect(delivery.lastError).toMatch(/timeout|greeting never received/i);
    expect(attempts).toHaveLength(3);
    expect(server.transmitted).toEqual([]);
  });

  test('a permanent refusal (550) fails the mail at once, with the server answer in the log', async () => {
    const server = await startScriptedSmtpServer(['550']);
    servers.push(server);
    const { delivery, attempts } = await mailThrough(server.port);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 1 });
    expect(attempts).toEqual([
      expect.objectContaining({ outcome: 'failed', smtpResponse: '550 5.1.1 mailbox unavailable' }),
    ]);
  });
});
