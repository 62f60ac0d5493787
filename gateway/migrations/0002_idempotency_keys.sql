-- Responses to mutating requests sent with an Idempotency-Key, replayed when the same request comes again.
CREATE TABLE idempotency_keys (
  subject text NOT NULL,
  key text NOT NULL,
  -- NULL while a streamed upload is still being hashed
  request_hash text,
  status text NOT NULL CHECK (status IN ('in_progress', 'completed')),
  response_status integer,
  response_headers jsonb,
  response_body bytea,
  created_at timestamptz NOT NULL,
  completed_at timestamptz,
  PRIMARY KEY (subject, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
