-- 0001_init: the whole schema of SQLite's migrations 0001-0003, in PostgreSQL's types, with
-- the rules SQLite's single writer enforces by accident written as constraints.
--
-- Timestamps are BIGINT Unix microseconds UTC (NULL: unset) and durations DOUBLE PRECISION
-- seconds, as on SQLite, so both backends store and compare the same values.

CREATE TABLE apps (
    account_id     TEXT   NOT NULL,
    app_id         TEXT   NOT NULL,
    token_id       TEXT   NOT NULL UNIQUE,
    token_hash     BYTEA  NOT NULL,
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
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    provider    TEXT    NOT NULL,
    provider_id TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    -- One livestream per meeting (so at most one active one). NULLs are distinct, so
    -- independent livestreams (meeting_id NULL) never collide.
    UNIQUE (account_id, app_id, meeting_id)
);

-- Listing a tenant's livestreams by creation time (ORDER BY created_at, id).
CREATE INDEX livestreams_tenant_created ON livestreams (account_id, app_id, created_at, id);
-- One livestream per provider stream (the first Amity event of a streamId creates it: two
-- nodes receiving it at once create one), and finding it.
CREATE UNIQUE INDEX livestreams_provider ON livestreams (account_id, app_id, provider, provider_id)
    WHERE provider_id <> '';

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
CREATE INDEX livestream_sessions_livestream_created ON livestream_sessions (livestream_id, created_at, id);
CREATE INDEX livestream_sessions_tenant_created ON livestream_sessions (account_id, app_id, created_at);

-- No foreign key on livestream_id: a recording outlives its livestream.
CREATE TABLE recordings (
    id               TEXT             NOT NULL PRIMARY KEY,
    account_id       TEXT             NOT NULL,
    app_id           TEXT             NOT NULL,
    livestream_id    TEXT,
    source           TEXT             NOT NULL,
    recorded_at      BIGINT           NOT NULL,
    duration_seconds DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX recordings_tenant_recorded ON recordings (account_id, app_id, recorded_at);

-- The event feed, in commit order. seq is NOT a SEQUENCE or IDENTITY: it is taken from
-- feed_head.head, incremented inside the appending transaction (see the package doc).
CREATE TABLE events (
    seq           BIGINT NOT NULL PRIMARY KEY,
    account_id    TEXT   NOT NULL,
    app_id        TEXT   NOT NULL,
    source        TEXT   NOT NULL,
    type          TEXT   NOT NULL,
    delivery_id   TEXT   NOT NULL,
    dedupe_key    TEXT   NOT NULL,
    livestream_id TEXT,
    room_id       TEXT,
    received_at   BIGINT NOT NULL,
    body          BYTEA  NOT NULL,
    -- Dedupe: two nodes receiving the same delivery at once store it once.
    UNIQUE (account_id, app_id, source, dedupe_key)
);
CREATE INDEX events_by_tenant ON events (account_id, app_id, seq);
CREATE INDEX events_by_delivery ON events (account_id, app_id, source, delivery_id);
CREATE INDEX events_by_received ON events (received_at);

-- The feed's counter: the greatest sequence ever assigned. One row, updated by every append
-- (its row lock orders the appending transactions' commits).
CREATE TABLE feed_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    head BIGINT  NOT NULL
);
INSERT INTO feed_head (id, head) VALUES (1, 0);

-- What retention has deleted: every event with seq <= pruned_through is gone. A row of its
-- own, so that pruning never takes the counter's lock.
CREATE TABLE feed_retention (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT  NOT NULL
);
INSERT INTO feed_retention (id, pruned_through) VALUES (1, 0);

CREATE TABLE meeting_sessions (
    account_id       TEXT             NOT NULL,
    app_id           TEXT             NOT NULL,
    id               TEXT             NOT NULL,
    room_id          TEXT             NOT NULL,
    started_at       BIGINT           NOT NULL,
    stopped_at       BIGINT,
    duration_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, app_id, id)
);
CREATE INDEX meeting_sessions_by_start ON meeting_sessions (account_id, app_id, started_at);

-- Installation-wide settings (the RTMP callback secret): one value per name.
CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- nginx-rtmp clients, as on SQLite (client_id BIGINT: ids above math.MaxInt64 are refused).
CREATE TABLE rtmp_clients (
    client_id     BIGINT  NOT NULL PRIMARY KEY,
    account_id    TEXT    NOT NULL,
    app_id        TEXT    NOT NULL,
    livestream_id TEXT    NOT NULL REFERENCES livestreams (id) ON DELETE CASCADE,
    session_id    TEXT,
    publishing    BOOLEAN NOT NULL,
    since         BIGINT  NOT NULL,
    seen_at       BIGINT  NOT NULL
);
CREATE INDEX rtmp_clients_livestream ON rtmp_clients (livestream_id, publishing, since);
CREATE INDEX rtmp_clients_seen ON rtmp_clients (seen_at, client_id);
