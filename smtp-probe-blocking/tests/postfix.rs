//! Interop with the real loopback Postfix of `.ci/postfix.sh` through the blocking adapter. Skipped (with a
//! line on stderr) when there is none; see `smtp_probe_testsuite::postfix`.

use smtp_probe_testsuite::conformance::Scenario;

smtp_probe_testsuite::postfix_tests!(|scenario: &Scenario| {
    scenario.run(smtp_probe_blocking::probe);
});
