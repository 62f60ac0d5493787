-- archive: backup files (spec 03 "every backup file (05), with its own retention"). A backup file belongs to a
-- firm, not to a dossier or a mailbox, and keeps the retain-until date the backup service gives, not the firm's
-- document policy. They get tables of their own rather than nullable dossier columns in archive_object: every
-- dossier search, ZIP, manifest, dossier hold and dossier purge record reads archive_object by dossier, and
-- with dossier_id NOT NULL there it can never meet a backup file, without a filter each query must remember.
-- Verification runs (verification_run, verification_run_firm) are shared: a run checks both kinds.
CREATE TABLE backup_file (
  id bigserial PRIMARY KEY,
  firm_id uuid NOT NULL,
  -- the service whose store the file was copied from (backup) and its key there: with the firm, what makes a
  -- repeated hand-over the same file
  source text NOT NULL,
  source_key text NOT NULL,
  -- the key in the write-once store
  key text NOT NULL UNIQUE,
  account_id text NOT NULL DEFAULT '',
  -- daily, monthly, manual ...
  kind text NOT NULL,
  backup_date date NOT NULL,
  file_name text NOT NULL,
  sha256 text NOT NULL,
  size bigint NOT NULL,
  content_type text NOT NULL,
  retain_until timestamptz NOT NULL,
  legal_hold boolean NOT NULL DEFAULT false,
  archived_by text NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now(),
  purged_at timestamptz,
  UNIQUE (firm_id, source, source_key)
);
-- the listing orders by backup date, newest first, per firm; the cursor is (backup_date, id)
CREATE INDEX backup_file_firm_newest ON backup_file (firm_id, backup_date DESC, id DESC);
CREATE INDEX backup_file_purgeable ON backup_file (retain_until) WHERE purged_at IS NULL;

CREATE TABLE backup_file_verification_finding (
  run_id bigint NOT NULL REFERENCES verification_run (id),
  backup_file_id bigint NOT NULL REFERENCES backup_file (id),
  problem text NOT NULL CHECK (problem IN ('mismatch', 'missing')),
  actual_sha256 text,
  PRIMARY KEY (run_id, backup_file_id)
);

-- kept for ever, like purge_record: which backup file was purged, when, and which rule allowed it
CREATE TABLE backup_file_purge_record (
  backup_file_id bigint PRIMARY KEY REFERENCES backup_file (id),
  firm_id uuid NOT NULL,
  key text NOT NULL,
  file_name text NOT NULL,
  sha256 text NOT NULL,
  retain_until timestamptz NOT NULL,
  purged_at timestamptz NOT NULL DEFAULT now(),
  rule text NOT NULL
);
CREATE INDEX backup_file_purge_record_firm ON backup_file_purge_record (firm_id, purged_at DESC);
