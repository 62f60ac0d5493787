-- notification: a webhook created by an API key belongs to that key. Of the firm's keys only the owner sees and
-- manages it (admins see every webhook of the firm), and revoking the key disables it. Webhooks made before this
-- get the key that created them, which created_by names.
ALTER TABLE webhook ADD COLUMN owner_api_key_id text;
UPDATE webhook SET owner_api_key_id = substr(created_by, length('api_key:') + 1) WHERE created_by LIKE 'api\_key:%';
CREATE INDEX webhook_owner ON webhook (firm_id, owner_api_key_id) WHERE owner_api_key_id IS NOT NULL;
