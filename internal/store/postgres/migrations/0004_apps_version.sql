-- 0004_apps_version: a counter every change to apps moves (a trigger, so that every writer
-- moves it: every node, `livegate apps`, anything else). Nodes that cache apps (the webhook
-- services' credentials) compare it with the value they cached under, inside the
-- transaction that commits a delivery, instead of reading the app anew.
CREATE TABLE apps_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT  NOT NULL
);
INSERT INTO apps_version (id, n) VALUES (1, 0);
CREATE FUNCTION apps_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE apps_version SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER apps_version_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION apps_version_bump();
