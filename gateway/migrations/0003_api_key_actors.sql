-- Who created and who revoked each key (spec 10: every change records who did it). Keys made before this
-- migration have no creator on record: NULL means "not recorded", never "nobody".
ALTER TABLE api_keys ADD COLUMN created_by text;
ALTER TABLE api_keys ADD COLUMN revoked_by text;
