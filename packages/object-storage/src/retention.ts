import { failedPrecondition, invalidArgument, notFound } from '@kantoor/errors';

/** What decides whether an object may change: its retain-until date and its legal hold. */
export interface RetentionState {
  key: string;
  retainUntil: Date | null;
  legalHold: boolean;
}

export function isRetained(state: RetentionState, now = new Date()): boolean {
  return state.legalHold || (state.retainUntil !== null && state.retainUntil.getTime() > now.getTime());
}

/** Write once: refuses to overwrite or delete an object before its retain-until date or under a legal hold. */
export function refuseIfRetained(state: RetentionState, action: 'overwritten' | 'deleted', now = new Date()): void {
  if (!isRetained(state, now)) return;
  const until = state.retainUntil ? state.retainUntil.toISOString() : null;
  const why = state.legalHold
    ? `it is under legal hold${until ? ` (retained until ${until})` : ''}`
    : `it is retained until ${until}`;
  throw failedPrecondition(`Object "${state.key}" cannot be ${action}: ${why}.`, { reason: 'object_retained' });
}

/** A new retain-until date must be a real date in the future (S3 Object Lock refuses others too). */
export function validateNewRetention(retainUntil: Date, now = new Date()): void {
  if (!(retainUntil instanceof Date) || !Number.isFinite(retainUntil.getTime())) {
    throw invalidArgument('The retain-until date is not a valid date.', { reason: 'invalid_retention' });
  }
  if (retainUntil.getTime() <= now.getTime()) {
    throw invalidArgument(`The retain-until date ${retainUntil.toISOString()} is not in the future.`, {
      reason: 'invalid_retention',
    });
  }
}

export function refuseShortening(state: RetentionState, retainUntil: Date, now = new Date()): void {
  const current = state.retainUntil;
  if (current && current.getTime() > now.getTime() && retainUntil.getTime() < current.getTime()) {
    throw failedPrecondition(
      `Object "${state.key}" is retained until ${current.toISOString()}; its retention can be extended but not shortened to ${retainUntil.toISOString()}.`,
      { reason: 'object_retained' },
    );
  }
}

export function objectNotFound(key: string) {
  return notFound(`Object "${key}" does not exist.`, { reason: 'object_not_found' });
}
