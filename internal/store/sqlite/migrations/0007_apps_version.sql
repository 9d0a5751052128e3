-- 0007_apps_version: a counter every change to apps moves (triggers, so that every writer
-- moves it: this process, `livegate apps` on the same file, anything else). Processes that
-- cache apps (the webhook services' credentials) compare it with the value they cached
-- under, inside the transaction that commits a delivery, instead of reading the app anew.
CREATE TABLE apps_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT  NOT NULL
);
INSERT INTO apps_version (id, n) VALUES (1, 0);
CREATE TRIGGER apps_version_insert AFTER INSERT ON apps BEGIN
    UPDATE apps_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER apps_version_update AFTER UPDATE ON apps BEGIN
    UPDATE apps_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER apps_version_delete AFTER DELETE ON apps BEGIN
    UPDATE apps_version SET n = n + 1 WHERE id = 1;
END;
