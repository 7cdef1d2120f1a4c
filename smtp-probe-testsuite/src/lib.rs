//! The test suites every smtp-probe adapter runs, in one place so that every adapter is held to the same
//! expectations (not published; the servers and certificates they use are `smtp-probe-testserver`'s):
//!
//! - [`conformance`]: scenarios (a server, a configuration, the outcome the probe must have), a report
//!   normalizer for comparing adapters, and the [`conformance_tests!`] macro that makes one test per scenario;
//! - [`isolated`]: scenarios that need a network of their own, run in a child process inside a network namespace
//!   (a resolver that hangs, connects that time out or that a local policy refuses, no file descriptor left);
//! - [`postfix`]: the real loopback Postfix of `.ci/postfix.sh`, its settings and its interop cases
//!   ([`postfix_tests!`]);
//! - [`dovecot`]: round trips through that Postfix to the real loopback Dovecot of `.ci/dovecot.sh`, its settings
//!   and the cases every adapter's round trip runs ([`roundtrip_tests!`]), each report checked against the
//!   documented JSON schema;
//! - [`promtool`] and [`openmetrics`]: checkers of the metric output, `promtool check metrics` for the Prometheus
//!   text format and the reference OpenMetrics parser.
//!
//! The smoke tests of the domain check's loopback world (`tests/domain_bed.rs`: the DNSSEC bed, Exim, the Postfix
//! key against the bed's TLSA records) are here too: they read the policy records with the core's parsers.
//!
//! An adapter's `tests/conformance.rs` is one macro call:
//!
//! ```
//! use smtp_probe_testsuite::conformance::{self, Scenario};
//!
//! /// The blocking adapter's `probe` (already synchronous).
//! fn probe(config: &smtp_probe_proto::ProbeConfig) -> smtp_probe_proto::Report {
//!     smtp_probe_blocking::probe(config)
//! }
//!
//! // In a test file: smtp_probe_testsuite::conformance_tests!(|scenario: &Scenario| { scenario.run(probe); });
//! // Here, one scenario by hand:
//! let outcome = conformance::scenario("plain_up").run(probe).expect("a local scenario always runs");
//! assert_eq!(outcome.report.verdict, smtp_probe_proto::Verdict::Up);
//! ```

pub mod conformance;
pub mod dovecot;
pub mod isolated;
pub mod openmetrics;
pub mod postfix;
pub mod promtool;
