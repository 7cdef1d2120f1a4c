//! Every output format, rendered from the same [`Results`]: the targets' [`Report`](smtp_probe_tokio::Report)s and the `--mx` domains'
//! [`MxReport`](smtp_probe_tokio::MxReport)s. One module per format.

use std::io::IsTerminal;
use std::time::Duration;

use smtp_probe_tokio::proto::Thresholds;

use crate::args::Format;
pub use crate::runner::Results;

pub mod human;
pub mod json;
pub mod nagios;
pub mod prometheus;

/// What renderers need besides the reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `-v` count: more detail in human output.
    pub verbose: u8,
    /// Show the transcript (human, Nagios long output) or include it (JSON).
    pub transcript: bool,
    /// ANSI colour in human output.
    pub color: bool,
    /// The thresholds the probes used (Nagios perfdata shows them).
    pub thresholds: Thresholds,
}

/// Renders the results in this format, ending with a newline.
pub fn render(format: Format, results: &Results, options: &Options) -> String {
    match format {
        Format::Human => human::render(results, options),
        Format::Json => json::render(results),
        Format::Nagios => nagios::render(results, options),
        Format::Prometheus => prometheus::render(results),
    }
}

/// Colour only on a terminal, and never when `NO_COLOR` is set to something (<https://no-color.org>).
pub fn color_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A duration in milliseconds, rounded to the microsecond.
pub fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
