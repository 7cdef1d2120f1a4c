//! Every adapter's `probe`, made synchronous, and the cross-adapter check built on them.
#![allow(dead_code)] // each test file uses some of these

use smtp_probe_futures::{ProbeConfig, Report};
use smtp_probe_testserver::conformance::{self, Outcome, Scenario};

/// An adapter's `probe`, run to completion on the calling thread.
pub type Probe = fn(&ProbeConfig) -> Report;

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

pub const ADAPTERS: [(&str, Probe); 4] =
    [("tokio", tokio), ("blocking", blocking), ("smol", smol), ("async-std", async_std)];

/// Runs `scenario` through every adapter at once, against one server: each must meet the scenario's
/// expectations (deadlines included), and all must give the same normalized report.
pub fn every_adapter(scenario: &Scenario) {
    let Some(prepared) = scenario.prepare() else { return };
    let outcomes: Vec<(&str, Outcome)> = std::thread::scope(|s| {
        let running: Vec<_> = ADAPTERS
            .iter()
            .map(|&(name, probe)| {
                let prepared = &prepared;
                s.spawn(move || (name, prepared.probe(probe)))
            })
            .collect();
        running.into_iter().map(|t| t.join().expect("the adapter's probe panicked")).collect()
    });
    for (name, outcome) in &outcomes {
        scenario.expected.assert(&format!("{} via {name}", scenario.name), outcome);
    }
    let reports: Vec<(&str, &Report)> = outcomes.iter().map(|(name, o)| (*name, &o.report)).collect();
    conformance::assert_same(scenario.name, &reports);
}
