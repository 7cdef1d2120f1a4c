//! `smtp-probe-monitor --demo`, as a user runs it: the binary prints the status page's URL, the page lists the
//! demo's monitors, the bundled server's check comes out up and the scripted faults do not, `/probe` answers for
//! the demo module, and SIGTERM stops it with its state directory removed.

#![cfg(all(unix, feature = "demo"))]

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::web::get;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_its_status_page_and_stops_cleanly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtp-probe-monitor"))
        .args(["--demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let lines: Vec<String> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().take(3).map(|l| l.expect("stdout")).collect()
    })
    .await
    .unwrap();
    let url = lines[0]
        .strip_prefix("smtp-probe-monitor demo: status page on ")
        .unwrap_or_else(|| panic!("the first line names the URL: {lines:?}"));
    let addr: SocketAddr = url.strip_prefix("http://").and_then(|r| r.strip_suffix('/')).unwrap().parse().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{url}");
    let probe = lines[1].split_whitespace().find(|w| w.contains("/probe?")).expect("a /probe example").to_owned();
    let state_dir = PathBuf::from(
        lines[2].strip_prefix("  state in ").and_then(|r| r.split(" (").next()).expect("the state directory"),
    );
    assert!(state_dir.is_dir(), "{}", state_dir.display());

    // Every monitor has been checked once (the first checks are spread over the 15 s interval).
    let mut monitors = serde_json::Value::Null;
    support::wait_for(Duration::from_secs(40), "every demo monitor checked", async || {
        monitors = get(addr, "/api/v1/monitors").await.json();
        monitors["monitors"]
            .as_array()
            .is_some_and(|l| l.len() == 6 && l.iter().all(|m| m["checks"].as_u64() > Some(0)))
    })
    .await;
    let state = |name: &str| {
        let list = monitors["monitors"].as_array().unwrap();
        let m = list.iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("{name} in {monitors}"));
        m["last_check"]["status"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(state("Inbound MX 1"), "up", "the bundled server takes mail: {monitors}");
    assert_eq!(state("Inbound MX 2 (busy)"), "degraded", "a 421 greeting is try-later");
    assert_eq!(state("Old MX (decommissioned)"), "down", "a 554 greeting is down");

    let page = get(addr, "/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<h1>Demo mail status</h1>"));
    for name in ["Inbound MX 1", "Submission (slow)", "Outbound relay (flaky)", "Old MX (decommissioned)"] {
        assert!(page.body.contains(name), "{name} on the page");
    }
    assert!(!page.body.contains("<script"), "the old MX's markup is shown as text");

    let path = probe.strip_prefix(url.trim_end_matches('/')).expect("the /probe example is on the same address");
    let metrics = get(addr, path).await;
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(
        metrics.body.lines().any(|l| l.starts_with("smtp_probe_verdict{") && l.ends_with("verdict=\"up\"} 1")),
        "{}",
        metrics.body
    );

    let pid = running.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut running = running;
    let code = tokio::task::spawn_blocking(move || running.0.wait().unwrap()).await.unwrap();
    assert!(code.success(), "SIGTERM is a clean stop: {code:?}");
    assert!(!state_dir.exists(), "the state directory is removed at exit");
}
