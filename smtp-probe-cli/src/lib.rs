//! `smtp-probe`, the command-line SMTP monitor: can these servers take mail right now?
//!
//! ```text
//! smtp-probe [OPTIONS] [TARGET]...
//! smtp-probe mx.example.com                                   # STARTTLS when offered, human output
//! smtp-probe -H mx.example.com -S -D 21,7 -w 2 -c 5 --format nagios
//! smtp-probe submission://mail.example.com -U me --authpass-file pw -f me@example.com --rcpt you@example.com
//! smtp-probe smtps://mail.example.com mx1.example.com mx2.example.com --format prometheus
//! smtp-probe --mx example.com -D 21,7                          # every MX host of the domain
//! smtp-probe                                                  # probes the bundled loopback demo server
//! smtp-probe roundtrip --submit submission://mail.example.com --imap imaps://imap.example.com \
//!     -U me --authpass-file pw -f me@example.com --rcpt loop@example.com --imap-pass-file imap.pw
//! ```
//!
//! The command is also a library call: this runs the full demo probe (STARTTLS, AUTH, envelope) against the
//! bundled loopback server and prints JSON, exactly as `smtp-probe --format json` does.
//!
//! ```
//! use std::process::ExitCode;
//! let code = smtp_probe_cli::main_with_args(["smtp-probe", "--format", "json"]);
//! assert_eq!(code, ExitCode::SUCCESS); // 0: up
//! ```
//!
//! The options follow check_smtp's where it has them (`-H -p -4 -6 -e -F -f -A -U -P -S -s -D -w -c -t -q -v`);
//! the rest are smtp-probe's own (`--rcpt`, `--send-test-message`, `--tls-name`, `--ca-file`, `--insecure`,
//! `--allow-plaintext-auth`, `--authpass-file`, `--transcript`, `--format`, `--mx`). Several targets are probed
//! concurrently.
//!
//! `--mx DOMAIN` (repeatable, with or without targets) probes every MX host of the domain with the same options,
//! through the tokio adapter's MX mode, and counts by the domain's aggregate verdict. For testing only, the
//! `SMTP_PROBE_DNS_SERVER` environment variable (`IP[:PORT]`) points MX lookups at that one DNS server instead
//! of the system's (see [`mx`]).
//!
//! Every format is rendered by `smtp-probe-render` from the same [`Results`](runner::Results) (the targets'
//! [`Report`](smtp_probe_tokio::Report)s and the MX domains' [`MxReport`](smtp_probe_tokio::MxReport)s), as the
//! exporter and the monitor render theirs, and every format exits the same way: 0 up, 1 degraded, 2 down, 3 could
//! not run (bad arguments included, each reported in one line on stderr, and by `SMTP UNKNOWN - ...` on stdout
//! with `--format nagios`), the worst of several targets and MX domains.
//!
//! At most `--parallel` targets and MX domains (16 by default) are probed at once, so a long list of targets
//! never opens thousands of connections together.
//!
//! `smtp-probe roundtrip` (see [`roundtrip`]) proves that mail flows: it submits a message carrying a unique token,
//! watches the mailbox over IMAP until it arrives (inbox or junk folder) or the deadline passes, deletes it, and
//! reports the delivery time, the hops and the `Authentication-Results`, in every format, with the same exit codes.
//! A target named `roundtrip` is written with its port (`roundtrip:25`); after another target the word is a target.
//!
//! The crate is a thin shell around `smtp-probe-tokio`: [`args`] reads the command line, [`plan`] turns it into
//! validated probe configurations ([`Plan::from_args`](plan::Plan::from_args)), [`runner`] probes (and [`mx`]
//! resolves for `--mx`), [`output`] prints through the renderers, [`status`] maps verdicts to exit codes;
//! [`roundtrip`] does all of that for a round trip.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fmt;
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use smtp_probe_tokio::proto::ConfigError;

pub mod args;
pub mod credentials;
pub mod domain;
pub mod mx;
pub mod output;
pub mod plan;
pub mod roundtrip;
pub mod runner;
pub mod status;
pub mod token;

use args::{Args, Command, Format};
use status::Status;

/// Why the command could not run: it exits 3 (UNKNOWN) with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(String);

impl Failure {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }

    /// A configuration the core refused.
    pub fn config(error: ConfigError) -> Failure {
        Failure(format!("invalid configuration: {error}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// Runs the command with these arguments (the first is the program name) and returns its exit code.
pub fn main_with_args(raw: impl IntoIterator<Item = impl Into<OsString>>) -> ExitCode {
    let raw: Vec<OsString> = raw.into_iter().map(Into::into).collect();
    let args = match Args::try_parse_from(&raw) {
        Ok(args) => args,
        Err(error) => {
            if !error.use_stderr() {
                let _ = error.print(); // --help, --version
                return ExitCode::SUCCESS;
            }
            let rendered = error.to_string();
            let first = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ");
            let format = if wants_nagios(&raw) { Format::Nagios } else { Format::Human };
            return usage_error(format, &format!("{first} (see --help)"));
        }
    };
    let (result, format) = match &args.command {
        Some(Command::Roundtrip(roundtrip)) => (roundtrip::run(roundtrip), roundtrip.format),
        None => (run(&args), args.format),
    };
    match result {
        Ok(status) => status.exit_code(),
        Err(failure) => usage_error(format, &failure.to_string()),
    }
}

/// Reports why the command could not run: one line on stderr, and the Nagios status line on stdout when Nagios
/// output was asked for. Exits 3.
fn usage_error(format: Format, message: &str) -> ExitCode {
    let message = smtp_probe_render::escape(message);
    eprintln!("smtp-probe: {message}");
    if format == Format::Nagios {
        print!("{}", smtp_probe_render::nagios_unknown(&message));
    }
    Status::Unknown.exit_code()
}

/// Plans, probes, prints; returns the worst status.
pub fn run(args: &Args) -> Result<Status, Failure> {
    let plan = plan::Plan::from_args(args)?;
    if let Some(demo) = plan.demo_description() {
        eprintln!("smtp-probe: no TARGET given, probing {demo}");
    }
    let results = runner::probe_all(&plan)?;
    let out = output::render(args, &plan, &results);
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not a probe failure.
    let _ = stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush());
    Ok(results.status())
}

/// Whether the raw arguments ask for Nagios output, so that even a rejected command line prints a status line.
fn wants_nagios(raw: &[OsString]) -> bool {
    let raw: Vec<String> = raw.iter().map(|a| a.to_string_lossy().to_ascii_lowercase()).collect();
    raw.iter().any(|a| a == "--format=nagios") || raw.windows(2).any(|w| w[0] == "--format" && w[1] == "nagios")
}
