//! Round trips through the real loopback Postfix and Dovecot (`.ci/postfix.sh`, `.ci/dovecot.sh`) with the
//! blocking adapter. Skipped (with a line on stderr) when they are not there, unless
//! `SMTP_PROBE_REQUIRE_SERVICES=1`; see `smtp_probe_testsuite::dovecot`.

smtp_probe_testsuite::roundtrip_tests!(smtp_probe_blocking::roundtrip);
