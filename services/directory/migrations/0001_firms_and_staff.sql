-- directory: firms and their staff
CREATE TABLE firm (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  functional_email text NOT NULL,
  language text NOT NULL CHECK (language IN ('nl', 'fr', 'en')),
  only_admins_add_clients boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff (
  id uuid PRIMARY KEY,
  firm_id uuid NOT NULL REFERENCES firm (id),
  name text NOT NULL,
  email text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'employee', 'support')),
  status text NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'active', 'removed')),
  password_hash text,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- one e-mail address once per firm (case-insensitive)
CREATE UNIQUE INDEX staff_firm_email ON staff (firm_id, lower(email));
CREATE INDEX staff_email ON staff (lower(email));

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
