-- directory: firm settings, activation links, staff and client groups, dossiers, portal users

ALTER TABLE firm ADD COLUMN contact jsonb NOT NULL DEFAULT '{}';
ALTER TABLE firm ADD COLUMN intake_domain text NOT NULL DEFAULT 'in.kantoor.localhost';

-- a removed staff member's e-mail address may be invited again
DROP INDEX staff_firm_email;
CREATE UNIQUE INDEX staff_firm_email ON staff (firm_id, lower(email)) WHERE status <> 'removed';
CREATE INDEX staff_firm_role ON staff (firm_id, role) WHERE status <> 'removed';

-- the secret of an activation link is mailed, never stored: only its SHA-256
CREATE TABLE activation_token (
  token_hash text PRIMARY KEY,
  account_kind text NOT NULL CHECK (account_kind IN ('staff', 'portal_user')),
  account_id uuid NOT NULL,
  firm_id uuid NOT NULL REFERENCES firm (id),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activation_token_account ON activation_token (account_id);

CREATE TABLE staff_group (
  id uuid PRIMARY KEY,
  firm_id uuid NOT NULL REFERENCES firm (id),
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX staff_group_firm_name ON staff_group (firm_id, lower(name));

CREATE TABLE staff_group_member (
  staff_group_id uuid NOT NULL REFERENCES staff_group (id) ON DELETE CASCADE,
  staff_id uuid NOT NULL REFERENCES staff (id),
  PRIMARY KEY (staff_group_id, staff_id)
);
CREATE INDEX staff_group_member_staff ON staff_group_member (staff_id);

CREATE TABLE client_group (
  id uuid PRIMARY KEY,
  firm_id uuid NOT NULL REFERENCES firm (id),
  name text NOT NULL,
  email text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX client_group_firm_name ON client_group (firm_id, lower(name));

CREATE TABLE client_group_staff (
  client_group_id uuid NOT NULL REFERENCES client_group (id) ON DELETE CASCADE,
  staff_id uuid NOT NULL REFERENCES staff (id),
  PRIMARY KEY (client_group_id, staff_id)
);
CREATE INDEX client_group_staff_staff ON client_group_staff (staff_id);

CREATE TABLE client_group_staff_group (
  client_group_id uuid NOT NULL REFERENCES client_group (id) ON DELETE CASCADE,
  staff_group_id uuid NOT NULL REFERENCES staff_group (id) ON DELETE CASCADE,
  PRIMARY KEY (client_group_id, staff_group_id)
);
CREATE INDEX client_group_staff_group_group ON client_group_staff_group (staff_group_id);

CREATE TABLE dossier (
  id uuid PRIMARY KEY,
  firm_id uuid NOT NULL REFERENCES firm (id),
  -- immutable: no statement of the service updates it
  code text NOT NULL,
  name text NOT NULL,
  country text NOT NULL CHECK (country IN ('BE', 'NL')),
  enterprise_number text NOT NULL,
  language text NOT NULL CHECK (language IN ('nl', 'fr', 'en')),
  status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'active', 'deactivated')),
  file_manager_id uuid REFERENCES staff (id),
  client_group_id uuid REFERENCES client_group (id),
  contact jsonb NOT NULL DEFAULT '{}',
  contact_persons jsonb NOT NULL DEFAULT '[]',
  sender_whitelist jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  activated_at timestamptz,
  deactivated_at timestamptz
);
CREATE UNIQUE INDEX dossier_firm_code ON dossier (firm_id, lower(code));
CREATE UNIQUE INDEX dossier_firm_enterprise_number ON dossier (firm_id, country, enterprise_number);
-- the listing's order (name, id) with its most common filter
CREATE INDEX dossier_firm_listing ON dossier (firm_id, lower(name), id);
CREATE INDEX dossier_firm_status_listing ON dossier (firm_id, status, lower(name), id);
CREATE INDEX dossier_file_manager ON dossier (file_manager_id);
CREATE INDEX dossier_client_group ON dossier (client_group_id);

CREATE TABLE dossier_collaborator (
  dossier_id uuid NOT NULL REFERENCES dossier (id),
  staff_id uuid NOT NULL REFERENCES staff (id),
  PRIMARY KEY (dossier_id, staff_id)
);
CREATE INDEX dossier_collaborator_staff ON dossier_collaborator (staff_id);

CREATE TABLE dossier_collaborator_group (
  dossier_id uuid NOT NULL REFERENCES dossier (id),
  staff_group_id uuid NOT NULL REFERENCES staff_group (id) ON DELETE CASCADE,
  PRIMARY KEY (dossier_id, staff_group_id)
);
CREATE INDEX dossier_collaborator_group_group ON dossier_collaborator_group (staff_group_id);

-- every staff member with an assignment to a dossier, whichever way it came (spec 01)
CREATE VIEW dossier_staff_access AS
  SELECT d.id AS dossier_id, d.file_manager_id AS staff_id FROM dossier d WHERE d.file_manager_id IS NOT NULL
  UNION
  SELECT c.dossier_id, c.staff_id FROM dossier_collaborator c
  UNION
  SELECT g.dossier_id, m.staff_id FROM dossier_collaborator_group g JOIN staff_group_member m USING (staff_group_id)
  UNION
  SELECT d.id, s.staff_id FROM dossier d JOIN client_group_staff s ON s.client_group_id = d.client_group_id
  UNION
  SELECT d.id, m.staff_id
    FROM dossier d
    JOIN client_group_staff_group g ON g.client_group_id = d.client_group_id
    JOIN staff_group_member m ON m.staff_group_id = g.staff_group_id;

CREATE TABLE portal_user (
  id uuid PRIMARY KEY,
  firm_id uuid NOT NULL REFERENCES firm (id),
  email text NOT NULL,
  name text NOT NULL,
  status text NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'active', 'removed')),
  password_hash text,
  must_change_password boolean NOT NULL DEFAULT true,
  terms_version text,
  terms_accepted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX portal_user_firm_email ON portal_user (firm_id, lower(email));
CREATE INDEX portal_user_email ON portal_user (lower(email));

CREATE TABLE portal_user_dossier (
  portal_user_id uuid NOT NULL REFERENCES portal_user (id),
  dossier_id uuid NOT NULL REFERENCES dossier (id),
  profile text NOT NULL DEFAULT 'documentProcessing' CHECK (profile IN ('documentProcessing')),
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (portal_user_id, dossier_id)
);
CREATE INDEX portal_user_dossier_dossier ON portal_user_dossier (dossier_id);

CREATE INDEX audit_log_dossier_time ON audit_log (dossier_id, occurred_at DESC) WHERE dossier_id IS NOT NULL;
