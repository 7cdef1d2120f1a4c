//! Every adapter's `probe`, made synchronous, and the cross-adapter check built on them.
#![allow(dead_code)] // each test file uses some of these

use smtp_probe_futures::{ProbeConfig, Report};
use smtp_probe_testsuite::conformance::{self, Probe, Scenario};

pub fn smol(config: &ProbeConfig) -> Report {
    ::smol::block_on(smtp_probe_futures::smol::probe(config))
}

pub fn async_std(config: &ProbeConfig) -> Report {
    ::async_std::task::block_on(smtp_probe_futures::async_std::probe(config))
}

pub fn tokio(config: &ProbeConfig) -> Report {
    conformance::on_tokio(smtp_probe_tokio::probe(config))
}

pub fn blocking(config: &ProbeConfig) -> Report {
    smtp_probe_blocking::probe(config)
}

pub const ADAPTERS: [(&str, &Probe<'static>); 4] =
    [("tokio", &tokio), ("blocking", &blocking), ("smol", &smol), ("async-std", &async_std)];

/// Runs `scenario` through every adapter: each must meet the scenario's expectations (deadlines included), and all
/// must give the same normalized report.
pub fn every_adapter(scenario: &Scenario) {
    conformance::every_adapter(scenario, &ADAPTERS);
}
