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
