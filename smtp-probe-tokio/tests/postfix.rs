//! Interop with the real loopback Postfix of `.ci/postfix.sh` through the tokio adapter. Skipped (with a line
//! on stderr) when there is none; see `smtp_probe_testsuite::postfix`.

use smtp_probe_testsuite::conformance::{Scenario, on_tokio};

smtp_probe_testsuite::postfix_tests!(|scenario: &Scenario| {
    scenario.run(|config| on_tokio(smtp_probe_tokio::probe(config)));
});
