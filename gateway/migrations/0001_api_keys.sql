-- API keys of partner applications. Only the SHA-256 of the secret is kept; the prefix finds the row.
CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  firm_id text NOT NULL,
  name text NOT NULL,
  prefix text NOT NULL UNIQUE,
  hash text NOT NULL,
  scopes text[] NOT NULL DEFAULT '{}',
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_by_firm ON api_keys (firm_id, created_at);
