-- Token buckets of the per-user and per-API-key rate limits, shared by the gateway replicas (RATE_LIMIT_SHARED):
-- a replica leases a few tokens at a time. `granted` is what the last lease took; rows whose bucket is full again
-- (full_at passed) are deleted now and then, as a full bucket is what a missing row means.
CREATE TABLE rate_limit_bucket (
  key text PRIMARY KEY,
  tokens double precision NOT NULL,
  granted double precision NOT NULL,
  updated_at timestamptz NOT NULL,
  full_at timestamptz NOT NULL
);
CREATE INDEX rate_limit_bucket_full ON rate_limit_bucket (full_at);
