-- 0003_rtmp: installation-wide settings, and the nginx-rtmp clients livegate let publish or play.

-- Settings of the installation, not of a tenant (the RTMP callback secret, say). Values may be
-- secrets: errors name a setting, never print its value.
CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per nginx-rtmp connection from its on_publish/on_play callback until its done
-- callback. client_id is nginx-rtmp's connection number: a uint64 in Go, but BIGINT here
-- (SQLite's INTEGER and PostgreSQL's BIGINT are both signed 64-bit), so ids above
-- 9223372036854775807 (math.MaxInt64) are refused with an error when stored and never found
-- when looked up. nginx counts the connections it accepts from 1, far below that.
-- session_id is NULL for a viewer that started playing before the livestream had a session;
-- it has no foreign key: the session goes with its livestream, and so does the client.
CREATE TABLE rtmp_clients (
    client_id     BIGINT  NOT NULL PRIMARY KEY,
    account_id    TEXT    NOT NULL,
    app_id        TEXT    NOT NULL,
    livestream_id TEXT    NOT NULL REFERENCES livestreams (id) ON DELETE CASCADE,
    session_id    TEXT,
    publishing    INTEGER NOT NULL CHECK (publishing IN (0, 1)),
    since         BIGINT  NOT NULL,
    seen_at       BIGINT  NOT NULL
);

-- A livestream's publisher, the most recent first (RtmpPublisher); also serves the foreign
-- key's cascade.
CREATE INDEX rtmp_clients_livestream ON rtmp_clients (livestream_id, publishing, since);

-- Clients nginx-rtmp stopped reporting, oldest first (StaleRtmpClients).
CREATE INDEX rtmp_clients_seen ON rtmp_clients (seen_at, client_id);
