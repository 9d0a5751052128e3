-- 0006_webhook_endpoints: outbound webhooks (the endpoints an app registers to receive its
-- events) and their delivery logs.
--
-- events is the endpoint's filter as a JSON array of strings. cursor is the last sequence the
-- endpoint is done with. Times are Unix microseconds UTC; NULL: unset.
CREATE TABLE webhook_endpoints (
    id                     TEXT    NOT NULL PRIMARY KEY,
    account_id             TEXT    NOT NULL,
    app_id                 TEXT    NOT NULL,
    name                   TEXT    NOT NULL,
    url                    TEXT    NOT NULL,
    events                 TEXT    NOT NULL,
    enabled                INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    secret                 TEXT    NOT NULL,
    prev_secret            TEXT,
    prev_secret_expires_at BIGINT,
    cursor                 BIGINT  NOT NULL DEFAULT 0,
    failing_since          BIGINT,
    disabled_reason        TEXT    NOT NULL DEFAULT '',
    created_at             BIGINT  NOT NULL,
    updated_at             BIGINT  NOT NULL
);

-- A tenant's endpoints, oldest first.
CREATE INDEX webhook_endpoints_tenant_created ON webhook_endpoints (account_id, app_id, created_at, id);

-- One row per delivery attempt. No foreign key: deleting an endpoint deletes its attempts
-- in the same transaction.
CREATE TABLE webhook_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id   TEXT    NOT NULL,
    account_id    TEXT    NOT NULL,
    app_id        TEXT    NOT NULL,
    at            BIGINT  NOT NULL,
    seq           BIGINT  NOT NULL,
    event_id      TEXT    NOT NULL,
    event_type    TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    status_code   INTEGER NOT NULL,
    latency_us    BIGINT  NOT NULL,
    error         TEXT    NOT NULL,
    response_body TEXT    NOT NULL,
    outcome       TEXT    NOT NULL
);

-- An endpoint's log, newest first.
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
-- Retention: attempts by age.
CREATE INDEX webhook_attempts_at ON webhook_attempts (at);
