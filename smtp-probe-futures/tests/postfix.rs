//! Interop with the real loopback Postfix of `.ci/postfix.sh`, on smol and async-std, and every adapter giving
//! the same normalized report for each case. Skipped (with a line on stderr) when there is no Postfix; see
//! `smtp_probe_testsuite::postfix`.

mod common;

mod smol {
    use smtp_probe_testsuite::conformance::Scenario;

    smtp_probe_testsuite::postfix_tests!(|scenario: &Scenario| {
        scenario.run(super::common::smol);
    });
}

mod async_std {
    use smtp_probe_testsuite::conformance::Scenario;

    smtp_probe_testsuite::postfix_tests!(|scenario: &Scenario| {
        scenario.run(super::common::async_std);
    });
}

mod every_adapter {
    smtp_probe_testsuite::postfix_tests!(super::common::every_adapter);
}
