//! From results to what is printed: each format is one call into `smtp-probe-render`, the renderers the exporter
//! and the monitor use too. The only clock read for rendering is here (`now`, for certificate lifetimes in
//! metrics).

use std::time::SystemTime;

use smtp_probe_render::{HumanOptions, JsonOptions, NagiosOptions};

use crate::args::{Args, Format};
use crate::plan::Plan;
use crate::runner::Results;

/// The output of a run, ending with a newline.
pub fn render(args: &Args, plan: &Plan, results: &Results) -> String {
    let items = results.items();
    match args.format {
        Format::Human => smtp_probe_render::human(
            &items,
            &HumanOptions {
                color: smtp_probe_render::color_wanted(),
                verbose: args.verbose,
                transcript: args.transcript,
            },
        ),
        Format::Json => smtp_probe_render::json(&items, &JsonOptions { pretty: true, array: false }),
        Format::Nagios => smtp_probe_render::nagios(
            &items,
            &NagiosOptions {
                thresholds: plan.thresholds,
                verbose: args.verbose > 0,
                transcript: args.transcript,
                ..NagiosOptions::default()
            },
        ),
        Format::Prometheus => smtp_probe_render::prometheus(&items, SystemTime::now()),
        Format::Openmetrics => smtp_probe_render::openmetrics(&items, SystemTime::now()),
    }
}
