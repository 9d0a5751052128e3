-- 0005_app_admin: credential rotation and the admin audit log.
--
-- A rotation keeps the replaced API token (its id and hash) and webhook secret, accepted
-- until their expiry (Unix microseconds UTC); NULL: none.
ALTER TABLE apps ADD COLUMN prev_token_id TEXT;
ALTER TABLE apps ADD COLUMN prev_token_hash BLOB;
ALTER TABLE apps ADD COLUMN prev_token_expires_at BIGINT;
ALTER TABLE apps ADD COLUMN prev_webhook_secret TEXT;
ALTER TABLE apps ADD COLUMN prev_webhook_secret_expires_at BIGINT;
CREATE UNIQUE INDEX apps_prev_token_id ON apps (prev_token_id);

-- Every admin action on an app: who (the operator token's fingerprint, or the CLI), what,
-- when. Kept when the app is deleted.
CREATE TABLE admin_audit (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT  NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    app_id     TEXT    NOT NULL,
    detail     TEXT    NOT NULL
);
