//! Every conformance scenario (`smtp_probe_testserver::conformance`) through the blocking adapter's `probe`.

use smtp_probe_testserver::conformance::Scenario;

smtp_probe_testserver::conformance_tests!(|scenario: &Scenario| {
    scenario.run(smtp_probe_blocking::probe);
});
