import type { Migration } from '@kantoor/database';

/**
 * The tables of the outbox pattern, the same in every service's own database. A service's first migration
 * contains this text (or its migration list starts with `migrations()`); IF NOT EXISTS makes both harmless
 * together.
 *
 * - `outbox`: events written in the same transaction as the change they describe; the relay publishes them
 *   in `position` order (not `created_at`: `now()` is the same for every row of a transaction) and marks them
 *   published; published rows are pruned after a retention.
 * - `inbox`: one row per (consumer group, event) handled; committed together with the handler's effect, so a
 *   redelivered event finds its row and has no second effect.
 * - `dead_letter`: events whose handler kept failing, with the envelope to replay them.
 */
export const eventsSchemaSql = `
CREATE TABLE IF NOT EXISTS outbox (
  id uuid PRIMARY KEY,
  position bigint GENERATED ALWAYS AS IDENTITY,
  topic text NOT NULL,
  key text NOT NULL,
  type text NOT NULL,
  payload bytea NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (position) WHERE published_at IS NULL;

CREATE TABLE IF NOT EXISTS inbox (
  consumer_group text NOT NULL,
  event_id text NOT NULL,
  handled_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, event_id)
);

CREATE TABLE IF NOT EXISTS dead_letter (
  id uuid PRIMARY KEY,
  consumer_group text NOT NULL,
  event_id text NOT NULL,
  type text NOT NULL,
  topic text NOT NULL,
  key text NOT NULL,
  envelope bytea NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}',
  error text NOT NULL,
  attempts integer NOT NULL,
  failed_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS dead_letter_unresolved ON dead_letter (consumer_group, event_id) WHERE resolved_at IS NULL;
`;

/** The events tables as the first migration of a service: `migrate(db, [...migrations(), ...own])`. */
export function migrations(): Migration[] {
  return [{ version: '0000_events', sql: eventsSchemaSql }];
}
