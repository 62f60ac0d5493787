/**
 * What the mail and webhook workers show SREs (README: Telemetry): per channel a counter and a histogram of attempts
 * by outcome, a gauge of what waits to be sent, and a CLIENT span per attempt. Attributes are few-valued and never
 * personal: no firm, webhook or delivery ids, no addresses, URLs or error texts (an SMTP answer may quote the
 * recipient's address). The attempt's log lines are written in its span, so their trace id leads from one to the other.
 */
import {
  isSpanContextValid,
  metrics,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Counter,
  type Histogram,
  type ObservableCallback,
  type ObservableGauge,
} from '@opentelemetry/api';
import { extractTraceContext } from '@kantoor/events';
import type { DeliveryChannel, PendingCount } from '../../data-access/pending-deliveries';

/** How an attempt ended, as the worker tells it. */
export interface EndedAttempt {
  outcome: 'sent' | 'delivered' | 'retry_scheduled' | 'failed';
  /** the attempt until the server answered (not its record afterwards) */
  seconds: number;
  /** for the span only: what the exchange answered */
  spanAttributes?: Attributes;
}

/** From a receiver on the same machine to the webhook (10 s) and SMTP (30 s) timeouts. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class DeliveryTelemetry {
  private readonly tracer = trace.getTracer('@kantoor/notification');
  private readonly attempts: Counter;
  private readonly duration: Histogram;
  private readonly pending: ObservableGauge;
  private readonly observePending: ObservableCallback;

  /** `countPending` runs at each collection (a Prometheus scrape), so it must be cheap. */
  constructor(channel: DeliveryChannel, countPending: () => Promise<PendingCount>) {
    const meter = metrics.getMeter('@kantoor/notification');
    const what = channel === 'mail' ? 'mails' : 'webhook deliveries';
    this.attempts = meter.createCounter(`kantoor.notification.${channel}.attempts`, {
      unit: '{attempt}',
      description: `Attempts to send ${what}, by outcome`,
    });
    this.duration = meter.createHistogram(`kantoor.notification.${channel}.attempt.duration`, {
      unit: 's',
      description: `Duration of attempts to send ${what}, by outcome`,
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.pending = meter.createObservableGauge(`kantoor.notification.${channel}.pending`, {
      unit: channel === 'mail' ? '{mail}' : '{delivery}',
      description: `${what} waiting for an attempt: due now, or scheduled for a retry`,
    });
    this.observePending = async (result) => {
      const { due, scheduled } = await countPending();
      result.observe(due, { 'kantoor.notification.state': 'due' });
      result.observe(scheduled, { 'kantoor.notification.state': 'scheduled' });
    };
  }

  /** Counts what waits at each collection, until `stop()`. */
  start(): void {
    this.pending.addCallback(this.observePending);
  }

  stop(): void {
    this.pending.removeCallback(this.observePending);
  }

  /**
   * Runs one attempt (sending, recording, logging) in a span of a trace of its own, linked to the trace that queued
   * the delivery (retries come minutes or hours later: in the event's trace they would read as one very slow
   * request), then counts it. `attributes` label the metrics and the span.
   */
  attempt(
    name: string,
    delivery: { attempts: number; traceparent: string | null },
    attributes: Attributes,
    run: () => Promise<EndedAttempt>,
  ): Promise<void> {
    const queuedBy = delivery.traceparent
      ? trace.getSpanContext(extractTraceContext({ traceparent: delivery.traceparent }, ROOT_CONTEXT))
      : undefined;
    const options = {
      kind: SpanKind.CLIENT,
      attributes: { ...attributes, 'kantoor.notification.attempt': delivery.attempts },
      links: queuedBy && isSpanContextValid(queuedBy) ? [{ context: queuedBy }] : [],
    };
    return this.tracer.startActiveSpan(name, options, ROOT_CONTEXT, async (span) => {
      try {
        const { outcome, seconds, spanAttributes } = await run();
        const labels = { ...attributes, 'kantoor.notification.outcome': outcome };
        span.setAttributes({ ...spanAttributes, 'kantoor.notification.outcome': outcome });
        if (outcome !== 'sent' && outcome !== 'delivered') span.setStatus({ code: SpanStatusCode.ERROR });
        this.attempts.add(1, labels);
        this.duration.record(seconds, labels);
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
  }
}
