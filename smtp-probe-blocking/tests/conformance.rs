//! Every conformance scenario (`smtp_probe_testserver::conformance`) through the blocking adapter's `probe`.

use smtp_probe_testserver::conformance::Scenario;

smtp_probe_testserver::conformance_tests!(|scenario: &Scenario| {
    scenario.run(|target, config| smtp_probe_blocking::probe(target, config).expect("a valid target"));
});
