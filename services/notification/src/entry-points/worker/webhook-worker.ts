/**
 * The webhook sending loop. A delivery moves pending → delivering (with a lease) → delivered, back to pending with a
 * later attempt time, failed or cancelled. Each attempt is recorded right after its own HTTP exchange. A process
 * that dies between the receiver's answer and that record leaves the delivery `delivering`: once the lease runs out
 * (at once on restart, in single-worker mode) it is sent again with the same `webhook-id`, which receivers dedupe on
 * (at least once). Up to `concurrency` attempts run at once; a slow receiver holds one slot, not the others.
 */
import type { Database } from '@kantoor/database';
import type { Logger } from '@kantoor/logging';
import type { WebhookAnswer, WebhookPoster } from '../../adapters/webhook-http';
import type { SecretBox } from '../../domain/secret-box';
import { webhookAttemptVerdict } from '../../domain/webhook-delivery-policy';
import { signatureHeaders } from '../../domain/webhook-signature';
import {
  claimDueWebhookDeliveries,
  recordWebhookAttempt,
  releaseInterruptedWebhookDeliveries,
  type ClaimedWebhookDelivery,
  type WebhookAttemptRecord,
} from '../../data-access/webhook-delivery-repository';
import { countPendingDeliveries } from '../../data-access/pending-deliveries';
import { DeliveryTelemetry, type EndedAttempt } from './delivery-telemetry';
import { DueWorkLoop } from './due-work-loop';

export interface WebhookWorkerOptions {
  db: Database;
  logger: Logger;
  box: SecretBox;
  post: WebhookPoster;
  /** the pauses (seconds) after the 1st, 2nd, … failed attempt of a series; then the delivery fails */
  retryScheduleSeconds: readonly number[];
  concurrency: number;
  pollMs: number;
  leaseMs: number;
  /** PGlite: this is the only worker, so whatever is `delivering` at start was interrupted */
  singleWorker: boolean;
  /** tests: runs after the receiver answered and before the attempt is recorded */
  afterAnswer?: (delivery: ClaimedWebhookDelivery) => void | Promise<void>;
}

const USER_AGENT = 'Kantoor-Webhooks/1';

export class WebhookWorker {
  private readonly loop: DueWorkLoop;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly telemetry: DeliveryTelemetry;

  constructor(private readonly options: WebhookWorkerOptions) {
    this.loop = new DueWorkLoop({
      logger: options.logger,
      pollMs: options.pollMs,
      takeDue: () => this.deliverDue(),
      failure: 'the webhook worker could not claim deliveries; trying again later',
    });
    this.telemetry = new DeliveryTelemetry('webhook', () => countPendingDeliveries(options.db, 'webhook'));
  }

  async start(): Promise<void> {
    if (this.options.singleWorker) {
      const interrupted = await releaseInterruptedWebhookDeliveries(this.options.db);
      if (interrupted > 0)
        this.options.logger.warn({ interrupted }, 'webhook deliveries interrupted while sending are sent again');
    }
    this.telemetry.start();
    this.loop.start();
  }

  /** Deliveries were queued: look now rather than at the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /** Claims nothing more and waits for the attempts in flight (each ends within the timeout). */
  async stop(): Promise<void> {
    this.telemetry.stop();
    await this.loop.stop();
    await Promise.all(this.inFlight);
  }

  /** Claims as many due deliveries as there are free slots and starts their attempts. */
  async deliverDue(): Promise<{ taken: number; room: number }> {
    const room = this.options.concurrency - this.inFlight.size;
    if (room <= 0) return { taken: 0, room: 0 };
    const claimed = await claimDueWebhookDeliveries(this.options.db, room, this.options.leaseMs);
    for (const delivery of claimed) {
      const attempt: Promise<void> = this.telemetry
        .attempt('webhook deliver', delivery, { 'kantoor.webhook.event_type': delivery.event_type }, () =>
          this.attempt(delivery),
        )
        .catch((error) =>
          this.options.logger.error({ err: error, deliveryId: delivery.id }, 'a webhook attempt failed'),
        )
        .finally(() => {
          this.inFlight.delete(attempt);
          this.loop.wake();
        });
      this.inFlight.add(attempt);
    }
    return { taken: claimed.length, room };
  }

  private async attempt(delivery: ClaimedWebhookDelivery): Promise<EndedAttempt> {
    const startedAt = new Date();
    const answer = await this.send(delivery, startedAt);
    const verdict = webhookAttemptVerdict(
      answer.statusCode,
      delivery.attempts - delivery.series_start,
      this.options.retryScheduleSeconds,
    );
    const record: WebhookAttemptRecord = {
      deliveryId: delivery.id,
      webhookId: delivery.webhook_id,
      attempt: delivery.attempts,
      ...verdict,
      statusCode: answer.statusCode,
      error:
        answer.error ?? (verdict.outcome === 'delivered' ? undefined : `the receiver answered ${answer.statusCode}`),
      responseExcerpt: answer.responseExcerpt,
      durationMs: answer.durationMs,
      startedAt,
    };
    const ended: EndedAttempt = {
      outcome: record.outcome,
      seconds: answer.durationMs / 1000,
      spanAttributes: {
        'http.request.method': 'POST',
        'http.response.status_code': answer.statusCode,
        'error.type': record.outcome === 'delivered' ? undefined : String(answer.statusCode ?? '_OTHER'),
      },
    };
    // The receiver has it now: record it at once. If that fails, the delivery stays `delivering` and goes out
    // again with the same webhook-id when its lease runs out: a possible copy, never a lost event.
    try {
      await this.options.afterAnswer?.(delivery);
      await recordWebhookAttempt(this.options.db, record);
    } catch (error) {
      this.options.logger.error(
        { err: error, deliveryId: delivery.id },
        'a webhook attempt could not be recorded; it will be sent again',
      );
      return ended;
    }
    this.logOutcome(delivery, record);
    return ended;
  }

  /** One signed POST; secrets that cannot be opened end the attempt like a failed connection. */
  private async send(delivery: ClaimedWebhookDelivery, startedAt: Date): Promise<WebhookAnswer> {
    const { box } = this.options;
    try {
      const secrets = [delivery.secret_sealed, delivery.previous_secret_sealed]
        .filter((sealed): sealed is string => Boolean(sealed))
        .map((sealed) => box.open(sealed));
      return await this.options.post({
        url: delivery.url,
        body: delivery.payload,
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          ...signatureHeaders({ deliveryId: delivery.id, timestamp: startedAt, body: delivery.payload }, secrets),
        },
      });
    } catch (error) {
      return {
        error: error instanceof Error ? error.message : String(error),
        durationMs: Date.now() - startedAt.getTime(),
      };
    }
  }

  /** Never the URL (it may carry a token of the partner's), the body or the secrets. */
  private logOutcome(delivery: ClaimedWebhookDelivery, record: WebhookAttemptRecord): void {
    const fields = {
      deliveryId: delivery.id,
      webhookId: delivery.webhook_id,
      eventType: delivery.event_type,
      attempt: record.attempt,
      statusCode: record.statusCode,
      resent: delivery.interrupted,
    };
    if (record.outcome === 'delivered') this.options.logger.info(fields, 'webhook delivered');
    else if (record.outcome === 'failed')
      this.options.logger.error(
        { ...fields, error: record.error, disabled: record.disable },
        'webhook delivery failed for good',
      );
    else
      this.options.logger.warn(
        { ...fields, error: record.error, retryInMs: record.retryInMs },
        'webhook not delivered; tried again later',
      );
  }
}
