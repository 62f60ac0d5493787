-- document-intake: the documents of the three mailboxes (spec 02) and the files refused at intake.
CREATE TABLE document (
  id uuid PRIMARY KEY,
  firm_id uuid NOT NULL,
  dossier_id uuid NOT NULL,
  -- NULL while unsorted (mail to the general address)
  mailbox text CHECK (mailbox IN ('purchase', 'sales', 'misc')),
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  type text NOT NULL CHECK (type IN ('pdf', 'ubl')),
  original_format text NOT NULL CHECK (original_format IN ('pdf', 'jpeg', 'xml')),
  channel text NOT NULL CHECK (channel IN ('upload', 'scan', 'email', 'api', 'split', 'merge')),
  pages integer NOT NULL DEFAULT 0,
  paid boolean NOT NULL DEFAULT false,
  remark text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sent', 'processed')),
  sent_at timestamptz,
  processed_at timestamptz,
  deleted_at timestamptz,
  original_key text NOT NULL,
  original_size bigint NOT NULL,
  original_sha256 text NOT NULL,
  pdf_key text,
  pdf_size bigint,
  sender_email text,
  created_by text NOT NULL,
  invoice jsonb
);
-- the mailbox list: newest first, cursor on (created_at, id)
CREATE INDEX document_mailbox ON document (dossier_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX document_waiting ON document (dossier_id, status) WHERE deleted_at IS NULL;

CREATE TABLE refused_file (
  id uuid PRIMARY KEY,
  firm_id uuid NOT NULL,
  dossier_id uuid NOT NULL,
  file_name text NOT NULL,
  channel text NOT NULL,
  reason text NOT NULL,
  message text NOT NULL,
  sender_email text,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refused_file_dossier ON refused_file (dossier_id, received_at DESC);

-- firms known from the directory's FirmRegistered events: the SMTP endpoint looks up intake domains among them
CREATE TABLE known_firm (
  firm_id uuid PRIMARY KEY
);
