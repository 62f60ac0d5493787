-- Sending: a worker claims queued rows, marks them `sending` before it talks SMTP and `sent` after; a row
-- still `sending` when its lease runs out belongs to a worker that died and is sent again (same Message-ID).
ALTER TABLE notification DROP CONSTRAINT notification_status_check;
ALTER TABLE notification
  ADD CONSTRAINT notification_status_check CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
  ADD COLUMN message_id text,
  -- direct (the event named the recipient) or how the cascade found it: file_manager, client_group, firm_address;
  -- `cascade` while still to be resolved (recipient is then '')
  ADD COLUMN routed_via text NOT NULL DEFAULT 'direct',
  -- secrets the mail carries (activation tokens, download links), AES-256-GCM sealed
  ADD COLUMN sealed_data text,
  ADD COLUMN subject text,
  ADD COLUMN attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN lease_expires_at timestamptz,
  ADD COLUMN resent boolean NOT NULL DEFAULT false,
  ADD COLUMN smtp_response text,
  ADD COLUMN last_error text,
  ADD COLUMN sent_at timestamptz,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
UPDATE notification SET message_id = '<' || md5(event_id || '/' || kind || '/' || recipient) || '@kantoor.notification>';
ALTER TABLE notification ALTER COLUMN message_id SET NOT NULL;
CREATE UNIQUE INDEX notification_message_id ON notification (message_id);
CREATE INDEX notification_due ON notification (next_attempt_at) WHERE status IN ('queued', 'sending');

-- the delivery log: one row per attempt
CREATE TABLE delivery_attempt (
  id uuid PRIMARY KEY,
  notification_id uuid NOT NULL REFERENCES notification (id),
  attempt integer NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('sent', 'retry_scheduled', 'failed')),
  smtp_response text,
  error text,
  resent boolean NOT NULL DEFAULT false,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_attempt_notification ON delivery_attempt (notification_id, attempt);

-- what mails show of the firm: kept from the directory's events, the logo set here
CREATE TABLE firm_profile (
  firm_id uuid PRIMARY KEY,
  name text NOT NULL DEFAULT '',
  functional_email text NOT NULL DEFAULT '',
  language text NOT NULL DEFAULT 'nl',
  logo bytea,
  logo_content_type text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- the firm's own SMTP server; without a row mails go through the platform's default server
CREATE TABLE smtp_settings (
  firm_id uuid PRIMARY KEY,
  host text NOT NULL,
  port integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  tls text NOT NULL CHECK (tls IN ('none', 'starttls', 'tls')),
  username text NOT NULL DEFAULT '',
  sealed_password text,
  sender_address text NOT NULL,
  sender_name text NOT NULL DEFAULT '',
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL
);
