//! Every conformance scenario (`smtp_probe_testsuite::conformance`) through this crate's `probe`, on smol and
//! on async-std.

mod common;

mod smol {
    use smtp_probe_testsuite::conformance::Scenario;

    smtp_probe_testsuite::conformance_tests!(|scenario: &Scenario| {
        scenario.run(super::common::smol);
    });
}

mod async_std {
    use smtp_probe_testsuite::conformance::Scenario;

    smtp_probe_testsuite::conformance_tests!(|scenario: &Scenario| {
        scenario.run(super::common::async_std);
    });
}
