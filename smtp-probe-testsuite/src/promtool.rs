//! `promtool check metrics` for tests of Prometheus output: one place that finds the tool, runs it, and says why
//! a check was skipped.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on `text` (the tool named by `SMTP_PROBE_PROMTOOL`, else `promtool` on the
/// PATH). `None`, with the reason printed to stderr, when promtool is not installed (the Debian package
/// `prometheus` provides it; `.ci/peers.sh` installs it); `Err` carries promtool's complaint.
pub fn check_metrics(text: &str) -> Option<Result<(), String>> {
    let promtool = std::env::var("SMTP_PROBE_PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    if Command::new(&promtool).arg("--version").output().is_err() {
        eprintln!("skipped promtool check: {promtool} not found (install the Debian package prometheus)");
        return None;
    }
    let run = || -> std::io::Result<std::process::Output> {
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().expect("stdin is piped").write_all(text.as_bytes())?;
        child.wait_with_output()
    };
    Some(match run() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))),
        Err(e) => Err(format!("running {promtool}: {e}")),
    })
}
