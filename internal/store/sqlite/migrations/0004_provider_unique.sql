-- 0004_provider_unique: one livestream per provider stream (the first Amity event of a
-- streamId creates it), as a constraint, as on PostgreSQL. Livestreams without a provider id
-- ('') never collide. The single writer already kept this true; the index backs it up.
CREATE UNIQUE INDEX livestreams_provider_unique ON livestreams (account_id, app_id, provider, provider_id)
    WHERE provider_id <> '';
