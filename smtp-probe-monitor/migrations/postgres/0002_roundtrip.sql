-- Round trips: the delivery latency and folder of each check, and per hour the messages delivered, those
-- delivered to the junk folder, and a mergeable histogram of their delivery latencies. NULL and zero for
-- other check kinds.
ALTER TABLE check_results ADD COLUMN delivery_ms BIGINT;
ALTER TABLE check_results ADD COLUMN junk BIGINT;
ALTER TABLE rollups_hourly ADD COLUMN delivered BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rollups_hourly ADD COLUMN junk BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rollups_hourly ADD COLUMN delivery_histogram BYTEA NOT NULL DEFAULT ''::bytea;
