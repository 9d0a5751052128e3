-- A livestream its provider ingests (100ms, Amity) plays where the provider says (the HLS URL
-- of its latest run's start); empty when unknown, and for livestreams ingested over RTMP.
ALTER TABLE livestreams ADD COLUMN playback_url TEXT NOT NULL DEFAULT '';
