//! Shared by the integration tests: run the built `smtp-probe` binary and read what it said.
#![allow(dead_code)] // each test file uses its own subset

use std::io::Write as _;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use smtp_probe_testserver::TestServer;

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The JSON document on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self:?}"))
    }
}

/// The binary, with no inherited password and no colour preference.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_smtp-probe"));
    command.env_remove("SMTP_PROBE_PASSWORD").env_remove("NO_COLOR");
    command
}

/// Runs the binary with these arguments.
pub fn run(args: &[&str]) -> Run {
    run_command(command().args(args))
}

/// Runs a prepared command.
pub fn run_command(command: &mut Command) -> Run {
    let started = Instant::now();
    let Output { status, stdout, stderr } = command.output().expect("the binary runs");
    Run {
        code: status.code().expect("exited, not killed"),
        stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
        elapsed: started.elapsed(),
    }
}

/// `127.0.0.1:<port>` of a test server.
pub fn target(server: &TestServer) -> String {
    server.addr().to_string()
}

/// Runs with `--format json` added and checks the verdict, cause and exit code; returns the report.
#[track_caller]
pub fn expect(args: &[&str], verdict: &str, cause: Option<&str>, code: i32) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let run = run(&all);
    let report = run.json();
    assert_eq!(report["verdict"], verdict, "{run:#?}");
    assert_eq!(report["cause"].as_str(), cause, "{run:#?}");
    assert_eq!(run.code, code, "{run:#?}");
    report
}

/// A temporary file holding this text (kept while the handle lives).
pub fn temp_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write temp file");
    file
}

/// The phase names of a JSON report, in order.
pub fn phases(report: &Value) -> Vec<String> {
    report["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap().to_owned()).collect()
}

/// The Nagios plugin output grammar (plugin development guidelines): the status line
/// `SMTP <STATE> - <text>|<perfdata>`, and each perfdata item `'label'=value[UOM];[warn];[crit];[min];[max]`.
pub struct NagiosGrammar {
    /// Captures the state, the text and the perfdata of a status line.
    pub status: regex::Regex,
    /// The whole perfdata part: items separated by single spaces.
    pub perfdata: regex::Regex,
    /// One item; captures label, value, unit, warn, crit, min, max.
    pub item: regex::Regex,
}

impl NagiosGrammar {
    pub fn new() -> NagiosGrammar {
        let number = r"-?[0-9]+(?:\.[0-9]+)?";
        let range = format!(r"(?:@?(?:~|{number})?:?(?:{number})?)");
        let item = format!(
            r"'((?:[^'=]|'')+)'=({number})(s|ms|us|%|B|KB|MB|TB|c)?;({range});({range});({number})?;({number})?"
        );
        NagiosGrammar {
            status: regex::Regex::new(r"^SMTP (OK|WARNING|CRITICAL|UNKNOWN) - ([^|\n]+)\|(.*)$").unwrap(),
            perfdata: regex::Regex::new(&format!("^{item}(?: {item})*$")).unwrap(),
            item: regex::Regex::new(&item).unwrap(),
        }
    }

    /// Checks a status line against the grammar and returns its state and perfdata labels (asserted unique).
    pub fn check(&self, line: &str) -> (String, Vec<String>) {
        let caps = self.status.captures(line).unwrap_or_else(|| panic!("bad status line: {line:?}"));
        assert!(self.perfdata.is_match(&caps[3]), "bad perfdata in {line}");
        let labels: Vec<String> = self.item.captures_iter(&caps[3]).map(|p| p[1].to_owned()).collect();
        let unique: std::collections::HashSet<_> = labels.iter().collect();
        assert_eq!(unique.len(), labels.len(), "labels are unique: {line}");
        (caps[1].to_owned(), labels)
    }
}
