//! Every conformance scenario (`smtp_probe_testserver::conformance`) through the tokio adapter's `probe`.

use smtp_probe_testserver::conformance::{Scenario, on_tokio};

smtp_probe_testserver::conformance_tests!(|scenario: &Scenario| {
    scenario.run(|config| on_tokio(smtp_probe_tokio::probe(config)));
});
