//! An OpenMetrics 1.0 check for tests of OpenMetrics output: the strict parser of the reference Python client
//! (`prometheus_client.openmetrics.parser`, Debian package `python3-prometheus-client`), which refuses a missing
//! `# EOF`, a unit that is not the name's suffix, a counter sample without `_total`, interleaved families and
//! duplicate series. (`promtool check metrics` reads only the Prometheus text format: it refuses OpenMetrics'
//! `info` type and takes a counter's `_total` samples for a family of their own.)

use std::io::Write;
use std::process::{Command, Stdio};

/// The Python program: parse stdin, and refuse a series written twice, which the parser lets through (it compares
/// the series as written: name and labels, before the value).
const CHECK: &str = r##"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = sys.stdin.read()
list(text_string_to_metric_families(text))
seen = set()
for line in text.splitlines():
    if line and not line.startswith("#"):
        series = line.rsplit(" ", 1)[0]
        if series in seen:
            sys.exit("duplicate series: " + series)
        seen.add(series)
"##;

/// Checks `text` as OpenMetrics with the interpreter named by `SMTP_PROBE_PYTHON` (default `/usr/bin/python3`,
/// where Debian installs the module). `None`, with the reason printed, when the interpreter or the module is
/// missing; when `SMTP_PROBE_REQUIRE_SERVICES=1` (CI), a missing checker fails the test instead. `Err` carries the
/// parser's complaint.
pub fn check(test: &str, text: &str) -> Option<Result<(), String>> {
    let python = std::env::var("SMTP_PROBE_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".to_owned());
    let available = Command::new(&python)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !available {
        return smtp_probe_testserver::services::skip(
            test,
            "OpenMetrics checker",
            &format!("{python} with prometheus_client: install the Debian package python3-prometheus-client"),
        );
    }
    let run = || -> std::io::Result<std::process::Output> {
        let mut child = Command::new(&python)
            .args(["-c", CHECK])
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
        Err(e) => Err(format!("running {python}: {e}")),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checker_refuses_what_openmetrics_refuses() {
        let Some(valid) = super::check(
            "openmetrics::valid",
            "# TYPE a_seconds gauge\n# UNIT a_seconds seconds\na_seconds 1\n# EOF\n",
        ) else {
            return;
        };
        assert_eq!(valid, Ok(()));
        for invalid in [
            "# TYPE a gauge\na 1\n",                               // no # EOF
            "# TYPE a gauge\n# UNIT a seconds\na 1\n# EOF\n",      // the unit is not the name's suffix
            "# TYPE a counter\na 1\n# EOF\n",                      // a counter sample without _total
            "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n# EOF\n", // the same series twice
        ] {
            assert!(super::check("openmetrics::invalid", invalid).is_some_and(|r| r.is_err()), "{invalid:?}");
        }
    }
}
