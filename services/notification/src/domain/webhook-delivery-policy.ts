/** What an attempt's answer makes of a webhook delivery, and when it is tried again. */
export type WebhookAttemptOutcome = 'delivered' | 'retry_scheduled' | 'failed';

export interface WebhookAttemptVerdict {
  outcome: WebhookAttemptOutcome;
  /** retry_scheduled: the pause before the next attempt */
  retryInMs?: number;
  /** the receiver said the endpoint is gone for good (410): the webhook is disabled */
  disable?: 'gone';
}

/**
 * 2xx: delivered. 410 Gone: failed, and the webhook disabled. Anything else (another status, a redirect, which is
 * not followed, no answer in time, no connection, a refused address): tried again after the schedule's next pause
 * (`schedule[n - 1]` seconds after the n-th attempt of the series), failed once the schedule is used up.
 */
export function webhookAttemptVerdict(
  statusCode: number | undefined,
  attemptInSeries: number,
  scheduleSeconds: readonly number[],
): WebhookAttemptVerdict {
  if (statusCode !== undefined && statusCode >= 200 && statusCode < 300) return { outcome: 'delivered' };
  if (statusCode === 410) return { outcome: 'failed', disable: 'gone' };
  const pause = scheduleSeconds[attemptInSeries - 1];
  return pause === undefined
    ? { outcome: 'failed' }
    : { outcome: 'retry_scheduled', retryInMs: Math.round(pause * 1000) };
}
