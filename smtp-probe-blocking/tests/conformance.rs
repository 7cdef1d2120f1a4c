//! Every conformance scenario (`smtp_probe_testsuite::conformance`) through the blocking adapter's `probe`.

use smtp_probe_testsuite::conformance::Scenario;

smtp_probe_testsuite::conformance_tests!(|scenario: &Scenario| {
    scenario.run(smtp_probe_blocking::probe);
});
