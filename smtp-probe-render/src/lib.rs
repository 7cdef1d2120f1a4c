//! Every output of smtp-probe, rendered from reports in one place: the JSON shape, Prometheus text and
//! OpenMetrics, Nagios plugin output, and text for people. The `smtp-probe` command, the Prometheus exporter and
//! the health endpoint all print through this crate, so a report reads the same wherever it is shown.
//!
//! A probe against a scripted server (the core's simulated-clock harness: no network, no clock), rendered:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use smtp_probe_proto::testing::{expect, send, Harness};
//! use smtp_probe_proto::{ProbeConfig, TlsMode};
//! use smtp_probe_render::{HumanOptions, Item, JsonOptions, NagiosOptions};
//!
//! let config = ProbeConfig::builder("192.0.2.25".parse()?).tls(TlsMode::None).ehlo_name("probe.test").build()?;
//! let script = vec![
//!     send("220 mx.test ESMTP\r\n"),
//!     expect("EHLO"),
//!     send("250-mx.test\r\n250 SIZE 1000\r\n"),
//!     expect("QUIT"),
//!     send("221 Bye\r\n"),
//! ];
//! let report = Harness::new(config, Instant::now(), script).run();
//! let items = [Item::from(&report)];
//! let now = report.started_at + Duration::from_secs(1); // renderers read no clock: `now` is an argument
//!
//! let metrics = smtp_probe_render::prometheus(&items, now);
//! assert!(metrics.contains("smtp_probe_up{target=\"192.0.2.25:25\"} 1\n"));
//! let openmetrics = smtp_probe_render::openmetrics(&items, now);
//! assert!(openmetrics.ends_with("# EOF\n"));
//!
//! let nagios = smtp_probe_render::nagios(&items, &NagiosOptions::default());
//! assert!(nagios.starts_with("SMTP OK - 192.0.2.25:25 up, "));
//!
//! let human = smtp_probe_render::human(&items, &HumanOptions { color: false, verbose: 0, transcript: false });
//! assert!(human.starts_with("192.0.2.25:25  UP  in "));
//!
//! let json: serde_json::Value = serde_json::from_str(&smtp_probe_render::json(&items, &JsonOptions::default()))?;
//! assert_eq!(json["verdict"], "up");
//! assert_eq!(json["target"], report.target); // `host:port`, in every format
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The API is a function per format, each taking a slice of [`Item`]s (a target's
//! [`Report`](smtp_probe_proto::Report), an MX domain's [`MxReport`](smtp_probe_proto::mx::MxReport) or a round
//! trip's [`RoundTripReport`](smtp_probe_proto::RoundTripReport)) and what that format needs besides:
//!
//! | function | feature | output |
//! | --- | --- | --- |
// A function or module that its feature leaves out is named, not linked (a cfg_attr pair per line).
#![cfg_attr(
    feature = "json",
    doc = "| [`json`] | `json` | the documented JSON shape: the core's serialization, an object or an array |"
)]
#![cfg_attr(
    not(feature = "json"),
    doc = "| `json` | `json` | the documented JSON shape: the core's serialization, an object or an array |"
)]
#![cfg_attr(
    feature = "prometheus",
    doc = "| [`prometheus`], [`openmetrics`] | `prometheus` | the [metric vocabulary](metrics) as exposition text; certificate lifetimes counted from `now` |"
)]
#![cfg_attr(
    not(feature = "prometheus"),
    doc = "| `prometheus`, `openmetrics` | `prometheus` | the metric vocabulary as exposition text; certificate lifetimes counted from `now` |"
)]
#![cfg_attr(
    feature = "nagios",
    doc = "| [`nagios`], [`nagios_unknown`] | `nagios` | a plugin status line with perfdata, then long output |"
)]
#![cfg_attr(
    not(feature = "nagios"),
    doc = "| `nagios`, `nagios_unknown` | `nagios` | a plugin status line with perfdata, then long output |"
)]
#![cfg_attr(
    feature = "human",
    doc = "| [`human`] | `human` | blocks for people, verdict first, with or without ANSI colour |"
)]
#![cfg_attr(
    not(feature = "human"),
    doc = "| `human` | `human` | blocks for people, verdict first, with or without ANSI colour |"
)]
//!
//! Every feature is on by default. Server-controlled text is data: the human and Nagios renderers write it through
//! [`escape`] (exported for log lines too), so no ESC, BEL or bare CR a server sends reaches a terminal; JSON keeps
//! the exact text, escaped by JSON.
#![cfg_attr(
    feature = "prometheus",
    doc = "Services write their own counters with [`Exposition`] and [`metrics`], in the same formats and vocabulary as the reports."
)]
#![cfg_attr(
    not(feature = "prometheus"),
    doc = "Services write their own counters with `Exposition` and `metrics` (feature `prometheus`), in the same formats and vocabulary as the reports."
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

use std::time::Duration;
#[cfg(feature = "prometheus")]
use std::time::SystemTime;

mod escape;
#[cfg(feature = "prometheus")]
mod exposition;
#[cfg(feature = "human")]
mod human;
mod item;
#[cfg(feature = "json")]
mod json;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod metrics;
#[cfg(feature = "nagios")]
mod nagios;
#[cfg(feature = "prometheus")]
mod prometheus;

pub use escape::{escape, escape_bytes, truncate};
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use exposition::{Exposition, ExpositionFormat, Family, Samples};
#[cfg(feature = "human")]
#[cfg_attr(docsrs, doc(cfg(feature = "human")))]
pub use human::{HumanOptions, MAX_REPLY_CHARS};
pub use item::{Item, MxHost, worst_verdict};
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use json::JsonOptions;
#[cfg(feature = "nagios")]
#[cfg_attr(docsrs, doc(cfg(feature = "nagios")))]
pub use nagios::{MAX_ITEM_CHARS, MAX_LINE_CHARS, NagiosOptions};

/// The items as JSON, ending with a newline: one object for one item, an array for several (or always an array,
/// with [`JsonOptions::array`]). Each object is exactly the core's serialization of the report, as its
/// `JSON-SCHEMA.md` documents; a report carries its transcript when the probe recorded one.
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub fn json(items: &[Item<'_>], options: &JsonOptions) -> String {
    json::render(items, options)
}

/// The items' metrics in the Prometheus text format (0.0.4): the probe metrics of every report, then the
/// aggregate metrics of every MX domain, then the metrics of every round trip (see [`metrics`]). `now` is the wall-clock time certificate lifetimes
/// are counted from (`smtp_probe_tls_certificate_remaining_seconds`).
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub fn prometheus(items: &[Item<'_>], now: SystemTime) -> String {
    prometheus::render(items, now, ExpositionFormat::Prometheus)
}

/// The same metrics as [`prometheus`], in OpenMetrics 1.0 text: with units, the info type, and `# EOF`.
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub fn openmetrics(items: &[Item<'_>], now: SystemTime) -> String {
    prometheus::render(items, now, ExpositionFormat::OpenMetrics)
}

/// The metrics in the format given: what a `/metrics` or `/probe` handler serves after
/// [`ExpositionFormat::negotiate`].
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub fn exposition(items: &[Item<'_>], now: SystemTime, format: ExpositionFormat) -> String {
    prometheus::render(items, now, format)
}

/// Nagios plugin output: `SMTP <STATE> - <text>|<perfdata>`, then long output lines. The state follows the
/// worst verdict (OK, WARNING, CRITICAL); with no items it is UNKNOWN.
#[cfg(feature = "nagios")]
#[cfg_attr(docsrs, doc(cfg(feature = "nagios")))]
pub fn nagios(items: &[Item<'_>], options: &NagiosOptions) -> String {
    nagios::render(items, options)
}

/// The Nagios status line of a check that could not run: `SMTP UNKNOWN - <message>`, without performance data,
/// the message escaped and cut as server text is.
///
/// ```
/// assert_eq!(smtp_probe_render::nagios_unknown("bad -t: 1e19"), "SMTP UNKNOWN - bad -t: 1e19\n");
/// ```
#[cfg(feature = "nagios")]
#[cfg_attr(docsrs, doc(cfg(feature = "nagios")))]
pub fn nagios_unknown(message: &str) -> String {
    nagios::unknown(message)
}

/// Text for people: a block per report, verdict first, then phases, TLS and certificate, capabilities and
/// findings (a round trip as a story: login, submission, acceptance, delivery, hops, authentication); a tally
/// when there are several items.
#[cfg(feature = "human")]
#[cfg_attr(docsrs, doc(cfg(feature = "human")))]
pub fn human(items: &[Item<'_>], options: &HumanOptions) -> String {
    human::render(items, options)
}

/// Whether colour suits standard output: a terminal, and `NO_COLOR` unset or empty (<https://no-color.org>).
#[cfg(feature = "human")]
#[cfg_attr(docsrs, doc(cfg(feature = "human")))]
pub fn color_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A duration in milliseconds, rounded to the microsecond.
#[cfg_attr(not(any(feature = "human", feature = "nagios")), allow(dead_code))]
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
