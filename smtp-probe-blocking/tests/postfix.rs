//! Interop with the real loopback Postfix of `.ci/postfix.sh` through the blocking adapter. Skipped (with a
//! line on stderr) when there is none; see `smtp_probe_testserver::postfix`.

use smtp_probe_testserver::conformance::Scenario;

smtp_probe_testserver::postfix_tests!(|scenario: &Scenario| {
    scenario.run(smtp_probe_blocking::probe);
});
