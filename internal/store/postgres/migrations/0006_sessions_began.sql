-- Analytics count a livestream session on the day it began (started, else invoked), not the
-- day it was stored: the tenant's sessions by that time, as the queries spell it
-- (queries.began).
DROP INDEX livestream_sessions_tenant_created;
CREATE INDEX livestream_sessions_tenant_began ON livestream_sessions (account_id, app_id, COALESCE(started_at, invoked_at, created_at));
