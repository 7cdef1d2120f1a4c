//! `monitor`: watches several mail servers and prints a line only when one changes state (its verdict, or the
//! cause of a bad verdict), the way an alerting loop pages on transitions rather than on every check:
//!
//! ```text
//! $ monitor mx1.example.com submission://mail.example.com --interval 300
//! 2026-03-01T10:00:00Z mx1.example.com:25 unknown -> up: up: mx1.example.com answered in 84 ms | 220 mx1.example.com ESMTP
//! 2026-03-01T10:00:00Z mail.example.com:587 unknown -> up: up: mail.example.com answered in 130 ms | 220 ...
//! 2026-03-01T10:25:00Z mx1.example.com:25 up -> down (temporary_failure): down: temporary_failure (greeting): ... | 421 4.3.2 Service shutting down
//! $ monitor --demo --interval 1 --rounds 3        # the bundled loopback demo server
//! ```
//!
//! Each line: the time, the target, the old and new verdict (and the new cause), the probe's summary, and after
//! `|` the server's own text (the reply behind the verdict, else its greeting), control characters escaped (see
//! `smtp_probe_render::escape`) so that one line stays one line. The first round prints every
//! target's initial state. `--rounds N` stops after N rounds (for cron-like use and tests); without it the loop
//! runs until interrupted.
//!
//! Operating advice:
//!
//! - **Probe every few minutes, not every few seconds** (the default interval is 60 s; 300 is plenty for
//!   alerting). Receivers rate-limit and greylist clients that connect too often, and a monitor that gets
//!   itself blocked reports an outage it caused. Each probe is bounded by `--timeout`, and the targets of a
//!   round are probed concurrently, so a round lasts at most one timeout.
//! - Every probe ends with QUIT (the library always sends it when it got to talk), so receivers log a clean
//!   session rather than a dropped connection.
//! - One bad probe is one line; a flapping server prints a line per flap. Debounce (alert after N bad rounds)
//!   belongs in whatever consumes these lines, not in the probe.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use smtp_probe_testserver::demo::Demo;
use smtp_probe_tokio::proto::Cause;
use smtp_probe_tokio::{ProbeConfig, Report, Target, Verdict};

use crate::common::{self, Error, parse_seconds};

/// The probe configuration of each target to watch.
pub type Probes = Vec<ProbeConfig>;

/// The command line of `monitor`.
#[derive(Debug, Clone, Parser)]
#[command(name = "monitor", version, about = "Print a line whenever an SMTP server's state changes")]
pub struct Args {
    /// The mail servers: host or host:port, smtp://host, submission://host (STARTTLS required) or smtps://host.
    #[arg(required_unless_present = "demo")]
    pub targets: Vec<String>,
    /// Seconds between the starts of two rounds (fractions allowed). Minutes, not seconds, in production.
    #[arg(long, default_value = "60", value_parser = parse_seconds)]
    pub interval: Duration,
    /// Seconds one probe may take, DNS and connect included.
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    pub timeout: Duration,
    /// Stop after this many rounds (default: run until interrupted).
    #[arg(long)]
    pub rounds: Option<u64>,
    /// Trust the CAs of this PEM file too (a private CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// The EHLO name (default: this machine's FQDN, else localhost).
    #[arg(long)]
    pub ehlo_name: Option<String>,
    /// Also watch the bundled loopback demo server.
    #[arg(long)]
    pub demo: bool,
}

impl Args {
    /// Validates the arguments into one probe per target; with `--demo`, also starts the demo server (first in
    /// the list), which runs until the returned handle is dropped.
    pub fn probes(&self) -> Result<(Probes, Option<Demo>), Error> {
        let ehlo = self.ehlo_name.clone().unwrap_or_else(smtp_probe_tokio::default_ehlo_name);
        let tls = self.ca_file.as_deref().map(common::tls_config_with_ca_file).transpose()?;
        let build = |builder: smtp_probe_tokio::proto::ProbeConfigBuilder| {
            builder
                .ehlo_name(ehlo.as_str())
                .transcript(false)
                .build()
                .map_err(|e| Error::new(format!("invalid configuration: {e}")))
        };
        let mut probes = Vec::new();
        let demo = if self.demo {
            let (demo, target) = common::start_demo()?;
            probes.push(build(demo.configure(common::builder(target, self.timeout)))?);
            Some(demo)
        } else {
            None
        };
        for text in &self.targets {
            let mut builder = common::builder(common::parse_target(text)?, self.timeout);
            if let Some(tls) = &tls {
                builder = builder.tls_config(tls.clone());
            }
            probes.push(build(builder)?);
        }
        Ok((probes, demo))
    }
}

/// A target's state as far as alerting cares: its verdict and the cause of a bad one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// The verdict.
    pub verdict: Verdict,
    /// The primary cause (`None` when up).
    pub cause: Option<Cause>,
}

impl State {
    /// The state a report shows.
    pub fn of(report: &Report) -> State {
        State { verdict: report.verdict, cause: report.cause }
    }
}

/// The last known state of each target, and the lines its changes make.
#[derive(Debug, Clone, Default)]
pub struct Monitor {
    last: Vec<(Target, State)>,
}

impl Monitor {
    /// A monitor that knows nothing yet: every target's first report is a change from `unknown`.
    pub fn new() -> Monitor {
        Monitor::default()
    }

    /// Records `report` for `target`; returns the line to print when the state changed (`now` is a Unix time).
    pub fn observe(&mut self, target: &Target, report: &Report, now: i64) -> Option<String> {
        let state = State::of(report);
        let previous = match self.last.iter_mut().find(|(t, _)| t == target) {
            Some((_, last)) if *last == state => return None,
            Some((_, last)) => Some(std::mem::replace(last, state)),
            None => {
                self.last.push((target.clone(), state));
                None
            }
        };
        let from = previous.map_or("unknown", |p| p.verdict.as_str());
        let mut line = format!("{} {target} {from} -> {}", smtp_probe_tokio::proto::date::rfc3339(now), state.verdict);
        if let Some(cause) = state.cause {
            line.push_str(&format!(" ({cause})"));
        }
        // The summary and the server's text quote what the server sent: escaped, so that no control character
        // of its reaches a terminal or splits the log line.
        line.push_str(": ");
        line.push_str(&smtp_probe_render::escape(&report.summary()));
        if let Some(text) = common::server_text(report) {
            line.push_str(" | ");
            line.push_str(&smtp_probe_render::escape(&text));
        }
        Some(line)
    }

    /// Probes every target once, concurrently, and writes a line for each change, in target order.
    pub async fn round(&mut self, probes: &[ProbeConfig], out: &mut impl Write) -> std::io::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, config) in probes.iter().enumerate() {
            let config = config.clone();
            tasks.spawn(async move { (index, common::probe_bounded(&config).await) });
        }
        let mut reports: Vec<(usize, Report)> = tasks.join_all().await;
        reports.sort_by_key(|(index, _)| *index);
        let now = common::unix_now();
        for (index, report) in reports {
            if let Some(line) = self.observe(probes[index].target(), &report, now) {
                writeln!(out, "{line}")?;
                out.flush()?;
            }
        }
        Ok(())
    }
}

/// Runs rounds every `interval` (the first at once) until `rounds` have run, or forever.
pub async fn watch(
    probes: &[ProbeConfig],
    interval: Duration,
    rounds: Option<u64>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut monitor = Monitor::new();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut done = 0;
    while rounds.is_none_or(|n| done < n) {
        ticks.tick().await;
        monitor.round(probes, out).await?;
        done += 1;
    }
    Ok(())
}

/// The program: parse, then watch until `--rounds` or Ctrl-C.
pub async fn run(args: Args) -> Result<(), Error> {
    let (probes, _demo) = args.probes()?;
    let mut stdout = std::io::stdout();
    tokio::select! {
        result = watch(&probes, args.interval, args.rounds, &mut stdout) => {
            result.map_err(|e| Error::new(format!("cannot write to stdout: {e}")))
        }
        _ = common::ctrl_c() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_probe_tokio::proto::Phase;

    #[test]
    fn lines_only_on_change() {
        let target = Target::new("mx.example", 25).unwrap();
        let epoch = std::time::SystemTime::UNIX_EPOCH;
        let refused = Report::without_session("mx.example:25", epoch, Cause::ConnectRefused, Phase::Connect, "refused");
        let timeout =
            Report::without_session("mx.example:25", epoch, Cause::ConnectTimeout, Phase::Connect, "no answer");
        let mut monitor = Monitor::new();
        let first = monitor.observe(&target, &refused, 0).unwrap();
        assert!(first.starts_with("1970-01-01T00:00:00Z mx.example:25 unknown -> down (connect_refused): down:"));
        assert_eq!(monitor.observe(&target, &refused, 60), None);
        let changed = monitor.observe(&target, &timeout, 120).unwrap();
        assert!(changed.contains(" down -> down (connect_timeout): "), "{changed}");
        let other = Target::new("mx2.example", 25).unwrap();
        assert!(monitor.observe(&other, &timeout, 120).unwrap().contains("unknown -> down"));
    }

    #[test]
    fn server_text_cannot_break_the_line() {
        let target = Target::new("mx.example", 25).unwrap();
        let mut report = Report::without_session(
            "mx.example:25",
            std::time::SystemTime::UNIX_EPOCH,
            Cause::TemporaryFailure,
            Phase::Greeting,
            "421 \x1b[2Jbusy\r\nforged line\x07",
        );
        report.findings[0].server_text = Some("421 \x1b[2Jbusy\r\nforged line\x07".to_owned());
        let line = Monitor::new().observe(&target, &report, 0).unwrap();
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.ends_with(r" | 421 \x1b[2Jbusy\r\nforged line\x07"), "{line}");
    }
}
