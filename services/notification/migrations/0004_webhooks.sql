-- Webhooks to partner applications (spec 08): a firm's subscriptions, each event's delivery to each of them, and
-- every attempt at it.

-- a subscription: the URL, the event types, and its signing secrets (sealed with NOTIFICATION_SECRET_KEY; a rotated
-- secret keeps signing beside the new one until previous_secret_expires_at)
CREATE TABLE webhook (
  id uuid PRIMARY KEY,
  firm_id uuid NOT NULL,
  url text NOT NULL,
  event_types text[] NOT NULL,
  description text NOT NULL DEFAULT '',
  enabled boolean NOT NULL DEFAULT true,
  -- why the platform disabled it (`gone`: the receiver answered 410); '' when enabled or disabled by a user
  disabled_reason text NOT NULL DEFAULT '',
  secret_sealed text NOT NULL,
  -- whsec_ and the first characters of the current secret, so that lists need not open secrets
  secret_hint text NOT NULL,
  previous_secret_sealed text,
  previous_secret_expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL,
  deleted_at timestamptz
);
-- ListWebhooks (oldest first) and the consumer's look-up of a firm's subscriptions
CREATE INDEX webhook_firm_list ON webhook (firm_id, created_at, id) WHERE deleted_at IS NULL;

-- one event to one subscription; the body is fixed when the event is queued, so every attempt sends the same bytes
CREATE TABLE webhook_delivery (
  id uuid PRIMARY KEY,
  webhook_id uuid NOT NULL REFERENCES webhook (id),
  firm_id uuid NOT NULL,
  event_id text NOT NULL,
  event_type text NOT NULL,
  dossier_id uuid,
  payload text NOT NULL,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'delivering', 'delivered', 'failed', 'cancelled')),
  attempts integer NOT NULL DEFAULT 0,
  -- attempts made before the current series (RetryWebhookDelivery starts a new one): the retry schedule counts
  -- from here
  series_start integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- while `delivering`: when the worker that claimed it is taken to have died, and it is sent again
  lease_until timestamptz,
  last_status_code integer,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  -- a redelivered event queues nothing twice
  UNIQUE (webhook_id, event_id)
);
-- the worker's pick: pending and due, or delivering with a lease that ran out
CREATE INDEX webhook_delivery_due ON webhook_delivery (status, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_delivery_leased ON webhook_delivery (lease_until) WHERE status = 'delivering';
-- ListWebhookDeliveries: newest first
CREATE INDEX webhook_delivery_list ON webhook_delivery (webhook_id, created_at DESC, id DESC);

-- the delivery log: one row per attempt
CREATE TABLE webhook_attempt (
  delivery_id uuid NOT NULL REFERENCES webhook_delivery (id),
  attempt integer NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('delivered', 'retry_scheduled', 'failed')),
  status_code integer,
  error text,
  response_excerpt text,
  duration_ms integer NOT NULL,
  started_at timestamptz NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
