import type { Queryable } from '@kantoor/database';

export type DeliveryChannel = 'mail' | 'webhook';

/** Deliveries waiting for an attempt: due now, or scheduled for a retry later. */
export interface PendingCount {
  due: number;
  scheduled: number;
}

/** Each channel's waiting rows, which a partial index holds apart from everything ever sent. */
const WAITING: Record<DeliveryChannel, string> = {
  // notification_due
  mail: `notification WHERE status = 'queued'`,
  // webhook_delivery_due
  webhook: `webhook_delivery WHERE status = 'pending'`,
};

/**
 * What waits to be sent, counted at each metrics collection (a Prometheus scrape): it reads the partial index of the
 * waiting rows only, so it costs the backlog, not the whole table.
 */
export async function countPendingDeliveries(db: Queryable, channel: DeliveryChannel): Promise<PendingCount> {
  const { rows } = await db.query<PendingCount>(
    `SELECT count(*) FILTER (WHERE next_attempt_at <= now())::int AS due,
            count(*) FILTER (WHERE next_attempt_at > now())::int AS scheduled
       FROM ${WAITING[channel]}`,
  );
  return rows[0];
}
