//! Round trips through the real loopback Postfix and Dovecot (`.ci/postfix.sh`, `.ci/dovecot.sh`) with the tokio
//! adapter. Skipped (with a line on stderr) when they are not there, unless `SMTP_PROBE_REQUIRE_SERVICES=1`; see
//! `smtp_probe_testsuite::dovecot`.

use smtp_probe_testsuite::conformance::on_tokio;

smtp_probe_testsuite::roundtrip_tests!(|config: &smtp_probe_tokio::RoundTripConfig| on_tokio(
    smtp_probe_tokio::roundtrip(config)
));
