-- A recording's key says which recording it is, as its provider described it (a digest of
-- the event's type and payload): the same recording delivered again under another id is
-- stored once. Rows from before have none (NULL) and are never matched.
ALTER TABLE recordings ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX recordings_tenant_key ON recordings (account_id, app_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
