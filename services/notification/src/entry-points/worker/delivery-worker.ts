/**
 * The sending loop. A mail moves queued → sending → sent (or back to queued with a later attempt time, or
 * failed). `sending` is written before the SMTP conversation and each mail's outcome right after its own
 * conversation ends, not at the end of its batch. A process that dies between the SMTP server's acceptance and
 * that record leaves the row `sending`: once its lease runs out (at once, on restart, in single-worker mode) it is
 * sent again with the same Message-ID and the log marks it as resent. A mail is never lost, and never sent
 * twice except in that window, which holds only the mails in flight at the moment of death (one per SMTP
 * connection at most); the receiving side can tell the copies apart by Message-ID.
 */
import { failedPrecondition } from '@kantoor/errors';
import type { Database } from '@kantoor/database';
import type { Logger } from '@kantoor/logging';
import type { DossierRecipients } from '../../adapters/dossier-recipients';
import type { MailSender, OutgoingMail, SmtpServer } from '../../adapters/smtp-transport';
import { composeMail, LOGO_CID } from '../../domain/compose-mail';
import { outcomeOfFailure, retryDelayMs, type DeliveryPolicy } from '../../domain/delivery-policy';
import type { SecretBox } from '../../domain/secret-box';
import { findFirmProfile, findSmtpSettings, type SmtpSettingsRow } from '../../data-access/firm-repository';
import {
  claimDueNotifications,
  recordAttempts,
  type AttemptRecord,
  releaseInterruptedSends,
  setResolvedRecipient,
  type ClaimedNotification,
} from '../../data-access/notification-repository';
import { countPendingDeliveries } from '../../data-access/pending-deliveries';
import { DeliveryTelemetry, type EndedAttempt } from './delivery-telemetry';
import { DueWorkLoop } from './due-work-loop';

export interface DefaultSmtp extends Omit<SmtpServer, 'key'> {
  senderAddress: string;
}

export interface DeliveryWorkerOptions {
  db: Database;
  logger: Logger;
  sender: MailSender;
  box: SecretBox;
  policy: DeliveryPolicy;
  publicUrl: string;
  batchSize: number;
  pollMs: number;
  leaseMs: number;
  /** PGlite: this is the only worker, so whatever is `sending` at start was interrupted */
  singleWorker: boolean;
  /** the platform's server for firms without their own (embedded: the local sink) */
  defaultSmtp?: DefaultSmtp;
  recipients?: DossierRecipients;
  /** tests: runs after the SMTP server accepted a mail and before it is recorded as sent */
  afterSmtpAccept?: (delivery: ClaimedNotification) => void | Promise<void>;
}

export class DeliveryWorker {
  private readonly loop: DueWorkLoop;
  private readonly telemetry: DeliveryTelemetry;

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.loop = new DueWorkLoop({
      logger: options.logger,
      pollMs: options.pollMs,
      takeDue: async () => ({ taken: await this.deliverDue(), room: options.batchSize }),
      failure: 'the delivery worker could not claim mails; trying again later',
    });
    this.telemetry = new DeliveryTelemetry('mail', () => countPendingDeliveries(options.db, 'mail'));
  }

  async start(): Promise<void> {
    if (this.options.singleWorker) {
      const interrupted = await releaseInterruptedSends(this.options.db);
      if (interrupted > 0) this.options.logger.warn({ interrupted }, 'mails interrupted while sending are sent again');
    }
    this.telemetry.start();
    this.loop.start();
  }

  /** New mails were queued: look now rather than at the next poll. */
  wake(): void {
    this.loop.wake();
  }

  async stop(): Promise<void> {
    this.telemetry.stop();
    await this.loop.stop();
  }

  /** One round: claims due mails and tries each once; the number tried. */
  async deliverDue(): Promise<number> {
    const claimed = await claimDueNotifications(this.options.db, this.options.batchSize, this.options.leaseMs);
    if (claimed.length === 0) return 0;
    const batch: Batch = { firms: new Map() };
    await Promise.all(
      claimed.map((delivery) =>
        this.telemetry.attempt('smtp send', delivery, { 'kantoor.notification.kind': delivery.kind }, () =>
          this.deliver(delivery, batch),
        ),
      ),
    );
    return claimed.length;
  }

  /** One attempt: prepared (cascade, rendering) and sent, then recorded; how it ended. */
  private async deliver(delivery: ClaimedNotification, batch: Batch): Promise<EndedAttempt> {
    const startedAt = new Date();
    const seconds = () => (Date.now() - startedAt.getTime()) / 1000;
    let mail: OutgoingMail;
    let server: SmtpServer;
    let response: string;
    let subject: string | undefined;
    try {
      const prepared = await this.prepare(delivery, batch);
      ({ mail, server } = prepared);
      subject = mail.subject;
      response = (await this.options.sender.send(server, mail)).response;
    } catch (error) {
      const record = this.failureRecord(delivery, error, startedAt, subject);
      const ended: EndedAttempt = {
        outcome: record.outcome,
        seconds: seconds(),
        spanAttributes: { 'error.type': errorTypeOf(error) },
      };
      await this.record(record);
      return ended;
    }
    const ended: EndedAttempt = { outcome: 'sent', seconds: seconds() };
    // The SMTP server has the mail now: record it at once, whatever the rest of the batch is doing, so that a
    // crash later in the batch cannot send it again. If the record fails, the row stays `sending` and the
    // mail goes out again with the same Message-ID when its lease runs out: a possible copy, never a lost mail.
    try {
      await this.options.afterSmtpAccept?.(delivery);
    } catch (error) {
      this.options.logger.error(
        { err: error, notificationId: delivery.id },
        'a sent mail could not be recorded; it will be sent again',
      );
      return ended;
    }
    await this.record({
      id: delivery.id,
      kind: delivery.kind,
      attempt: delivery.attempts,
      outcome: 'sent',
      startedAt,
      resent: delivery.interrupted,
      subject,
      smtpResponse: response,
    });
    return ended;
  }

  /** Ends one attempt: the mail's new state and its line in the delivery log. */
  private async record(record: AttemptOutcomeRecord): Promise<void> {
    try {
      await recordAttempts(this.options.db, [record]);
    } catch (error) {
      this.options.logger.error(
        { err: error, notificationId: record.id },
        'the attempt could not be recorded; the mail will be tried again',
      );
      return;
    }
    this.logOutcome(record);
  }

  private async prepare(
    delivery: ClaimedNotification,
    batch: Batch,
  ): Promise<{ mail: OutgoingMail; server: SmtpServer }> {
    const { db, box } = this.options;
    if (!delivery.recipient) {
      if (!this.options.recipients || !delivery.dossier_id) {
        throw failedPrecondition('the communication cascade cannot be asked: no directory address configured', {
          reason: 'cascade_unavailable',
        });
      }
      const found = await this.options.recipients.resolve(delivery.firm_id, delivery.dossier_id);
      if (!found.email)
        throw Object.assign(new Error('the cascade found no address for the dossier'), { permanent: true });
      await setResolvedRecipient(db, delivery.id, found.email, found.source);
      delivery.recipient = found.email;
    }
    // a batch usually holds many mails of few firms: their profile and server are read once per batch
    let firmSetup = batch.firms.get(delivery.firm_id);
    if (!firmSetup) {
      firmSetup = (async () => {
        const [profile, own] = await Promise.all([
          findFirmProfile(db, delivery.firm_id),
          findSmtpSettings(db, delivery.firm_id),
        ]);
        return { profile, ...this.serverFor(delivery.firm_id, profile?.name ?? '', own) };
      })();
      batch.firms.set(delivery.firm_id, firmSetup);
    }
    const { profile: firm, server, from } = await firmSetup;
    const firmName = firm?.name ?? '';
    const rendered = composeMail(
      { kind: delivery.kind, language: delivery.language, data: delivery.data, sealedData: delivery.sealed_data },
      { box, publicUrl: this.options.publicUrl, firmName, hasLogo: Boolean(firm?.logo) },
    );
    const replyTo =
      typeof delivery.data.replyTo === 'string' && delivery.data.replyTo ? delivery.data.replyTo : undefined;
    return {
      server,
      mail: {
        from,
        to: delivery.recipient,
        replyTo,
        ...rendered,
        messageId: delivery.message_id,
        headers: {
          'X-Kantoor-Firm': delivery.firm_id,
          'X-Kantoor-Kind': delivery.kind,
          'X-Kantoor-Notification': delivery.id,
          // RFC 3834: out-of-office replies must not answer a machine
          'Auto-Submitted': 'auto-generated',
        },
        inline: firm?.logo
          ? [
              {
                cid: LOGO_CID,
                content: Buffer.from(firm.logo),
                contentType: firm.logo_content_type ?? 'image/png',
                filename: 'logo',
              },
            ]
          : undefined,
      },
    };
  }

  private serverFor(
    firmId: string,
    firmName: string,
    own: SmtpSettingsRow | null,
  ): { server: SmtpServer; from: OutgoingMail['from'] } {
    if (own) {
      return {
        server: {
          host: own.host,
          port: own.port,
          tls: own.tls,
          username: own.username || undefined,
          password: own.sealed_password ? this.options.box.open(own.sealed_password) : undefined,
          key: `${firmId}:${own.updated_at.getTime()}`,
        },
        from: { name: own.sender_name || firmName || 'Kantoor', address: own.sender_address },
      };
    }
    const fallback = this.options.defaultSmtp;
    if (!fallback) {
      throw failedPrecondition('the firm has no SMTP server and the platform has no default one', {
        reason: 'smtp_not_configured',
      });
    }
    return {
      server: { ...fallback, key: 'default' },
      from: { name: firmName || 'Kantoor', address: fallback.senderAddress },
    };
  }

  private failureRecord(
    delivery: ClaimedNotification,
    error: unknown,
    startedAt: Date,
    subject?: string,
  ): AttemptOutcomeRecord {
    const { policy } = this.options;
    const outcome = outcomeOfFailure(error, delivery.attempts, policy);
    const smtpResponse = (error as { response?: unknown }).response;
    return {
      id: delivery.id,
      kind: delivery.kind,
      attempt: delivery.attempts,
      outcome,
      startedAt,
      resent: delivery.interrupted,
      subject,
      smtpResponse: typeof smtpResponse === 'string' ? smtpResponse : undefined,
      error: error instanceof Error ? error.message : String(error),
      nextAttemptAt:
        outcome === 'retry_scheduled' ? new Date(Date.now() + retryDelayMs(delivery.attempts, policy)) : undefined,
    };
  }

  private logOutcome(record: AttemptOutcomeRecord): void {
    const fields = { notificationId: record.id, kind: record.kind, attempt: record.attempt, resent: record.resent };
    if (record.outcome === 'sent') this.options.logger.info(fields, 'mail sent');
    else if (record.outcome === 'failed')
      this.options.logger.error({ ...fields, error: record.error }, 'mail failed for good');
    else
      this.options.logger.warn(
        { ...fields, error: record.error, nextAttemptAt: record.nextAttemptAt },
        'mail not sent; tried again later',
      );
  }
}

type AttemptOutcomeRecord = AttemptRecord & { id: string; kind: string };

/**
 * A failed attempt's class, for its span: the SMTP server's reply code, else the error's code (nodemailer's
 * ECONNECTION, ETIMEDOUT, …) or reason (`smtp_not_configured`). Never the message: an SMTP answer may quote the
 * recipient's address.
 */
function errorTypeOf(error: unknown): string {
  const { responseCode, code, reason } = error as { responseCode?: unknown; code?: unknown; reason?: unknown };
  if (typeof responseCode === 'number') return String(responseCode);
  if (typeof code === 'string') return code;
  return typeof reason === 'string' ? reason : '_OTHER';
}

interface Batch {
  firms: Map<
    string,
    Promise<{ profile: Awaited<ReturnType<typeof findFirmProfile>>; server: SmtpServer; from: OutgoingMail['from'] }>
  >;
}
