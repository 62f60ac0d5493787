-- archive: verification runs per firm. A run started by a firm's admin belongs to that firm (firm_id); the
-- platform's run (firm_id NULL) is split per firm, so that an admin sees what it checked of their own objects
-- and never another firm's runs or counts. Runs recorded before this have no split and stay platform-only.
ALTER TABLE verification_run ADD COLUMN firm_id uuid;
CREATE TABLE verification_run_firm (
  run_id bigint NOT NULL REFERENCES verification_run (id),
  firm_id uuid NOT NULL,
  checked integer NOT NULL,
  PRIMARY KEY (run_id, firm_id)
);
CREATE INDEX verification_run_firm_firm ON verification_run_firm (firm_id, run_id DESC);
CREATE INDEX verification_run_by_firm ON verification_run (firm_id, id DESC);
