-- archive: documents, their write-once objects, retention policies, legal holds, verification and purge records.
CREATE TABLE archive_document (
  firm_id uuid NOT NULL,
  dossier_id uuid NOT NULL,
  -- the issuing service: document-intake, invoicing ...
  source text NOT NULL,
  document_id text NOT NULL,
  mailbox text NOT NULL,
  name text NOT NULL,
  channel text NOT NULL,
  -- pdf or ubl: the folder kind of the ZIP layout
  kind text NOT NULL,
  document_date date NOT NULL,
  uploaded_at timestamptz NOT NULL,
  deleted_at timestamptz,
  deleted_by text,
  source_document_ids text[] NOT NULL DEFAULT '{}',
  replaced_by text[] NOT NULL DEFAULT '{}',
  archived_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, document_id)
);
-- the search orders by upload, newest first, per dossier; the cursor is (uploaded_at, source, document_id)
CREATE INDEX archive_document_dossier_uploaded ON archive_document (dossier_id, uploaded_at DESC, source DESC, document_id DESC);
CREATE INDEX archive_document_dossier_date ON archive_document (dossier_id, document_date, uploaded_at DESC);
CREATE INDEX archive_document_dossier_mailbox ON archive_document (dossier_id, mailbox, uploaded_at DESC);

CREATE TABLE archive_object (
  id bigserial PRIMARY KEY,
  source text NOT NULL,
  document_id text NOT NULL,
  firm_id uuid NOT NULL,
  dossier_id uuid NOT NULL,
  -- original, pdf, page-N, invoice-pdf, e-invoice ...
  role text NOT NULL,
  key text NOT NULL UNIQUE,
  source_key text NOT NULL,
  sha256 text NOT NULL,
  size bigint NOT NULL,
  content_type text NOT NULL,
  retain_until timestamptz NOT NULL,
  retention_rule text NOT NULL,
  legal_hold boolean NOT NULL DEFAULT false,
  ingested_at timestamptz NOT NULL DEFAULT now(),
  purged_at timestamptz,
  UNIQUE (source, document_id, role),
  FOREIGN KEY (source, document_id) REFERENCES archive_document (source, document_id)
);
CREATE INDEX archive_object_dossier ON archive_object (dossier_id, id);
CREATE INDEX archive_object_purgeable ON archive_object (retain_until) WHERE purged_at IS NULL;

CREATE TABLE retention_policy (
  firm_id uuid PRIMARY KEY,
  years integer NOT NULL CHECK (years BETWEEN 1 AND 100),
  counting text NOT NULL CHECK (counting IN ('end_of_year', 'document_date')),
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dossier_legal_hold (
  dossier_id uuid PRIMARY KEY,
  firm_id uuid NOT NULL,
  reason text NOT NULL,
  set_by text NOT NULL,
  set_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE verification_run (
  id bigserial PRIMARY KEY,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  sample integer NOT NULL,
  checked integer NOT NULL DEFAULT 0
);
CREATE TABLE verification_finding (
  run_id bigint NOT NULL REFERENCES verification_run (id),
  object_id bigint NOT NULL REFERENCES archive_object (id),
  problem text NOT NULL CHECK (problem IN ('mismatch', 'missing')),
  actual_sha256 text,
  PRIMARY KEY (run_id, object_id)
);

-- kept for ever: what was purged, when, and which rule allowed it
CREATE TABLE purge_record (
  object_id bigint PRIMARY KEY REFERENCES archive_object (id),
  firm_id uuid NOT NULL,
  dossier_id uuid NOT NULL,
  document_id text NOT NULL,
  key text NOT NULL,
  sha256 text NOT NULL,
  retain_until timestamptz NOT NULL,
  purged_at timestamptz NOT NULL DEFAULT now(),
  rule text NOT NULL
);
CREATE INDEX purge_record_dossier ON purge_record (dossier_id, purged_at DESC);
