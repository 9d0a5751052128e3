-- 0008_delivery_index_partial: events_by_delivery only for events whose delivery id is not
-- their dedupe key. For a 100ms delivery the two are equal, and the entry repeated the
-- dedupe key's (a second random B-tree insert per event); the unique dedupe index answers
-- those lookups instead (DeliveryEvents, DeliverySequences ask both).
DROP INDEX events_by_delivery;
CREATE INDEX events_by_delivery ON events (account_id, app_id, source, delivery_id)
    WHERE delivery_id <> dedupe_key;
