//! The cross-adapter test: for every conformance scenario, tokio, blocking, smol and async-std probe the same
//! server at the same time; each must meet the scenario's expectations, and their reports must be the same
//! once normalized (`smtp_probe_testsuite::conformance::normalize`: timings aside).

mod common;

smtp_probe_testsuite::conformance_tests!(common::every_adapter);
