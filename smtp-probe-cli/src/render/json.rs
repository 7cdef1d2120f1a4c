//! JSON output: each report as the core serializes it (the shape smtp-probe-proto documents in its
//! `JSON-SCHEMA.md` and validates with `schema/report.schema.json`), one object per target and per `--mx` domain,
//! an array when there are several. Nothing is mapped here, so the CLI, the library and anything built on it
//! write the same JSON.

use serde::Serialize;
use smtp_probe_tokio::{MxReport, Report};

use super::Results;

/// Renders the results: an object for one target or MX domain, an array for several (the targets first, then
/// the MX domains, each in command-line order). A report carries its transcript when one was recorded, which the
/// command line does only with `--transcript`.
pub fn render(results: &Results) -> String {
    let targets = results.targets.iter().map(Item::Target);
    let domains = results.mx.iter().map(Item::Mx);
    let items: Vec<Item<'_>> = targets.chain(domains).collect();
    let mut out = match items.as_slice() {
        [one] => serde_json::to_string_pretty(one),
        many => serde_json::to_string_pretty(many),
    }
    .expect("reports always serialize: string keys, finite numbers");
    out.push('\n');
    out
}

/// A target's report or an MX domain's.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Item<'a> {
    Target(&'a Report),
    Mx(&'a MxReport),
}
