/** When to try a mail again, and when to give up. */
export interface DeliveryPolicy {
  /** attempts before a mail is failed for good */
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** Exponential back-off with a little jitter, so that mails refused together are not retried together. */
export function retryDelayMs(attempt: number, policy: DeliveryPolicy, random = Math.random): number {
  const exponential = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (0.9 + 0.2 * random()));
}

/**
 * A 5xx answer is the server saying "never" (unknown mailbox, refused sender, message too big); anything
 * else (4xx, timeouts, dropped or refused connections) may pass later.
 */
export function isPermanentFailure(error: unknown): boolean {
  // the directory says the dossier or its data is gone or wrong: asking again will not change that
  const kind = (error as { kind?: unknown }).kind;
  if (kind === 'not_found' || kind === 'invalid_argument') return true;
  const code = (error as { responseCode?: unknown }).responseCode;
  if (typeof code === 'number') return code >= 500 && code < 600;
  return (error as { permanent?: unknown }).permanent === true;
}

export type AttemptOutcome = 'sent' | 'retry_scheduled' | 'failed';

export function outcomeOfFailure(
  error: unknown,
  attempt: number,
  policy: DeliveryPolicy,
): Exclude<AttemptOutcome, 'sent'> {
  return isPermanentFailure(error) || attempt >= policy.maxAttempts ? 'failed' : 'retry_scheduled';
}
