-- 0001_init: apps, livestreams, their sessions, recordings.
--
-- Portable types where it costs nothing: TEXT ids, BIGINT timestamps (Unix microseconds UTC;
-- INTEGER affinity in SQLite, 64-bit in PostgreSQL where INTEGER would be 32-bit), DOUBLE
-- PRECISION seconds (REAL affinity in SQLite, float8 in PostgreSQL where REAL would be float4),
-- INTEGER 0/1 booleans. NULL is "unset" for optional columns (meeting_id, session times,
-- recordings.livestream_id). token_hash is BLOB (BYTEA in PostgreSQL).

CREATE TABLE apps (
    account_id     TEXT   NOT NULL,
    app_id         TEXT   NOT NULL,
    token_id       TEXT   NOT NULL UNIQUE,
    token_hash     BLOB   NOT NULL,
    webhook_secret TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, app_id)
);

CREATE TABLE livestreams (
    id          TEXT    NOT NULL PRIMARY KEY,
    account_id  TEXT    NOT NULL,
    app_id      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    meeting_id  TEXT,
    stream_key  TEXT    NOT NULL UNIQUE,
    status      TEXT    NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    provider    TEXT    NOT NULL,
    provider_id TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    -- One livestream per meeting. NULLs are distinct, so independent livestreams
    -- (meeting_id NULL) never collide.
    UNIQUE (account_id, app_id, meeting_id)
);

-- Listing a tenant's livestreams by creation time (ORDER BY created_at, id).
CREATE INDEX livestreams_tenant_created ON livestreams (account_id, app_id, created_at, id);
-- Finding the livestream a provider event is about.
CREATE INDEX livestreams_provider ON livestreams (account_id, app_id, provider, provider_id);

CREATE TABLE livestream_sessions (
    id             TEXT             NOT NULL PRIMARY KEY,
    livestream_id  TEXT             NOT NULL REFERENCES livestreams (id) ON DELETE CASCADE,
    account_id     TEXT             NOT NULL,
    app_id         TEXT             NOT NULL,
    invoked_at     BIGINT,
    started_at     BIGINT,
    stopped_at     BIGINT,
    ingest_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    viewer_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    err_message    TEXT             NOT NULL DEFAULT '',
    created_at     BIGINT           NOT NULL,
    updated_at     BIGINT           NOT NULL
);

-- A livestream's sessions, newest first; also serves the foreign key's cascade.
CREATE INDEX livestream_sessions_livestream_created ON livestream_sessions (livestream_id, created_at, id);
-- Analytics: a tenant's sessions in a time range.
CREATE INDEX livestream_sessions_tenant_created ON livestream_sessions (account_id, app_id, created_at);

-- No foreign key on livestream_id: a recording outlives its livestream (statistics keep
-- counting it), and the livestream may be unknown.
CREATE TABLE recordings (
    id               TEXT             NOT NULL PRIMARY KEY,
    account_id       TEXT             NOT NULL,
    app_id           TEXT             NOT NULL,
    livestream_id    TEXT,
    source           TEXT             NOT NULL,
    recorded_at      BIGINT           NOT NULL,
    duration_seconds DOUBLE PRECISION NOT NULL DEFAULT 0
);

-- Analytics: a tenant's recordings in a time range.
CREATE INDEX recordings_tenant_recorded ON recordings (account_id, app_id, recorded_at);
