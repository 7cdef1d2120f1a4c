-- Round trips: the delivery latency and folder of each check, and per hour the messages delivered, those
-- delivered to the junk folder, and a mergeable histogram of their delivery latencies. NULL and zero for
-- other check kinds.
ALTER TABLE check_results ADD COLUMN delivery_ms INTEGER;
ALTER TABLE check_results ADD COLUMN junk INTEGER;
ALTER TABLE rollups_hourly ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_hourly ADD COLUMN junk INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_hourly ADD COLUMN delivery_histogram BLOB NOT NULL DEFAULT x'';
