//! Maintenance windows and silences end to end, as the receiver sees them: alerts are held while a window
//! covers a monitor (checks go on and the history is marked), and when it ends the monitor gets exactly what
//! the policy says — no second "opened" for an incident people know about, no missed "recovered", one
//! "opened" for an incident that began inside and is still open. Windows start and end by reloading the
//! configuration, so each phase is under the test's control.

mod support;

use std::time::Duration;

use smtp_probe_monitor::clock::Timestamp;
use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::engine::EngineHandle;
use smtp_probe_monitor::maintenance::{MaintenanceWindow, Repeat};
use smtp_probe_monitor::storage::{AlertQuery, SqlStore, Store};
use support::fast::{DOWN, config, events, id, start};
use support::flip::FlipServer;
use support::receiver::{Receiver, free_addr};

fn window() -> MaintenanceWindow {
    MaintenanceWindow {
        name: "upgrade".into(),
        start: Timestamp::now() - Duration::from_secs(1),
        utc_offset_secs: 0,
        duration: Duration::from_secs(3600),
        repeat: Repeat::Once,
        until: None,
        monitors: vec![id("mx")],
        tags: vec![],
    }
}

async fn set_window(engine: &EngineHandle, base: &Config, on: bool) {
    let mut c = base.clone();
    c.maintenance = if on { vec![window()] } else { vec![] };
    engine.reload(c).await.expect("reload");
    // A check sees the change.
    let want = on.then(|| "upgrade".to_owned());
    support::wait_for(Duration::from_secs(10), "a check to see the window change", async || {
        engine.monitor(&id("mx")).unwrap().maintenance == want
    })
    .await;
}

async fn checks(engine: &EngineHandle) -> u64 {
    engine.monitor(&id("mx")).unwrap().checks
}

async fn wait_checks(engine: &EngineHandle, n: u64) {
    let target = checks(engine).await + n;
    support::wait_for(Duration::from_secs(20), "more checks", async || checks(engine).await >= target).await;
}

struct Bed {
    rx: Receiver,
    server: FlipServer,
    store: std::sync::Arc<SqlStore>,
    engine: EngineHandle,
    base: Config,
    _dir: tempfile::TempDir,
}

async fn bed(server_up: bool, window_at_start: bool) -> Bed {
    let rx = Receiver::start().await;
    let server = FlipServer::start(server_up, DOWN).await;
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let channels = format!("[channels.hook]\ntype = \"webhook\"\nurl = \"{}\"\n", rx.url("/hook"));
    let base = config(dir.path(), &[("mx", server.addr)], &channels, &[]);
    let mut first = base.clone();
    if window_at_start {
        first.maintenance = vec![window()];
    }
    let engine = start(first, &store).await;
    Bed { rx, server, store, engine, base, _dir: dir }
}

async fn incident_open(store: &SqlStore) -> bool {
    store.incidents(None, None, 10).await.unwrap().iter().any(|i| i.ended.is_none())
}

/// Announced before the window, recovered inside it: the "recovered" goes out when the window ends, marked as
/// decided during the silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovered_inside_a_window_is_sent_when_it_ends() {
    let b = bed(false, false).await;
    support::wait_for(Duration::from_secs(20), "opened", async || events(&b.rx.accepted_alerts()) == ["opened"]).await;
    set_window(&b.engine, &b.base, true).await;
    b.server.set_up(true);
    support::wait_for(Duration::from_secs(20), "the incident to close", async || {
        b.engine.flush(Duration::from_secs(5)).await;
        !incident_open(&b.store).await
    })
    .await;
    wait_checks(&b.engine, 2).await;
    assert_eq!(events(&b.rx.accepted_alerts()), ["opened"], "held during the window");

    set_window(&b.engine, &b.base, false).await;
    support::wait_for(Duration::from_secs(20), "recovered", async || b.rx.accepted_alerts().len() >= 2).await;
    wait_checks(&b.engine, 2).await;
    let alerts = b.rx.accepted_alerts();
    assert_eq!(events(&alerts), ["opened", "recovered"]);
    assert_eq!(alerts[1]["after_silence"], true);
    assert_eq!(alerts[1]["incident"]["started"], alerts[0]["incident"]["started"]);

    let marks = b.store.maintenance_marks(Some(&id("mx")), 10).await.unwrap();
    assert_eq!(marks.len(), 1, "{marks:?}");
    assert_eq!(marks[0].window, "upgrade");
    assert!(marks[0].ended.is_some(), "the mark is closed when the window ends");
    b.engine.shutdown(Duration::from_secs(5)).await;
}

/// Opened inside the window and still down when it ends: one "opened" then, and the "recovered" later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_inside_a_window_and_still_down_is_announced_once_when_it_ends() {
    let b = bed(true, true).await;
    wait_checks(&b.engine, 2).await;
    b.server.set_up(false);
    support::wait_for(Duration::from_secs(20), "the incident to open", async || {
        b.engine.flush(Duration::from_secs(5)).await;
        incident_open(&b.store).await
    })
    .await;
    wait_checks(&b.engine, 2).await;
    assert!(b.rx.received().is_empty(), "nothing during the window");
    assert!(b.store.alerts(&AlertQuery::default(), 10).await.unwrap().is_empty(), "nothing queued either");

    set_window(&b.engine, &b.base, false).await;
    support::wait_for(Duration::from_secs(20), "opened", async || !b.rx.accepted_alerts().is_empty()).await;
    wait_checks(&b.engine, 3).await;
    let alerts = b.rx.accepted_alerts();
    assert_eq!(events(&alerts), ["opened"], "once");
    assert_eq!(alerts[0]["after_silence"], true);

    b.server.set_up(true);
    support::wait_for(Duration::from_secs(20), "recovered", async || b.rx.accepted_alerts().len() >= 2).await;
    let alerts = b.rx.accepted_alerts();
    assert_eq!(events(&alerts), ["opened", "recovered"]);
    assert_eq!(alerts[1]["after_silence"], false, "recovered outside any window");
    b.engine.shutdown(Duration::from_secs(5)).await;
}

/// Down and announced before the window, down through it and after: no second "opened" when it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_through_a_window_is_not_announced_again() {
    let b = bed(false, false).await;
    support::wait_for(Duration::from_secs(20), "opened", async || events(&b.rx.accepted_alerts()) == ["opened"]).await;
    set_window(&b.engine, &b.base, true).await;
    wait_checks(&b.engine, 3).await;
    set_window(&b.engine, &b.base, false).await;
    wait_checks(&b.engine, 4).await;
    assert_eq!(events(&b.rx.accepted_alerts()), ["opened"], "no duplicate after the window");
    assert_eq!(b.store.alerts(&AlertQuery::default(), 10).await.unwrap().len(), 1);
    assert_eq!(b.store.incidents(None, None, 10).await.unwrap().len(), 1, "one incident throughout");

    b.server.set_up(true);
    support::wait_for(Duration::from_secs(20), "recovered", async || b.rx.accepted_alerts().len() >= 2).await;
    assert_eq!(events(&b.rx.accepted_alerts()), ["opened", "recovered"]);
    b.engine.shutdown(Duration::from_secs(5)).await;
}

/// The monitor's own network in doubt (every canary fails): one "monitor offline" reaches the receiver instead
/// of an alert per monitor; when a canary passes again, "monitor online" follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_down_send_one_offline_alert_instead_of_a_storm() {
    let rx = Receiver::start().await;
    let canary = FlipServer::start(false, DOWN).await;
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let channels = format!("[channels.hook]\ntype = \"webhook\"\nurl = \"{}\"\n", rx.url("/hook"));
    let (a, b2) = (free_addr(), free_addr());
    let mut cfg = config(dir.path(), &[("canary", canary.addr), ("customer a", a), ("customer b", b2)], &channels, &[]);
    for m in &mut cfg.monitors {
        m.canary = m.name == "canary";
        m.incident.confirm = false;
        m.incident.open_after = if m.canary { 1 } else { 3 };
    }
    let engine = start(cfg, &store).await;
    support::wait_for(Duration::from_secs(20), "monitor_offline", async || {
        events(&rx.accepted_alerts()).contains(&"monitor_offline".to_owned())
    })
    .await;
    support::wait_for(Duration::from_secs(20), "several checks of the customers", async || {
        engine.monitor(&id("customer a")).unwrap().checks >= 4
    })
    .await;
    let alerts = rx.accepted_alerts();
    let customers: Vec<_> =
        alerts.iter().filter(|a| a["monitor"]["id"].as_str().is_some_and(|m| m.starts_with("customer"))).collect();
    assert!(customers.is_empty(), "no alert per customer while offline: {customers:?}");
    let offline = alerts.iter().find(|a| a["event"] == "monitor_offline").unwrap();
    assert!(offline["monitor"].is_null());
    assert!(offline["summary"].as_str().unwrap().starts_with("MONITOR OFFLINE: alerts-test"));

    canary.set_up(true);
    support::wait_for(Duration::from_secs(20), "monitor_online", async || {
        events(&rx.accepted_alerts()).contains(&"monitor_online".to_owned())
    })
    .await;
    engine.shutdown(Duration::from_secs(5)).await;
}
