//! Durability of the real `smtp-probe-monitor run` binary, killed with SIGKILL: the database stays whole
//! (`PRAGMA integrity_check`), every check that finished well before the kill is stored (only checks in flight
//! and the last write batch can be lost), an open incident stays open across restarts (no second "opened", no
//! missed "recovered"), and an alert that was not delivered before the kill is delivered once after it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use smtp_probe_monitor::alert::AlertKind;
use smtp_probe_monitor::clock::Timestamp;
use smtp_probe_monitor::config::StorageConfig;
use smtp_probe_monitor::storage::{AlertQuery, SqlStore, Store};
use support::fast::{DOWN, events, id};
use support::flip::FlipServer;
use support::receiver::{Receiver, free_addr};

fn write_config(dir: &Path, hook: &str, monitors: &[(&str, std::net::SocketAddr)]) -> PathBuf {
    let mut text = format!(
        r#"
[service]
data_dir = "{data}"
instance = "durability"
# A port of its own: the tests of this file run the binary side by side (the default 8080 would be taken by
# the first and stop the second from starting).
listen = "127.0.0.1:0"
[scheduler]
min_host_spacing = "0s"
min_interval = "1s"
[incidents]
open_after = 2
close_after = 2
recheck_after = "200ms"
[alerts]
reminder_every = "off"
[delivery]
retry_initial = "200ms"
retry_max = "1s"
[channels.hook]
type = "webhook"
url = "{hook}"
[defaults]
interval = "1s"
timeout = "900ms"
channels = ["hook"]
"#,
        data = dir.join("data").display()
    );
    for (name, addr) in monitors {
        text.push_str(&format!("[[monitors]]\nname = \"{name}\"\ntarget = \"{addr}\"\ntls = \"none\"\n"));
    }
    let path = dir.join("monitor.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The binary, logging JSON lines (checks at debug) to `log`.
fn spawn(config: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_smtp-probe-monitor"))
        .args(["run", "--config"])
        .arg(config)
        .args(["--log-format", "json"])
        .env("RUST_LOG", "info,smtp_probe_monitor=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start smtp-probe-monitor")
}

/// Waits for the binary's "engine started" line in `log`; a binary that never gets there fails the test with
/// its log, which says why (a slow start under load and an early exit look alike otherwise).
async fn wait_started(log: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while log_lines(log, "monitor engine started") != 1 {
        if tokio::time::Instant::now() > deadline {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("the monitor did not start within 60 s; its log:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn kill9(child: &mut Child) -> Timestamp {
    let at = Timestamp::now();
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    at
}

fn terminate(child: &mut Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    for _ in 0..200 {
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "a clean stop exits 0: {s:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the monitor did not stop on SIGTERM");
}

async fn open(dir: &Path) -> Arc<SqlStore> {
    let path = dir.join("data").join("monitor.db");
    Arc::new(SqlStore::connect(&StorageConfig::Sqlite { path }).await.expect("open the monitor's database"))
}

/// Checks the log says finished before `before` (all of them without a bound).
fn checks_logged(log: &Path, before: Option<Timestamp>) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["span"]["name"] == "check" && v["fields"]["lateness_ms"].is_number())
        .filter(|v| {
            let Some(bound) = before else { return true };
            let ts = v["timestamp"].as_str().unwrap();
            let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).unwrap();
            Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64) < bound
        })
        .count()
}

fn log_lines(log: &Path, text: &str) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.contains(text)).count()
}

async fn stored_results(store: &SqlStore) -> usize {
    let mut n = 0;
    for m in ["mx", "steady 1", "steady 2", "steady 3", "steady 4"] {
        n += store.results(&id(m), None, 10_000).await.unwrap().len();
    }
    n
}

/// Killed at random moments, five times, while one server is down and another up; then a clean run in which
/// the server recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_moment_loses_at_most_the_checks_in_flight() {
    let rx = Receiver::start().await;
    let down = FlipServer::start(false, DOWN).await;
    let steady = FlipServer::start(true, DOWN).await;
    let dir = tempfile::tempdir().unwrap();
    let names = ["steady 1", "steady 2", "steady 3", "steady 4"];
    let mut monitors = vec![("mx", down.addr)];
    monitors.extend(names.iter().map(|n| (*n, steady.addr)));
    let config = write_config(dir.path(), &rx.url("/hook"), &monitors);

    let mut kills = 0;
    let mut finished_before_kills = 0;
    let mut logged_total = 0;
    for round in 0..5 {
        let log = dir.path().join(format!("run-{round}.log"));
        let mut child = spawn(&config, &log);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(1000..4000))).await;
        let killed_at = kill9(&mut child);
        kills += 1;
        // The writer writes every 500 ms and at once on a state change: a check that finished a second before
        // the kill is on disk.
        finished_before_kills += checks_logged(&log, Some(killed_at - Duration::from_secs(1)));
        logged_total += checks_logged(&log, None);

        let store = open(dir.path()).await;
        assert!(store.integrity_check().await.unwrap(), "round {round}: integrity_check");
        let incidents = store.incidents(Some(&id("mx")), None, 10).await.unwrap();
        assert!(incidents.len() <= 1, "round {round}: one incident at most: {incidents:?}");
        let opened = store.alerts(&AlertQuery::default(), 10).await.unwrap();
        assert!(opened.iter().filter(|a| a.alert.kind == AlertKind::Opened).count() <= 1, "round {round}: {opened:?}");
        let stored = stored_results(&store).await;
        assert!(stored >= finished_before_kills, "round {round}: {stored} stored < {finished_before_kills} finished");
        store.close().await;
    }

    let log = dir.path().join("final.log");
    let mut child = spawn(&config, &log);
    support::wait_for(Duration::from_secs(30), "the opened alert", async || {
        events(&rx.accepted_alerts()).contains(&"opened".to_owned())
    })
    .await;
    down.set_up(true);
    support::wait_for(Duration::from_secs(30), "the recovered alert", async || {
        events(&rx.accepted_alerts()).contains(&"recovered".to_owned())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    terminate(&mut child);
    logged_total += checks_logged(&log, None);

    let store = open(dir.path()).await;
    assert!(store.integrity_check().await.unwrap());
    let incidents = store.incidents(Some(&id("mx")), None, 10).await.unwrap();
    assert_eq!(incidents.len(), 1, "one incident across six processes: {incidents:?}");
    assert!(incidents[0].ended.is_some());
    let rows = store.alerts(&AlertQuery::default(), 10).await.unwrap();
    let mut kinds: Vec<_> = rows.iter().map(|r| (r.alert.kind, r.status.clone())).collect();
    kinds.sort_by_key(|(k, _)| k.as_str());
    assert_eq!(
        kinds,
        [(AlertKind::Opened, "delivered".to_owned()), (AlertKind::Recovered, "delivered".to_owned())],
        "no second opened, no missed recovered"
    );
    // At least once: a kill between the receiver's answer and the record of it repeats that message, with
    // the same id. Distinct ids: one each.
    let alerts = rx.accepted_alerts();
    let mut ids: Vec<&str> = alerts.iter().map(|a| a["id"].as_str().unwrap()).collect();
    let received = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "{alerts:#?}");
    assert!(received <= 2 + kills, "repeats only from kills mid-send: {received}");
    let stored = stored_results(&store).await;
    let final_logged = checks_logged(&log, None);
    eprintln!(
        "{kills} kills: {logged_total} checks logged, {finished_before_kills} of them finished a second before a \
         kill, {final_logged} in the clean run; {stored} stored; {received} alert messages received"
    );
    assert!(stored >= finished_before_kills + final_logged, "{stored} < {finished_before_kills} + {final_logged}");
    assert!(stored <= logged_total, "nothing stored that no run checked: {stored} > {logged_total}");
    store.close().await;
}

/// An alert the receiver could not take before the kill is delivered once by the next process; the incident
/// it announced recovers with one "recovered". The failing channel is logged once, not per attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsent_alert_survives_kill_9_and_is_sent_once() {
    let addr = free_addr();
    let down = FlipServer::start(false, DOWN).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &format!("http://{addr}/hook"), &[("mx", down.addr)]);

    let first_log = dir.path().join("first.log");
    let mut child = spawn(&config, &first_log);
    // The binary creates and migrates the database; open it only then.
    wait_started(&first_log).await;
    let store = open(dir.path()).await;
    support::wait_for(Duration::from_secs(30), "failed attempts on the opened alert", async || {
        let rows = store.alerts(&AlertQuery::default(), 10).await.unwrap();
        match rows.iter().find(|r| r.alert.kind == AlertKind::Opened) {
            Some(r) => store.deliveries_of(r.id).await.unwrap().len() >= 3,
            None => false,
        }
    })
    .await;
    kill9(&mut child);
    assert!(store.integrity_check().await.unwrap());
    let row = store.alerts(&AlertQuery::default(), 10).await.unwrap().into_iter().next().unwrap();
    assert!(row.done_at.is_none(), "not delivered before the kill: {row:?}");
    assert_eq!(log_lines(&first_log, "alert channel failing"), 1, "logged once for several failed attempts");
    store.close().await;

    let rx = Receiver::start_on(addr).await;
    let mut child = spawn(&config, &dir.path().join("second.log"));
    support::wait_for(Duration::from_secs(30), "the opened alert", async || !rx.accepted_alerts().is_empty()).await;
    down.set_up(true);
    support::wait_for(Duration::from_secs(30), "the recovered alert", async || rx.accepted_alerts().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    terminate(&mut child);

    assert_eq!(events(&rx.received().iter().flat_map(|r| r.alerts()).collect::<Vec<_>>()), ["opened", "recovered"]);
    let store = open(dir.path()).await;
    assert!(store.integrity_check().await.unwrap());
    let rows = store.alerts(&AlertQuery::default(), 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status == "delivered"), "{rows:?}");
    let opened = rows.iter().find(|r| r.alert.kind == AlertKind::Opened).unwrap();
    let attempts = store.deliveries_of(opened.id).await.unwrap();
    assert!(attempts.len() >= 4, "{attempts:#?}");
    assert!(attempts[..attempts.len() - 1].iter().all(|d| d.status == "failed"));
    assert_eq!(attempts.last().unwrap().status, "delivered");
    let incidents = store.incidents(None, None, 10).await.unwrap();
    assert_eq!(incidents.len(), 1);
    assert!(incidents[0].ended.is_some());
    store.close().await;
}
