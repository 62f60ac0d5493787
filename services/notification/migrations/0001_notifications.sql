-- notification: what is to be sent, keyed by the event that asked for it (at most one mail per event)
CREATE TABLE notification (
  id uuid PRIMARY KEY,
  event_id text NOT NULL,
  kind text NOT NULL,
  firm_id uuid NOT NULL,
  dossier_id uuid,
  recipient text NOT NULL,
  language text NOT NULL,
  data jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, kind, recipient)
);
CREATE INDEX notification_firm_time ON notification (firm_id, created_at DESC);
