-- invoicing: who changed what, when, and on whose behalf (spec 10: every change records its author).
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  firm_id uuid,
  dossier_id uuid,
  actor_kind text NOT NULL,
  actor_id text NOT NULL,
  on_behalf_of text,
  action text NOT NULL,
  subject_id text,
  details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_firm_time ON audit_log (firm_id, occurred_at DESC);
