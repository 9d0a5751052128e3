-- The event feed: provider deliveries and livegate's own events, in commit order.
-- seq is AUTOINCREMENT so a sequence is never reused, even after retention deletes the newest
-- rows (PostgreSQL: a BIGINT identity column assigned under the commit lock).
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    TEXT NOT NULL,
    app_id        TEXT NOT NULL,
    source        TEXT NOT NULL,
    type          TEXT NOT NULL,
    delivery_id   TEXT NOT NULL,
    dedupe_key    TEXT NOT NULL,
    livestream_id TEXT,
    room_id       TEXT,
    received_at   BIGINT NOT NULL,
    body          BLOB NOT NULL,
    UNIQUE (account_id, app_id, source, dedupe_key)
);
CREATE INDEX events_by_tenant ON events (account_id, app_id, seq);
CREATE INDEX events_by_delivery ON events (account_id, app_id, source, delivery_id);
CREATE INDEX events_by_received ON events (received_at);

-- What retention has deleted: every event with seq <= pruned_through is gone.
CREATE TABLE feed_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT NOT NULL
);
INSERT INTO feed_state (id, pruned_through) VALUES (1, 0);

-- Meeting (100ms room) sessions, for the daywise session statistics.
CREATE TABLE meeting_sessions (
    account_id       TEXT NOT NULL,
    app_id           TEXT NOT NULL,
    id               TEXT NOT NULL,
    room_id          TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    stopped_at       BIGINT,
    duration_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, app_id, id)
);
CREATE INDEX meeting_sessions_by_start ON meeting_sessions (account_id, app_id, started_at);
