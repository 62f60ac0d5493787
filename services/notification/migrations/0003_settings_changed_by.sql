-- who changed the firm's mail settings, and when (spec 10): setting its own SMTP server is recorded in
-- smtp_settings.updated_by; the logo (set or removed) and the removal of the SMTP server are recorded here,
-- because a removed smtp_settings row cannot say who removed it
ALTER TABLE firm_profile
  ADD COLUMN logo_updated_at timestamptz,
  ADD COLUMN logo_updated_by text,
  ADD COLUMN smtp_cleared_at timestamptz,
  ADD COLUMN smtp_cleared_by text;
