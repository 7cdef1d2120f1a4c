-- Domain monitors: what the domain published when people were last told (MX hosts, MTA-STS record and policy,
-- TLSA records per MX host), as JSON, so a restart neither repeats a policy-change alert nor misses one.
ALTER TABLE alert_state ADD COLUMN published TEXT;
