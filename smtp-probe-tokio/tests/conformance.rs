//! Every conformance scenario (`smtp_probe_testsuite::conformance`) through the tokio adapter's `probe`.

use smtp_probe_testsuite::conformance::{Scenario, on_tokio};

smtp_probe_testsuite::conformance_tests!(|scenario: &Scenario| {
    scenario.run(|config| on_tokio(smtp_probe_tokio::probe(config)));
});
