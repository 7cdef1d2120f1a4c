//! The engine end to end: real checks against the test server's scripted faults and the loopback Postfix,
//! stored in SQLite or PostgreSQL.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use smtp_probe_monitor::check::Status;
use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::engine::{Engine, EngineHandle, EngineOptions};
use smtp_probe_monitor::events::Event;
use smtp_probe_monitor::id::MonitorId;
use smtp_probe_monitor::incident::State;
use smtp_probe_monitor::storage::writer::WriterConfig;
use smtp_probe_monitor::storage::{SqlStore, Store};
use smtp_probe_testserver::{Responder, Script, ServerBuilder, TestServer};

fn ok_script() -> Script {
    Script::new().reply("220 mx.test ESMTP").expect("EHLO").reply("250 mx.test").expect("QUIT").reply("221 2.0.0 Bye")
}

fn down_script() -> Script {
    Script::new().reply("554 5.3.2 mx.test is not accepting mail").expect_line().reply("221 2.0.0 Bye")
}

/// A configuration for fast tests: intervals of 1 s (below the file format's minimum, set after parsing) and
/// re-checks after 200 ms.
fn config(storage: &str, monitors: &[(&str, String)], extra: &str) -> Config {
    let mut text = format!(
        "{storage}\n[service]\ninstance = \"test\"\n[scheduler]\nmin_host_spacing = \"0s\"\n\
         [incidents]\nopen_after = 2\nclose_after = 2\n[channels.ops]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n\
         [defaults]\nchannels = [\"ops\"]\ntimeout = \"5s\"\n{extra}\n"
    );
    for (name, target) in monitors {
        text.push_str(&format!("[[monitors]]\nname = \"{name}\"\ntarget = \"{target}\"\ntls = \"none\"\n"));
    }
    let env = |name: &str| std::env::var(name).ok();
    let mut c = Config::from_toml_with_env(&text, Path::new("."), &env).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for m in &mut c.monitors {
        m.interval = Duration::from_secs(1);
        m.incident.recheck_after = Duration::from_millis(200);
    }
    c
}

fn sqlite(dir: &Path) -> String {
    format!("[storage]\nkind = \"sqlite\"\npath = \"{}\"", dir.join("monitor.db").display())
}

fn options() -> EngineOptions {
    EngineOptions {
        writer: WriterConfig { flush_every: Duration::from_millis(100), ..WriterConfig::default() },
        ..EngineOptions::default()
    }
}

async fn start(config: Config, store: &Arc<SqlStore>) -> EngineHandle {
    Engine::start_with_store(config, support::dyn_store(store), options()).await.expect("engine starts")
}

fn id(s: &str) -> MonitorId {
    MonitorId::from_name(s).unwrap()
}

async fn outbox_kinds(store: &Arc<SqlStore>) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = store.outbox_summary().await.unwrap().into_iter().map(|(k, _, n)| (k, n)).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_fails_and_recovers_gives_one_incident_and_two_alerts() {
    // Check 1 passes; 2 fails and its re-check confirms; 3 fails and its re-check confirms: the incident opens
    // (open_after = 2). Then two passes close it (close_after = 2).
    let mut scripts = vec![ok_script(), down_script(), down_script(), down_script(), down_script()];
    scripts.extend(std::iter::repeat_n(ok_script(), 40));
    let server = smtp_probe_testserver::start(scripts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let engine = start(config(&sqlite(dir.path()), &[("mx", server.addr().to_string())], ""), &store).await;
    let mut events = engine.subscribe();

    support::wait_for(Duration::from_secs(40), "the incident to open and recover", async || {
        engine.flush(Duration::from_secs(5)).await;
        store.incidents(None, None, 10).await.unwrap().iter().any(|i| i.ended.is_some())
    })
    .await;
    engine.flush(Duration::from_secs(5)).await;

    let incidents = store.incidents(None, None, 10).await.unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let incident = &incidents[0];
    assert_eq!(incident.severity, "down");
    assert_eq!(incident.cause.as_deref(), Some("greeting_rejected"));
    assert!(incident.server_text.as_deref().unwrap().contains("554 5.3.2 mx.test is not accepting mail"));
    assert_eq!(outbox_kinds(&store).await, [("opened".into(), 1), ("recovered".into(), 1)]);

    // The incident starts at the first failed check, not at its confirmation.
    let mut results = store.results(&id("mx"), None, 100).await.unwrap();
    results.reverse();
    let first_failure = results.iter().find(|r| r.status == Status::Down).unwrap();
    assert!(!first_failure.recheck);
    assert_eq!(incident.started, first_failure.at);
    assert_eq!(results.iter().filter(|r| r.recheck).count(), 2, "each failure was re-checked before it counted");
    assert!(results[0].phases.iter().any(|p| p.phase == "greeting"));
    assert_eq!(results[0].reply_codes, [220, 250, 221]);

    // The rollups have the time: some down, mostly up, and response times.
    let figures = engine.figures(&id("mx"), smtp_probe_monitor::clock::Timestamp::now()).await.unwrap();
    let day = &figures[0];
    assert!(day.time.down_ms > 0 && day.time.up_ms > 0, "{day:?}");
    assert!(day.availability.unwrap() < 1.0);
    assert!(day.p50_ms.is_some());
    assert_eq!(day.incidents, 1);
    assert!(day.mttr_secs.unwrap() > 0.0);

    // The event stream saw the decisions.
    let mut saw_check = false;
    while let Ok(e) = events.try_recv() {
        saw_check |= matches!(e, Event::Check { .. });
    }
    assert!(saw_check);
    assert_eq!(engine.monitor(&id("mx")).unwrap().state, State::Up);
    engine.shutdown(Duration::from_secs(5)).await;
    assert!(store.integrity_check().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blip_that_passes_its_recheck_is_no_incident() {
    let mut scripts = vec![ok_script(), down_script()];
    scripts.extend(std::iter::repeat_n(ok_script(), 40));
    let server = smtp_probe_testserver::start(scripts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let engine = start(config(&sqlite(dir.path()), &[("mx", server.addr().to_string())], ""), &store).await;
    support::wait_for(Duration::from_secs(20), "five checks", async || engine.monitor(&id("mx")).unwrap().checks >= 5)
        .await;
    engine.shutdown(Duration::from_secs(5)).await;
    assert!(store.incidents(None, None, 10).await.unwrap().is_empty());
    assert!(outbox_kinds(&store).await.is_empty());
    let results = store.results(&id("mx"), None, 100).await.unwrap();
    assert!(results.iter().any(|r| r.recheck && r.status == Status::Up), "the failure was re-checked");
}

/// Kill the engine while a server is down (after its "opened" is stored), start another on the same file with
/// the server back: the incident stays one, "opened" is not repeated, "recovered" is not missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_open_incident() {
    let down = ServerBuilder::new(down_script()).start().unwrap();
    let addr = down.addr();
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let cfg = config(&sqlite(dir.path()), &[("mx", addr.to_string())], "");
    let first = start(cfg.clone(), &store).await;
    support::wait_for(Duration::from_secs(20), "the incident to open", async || {
        first.flush(Duration::from_secs(5)).await;
        outbox_kinds(&store).await == [("opened".to_string(), 1)]
    })
    .await;
    first.abort(); // as a crash: no shutdown, no lease release
    drop(down);

    let up = start_on(addr, Responder::new());
    let second = start(cfg, &store).await;
    assert_eq!(second.monitor(&id("mx")).unwrap().state, State::Down, "resumed from storage before any check");
    support::wait_for(Duration::from_secs(20), "the incident to recover", async || {
        second.flush(Duration::from_secs(5)).await;
        store.incidents(None, None, 10).await.unwrap().iter().all(|i| i.ended.is_some())
    })
    .await;
    second.shutdown(Duration::from_secs(5)).await;
    assert_eq!(store.incidents(None, None, 10).await.unwrap().len(), 1);
    assert_eq!(outbox_kinds(&store).await, [("opened".into(), 1), ("recovered".into(), 1)]);
    assert!(store.integrity_check().await.unwrap());
    drop(up);
}

/// A server on a given address (the port of one that was just stopped).
fn start_on(addr: std::net::SocketAddr, responder: Responder) -> TestServer {
    for _ in 0..50 {
        if let Ok(s) = ServerBuilder::new(responder.clone()).bind(addr).start() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("cannot bind {addr} again");
}

/// A locked database does not stop checks: health shows the fault, results are held, and written once the
/// lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_does_not_stop_checks() {
    use sqlx::Connection;
    let server = Responder::new().start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let engine = start(config(&sqlite(dir.path()), &[("mx", server.addr().to_string())], ""), &store).await;
    support::wait_for(Duration::from_secs(10), "a first write", async || engine.storage_health().written_results >= 1)
        .await;

    let url = format!("sqlite://{}", dir.path().join("monitor.db").display());
    let mut locker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut locker).await.unwrap();
    let before = engine.monitor(&id("mx")).unwrap().checks;
    support::wait_for(Duration::from_secs(15), "health to report the fault", async || !engine.storage_health().ok)
        .await;
    let health = engine.storage_health();
    assert!(health.error.as_deref().unwrap().contains("locked"), "{health:?}");
    support::wait_for(Duration::from_secs(10), "checks to go on", async || {
        engine.monitor(&id("mx")).unwrap().checks >= before + 2
    })
    .await;
    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    drop(locker);

    support::wait_for(Duration::from_secs(20), "writing to resume", async || {
        let h = engine.storage_health();
        h.ok && h.backlog == 0
    })
    .await;
    engine.shutdown(Duration::from_secs(5)).await;
    let checks = engine.monitor(&id("mx")).unwrap().checks;
    let stored = store.results(&id("mx"), None, 10_000).await.unwrap().len() as u64;
    assert_eq!(stored, checks, "nothing lost while the database was locked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loopback_postfix_is_up_with_verified_tls() {
    let env = "/var/tmp/smtp-probe-postfix/env";
    let Some(port) = support::require("SMTP_PROBE_POSTFIX_PLAIN_PORT", env, ".ci/postfix.sh") else { return };
    let ca = support::service_var("SMTP_PROBE_POSTFIX_CA", env).unwrap();
    let sub = support::service_var("SMTP_PROBE_POSTFIX_SUBMISSION_PORT", env).unwrap();
    let user = support::service_var("SMTP_PROBE_POSTFIX_USER", env).unwrap();
    let password = support::service_var("SMTP_PROBE_POSTFIX_PASSWORD", env).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let mut text = format!(
        "{}\n[service]\ninstance = \"pf\"\n[scheduler]\nmin_host_spacing = \"0s\"\n\
         [[monitors]]\nname = \"postfix mx\"\ntarget = \"smtp://127.0.0.1:{port}\"\ntls = \"required\"\n\
         tls_name = \"mx.test\"\nca_file = \"{ca}\"\nexpect = {{ capabilities = [\"PIPELINING\"] }}\n\
         [[monitors]]\nname = \"postfix submission\"\ntarget = \"submission://127.0.0.1:{sub}\"\ntls_name = \"mx.test\"\n\
         ca_file = \"{ca}\"\nauth = {{ username = \"{user}\", password_env = \"PF_PASSWORD\" }}\n\
         envelope = {{ from = \"{user}\", to = [\"postmaster@mx.test\"] }}\n",
        sqlite(dir.path())
    );
    text.push('\n');
    let env_lookup = |n: &str| (n == "PF_PASSWORD").then(|| password.clone());
    let mut cfg = Config::from_toml_with_env(&text, Path::new("."), &env_lookup).unwrap();
    for m in &mut cfg.monitors {
        m.interval = Duration::from_secs(1);
    }
    let engine = start(cfg, &store).await;
    for name in ["postfix mx", "postfix submission"] {
        support::wait_for(Duration::from_secs(20), "a check", async || engine.monitor(&id(name)).unwrap().checks >= 1)
            .await;
        let snap = engine.monitor(&id(name)).unwrap();
        let last = snap.last_check.unwrap();
        assert_eq!(last.status, Status::Up, "{name}: {}", last.summary);
        assert!(last.tls_version.is_some() && last.cert_days_left.unwrap() > 0, "{last:?}");
        assert!(last.server_text.as_deref().unwrap().contains("ESMTP"), "{last:?}");
    }
    engine.shutdown(Duration::from_secs(5)).await;
    assert!(store.results(&id("postfix submission"), None, 10).await.unwrap().iter().all(|r| r.status == Status::Up));
}

/// Two instances on one PostgreSQL: one holds the leases and checks; the other checks nothing. Kill the
/// holder: the other takes over, continues the open incident (no second "opened"), and checks go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_monitors_by_lease() {
    let Some(base) = support::pg_url() else { return };
    let db = support::PgDatabase::create(&base).await;
    let server = Responder::new().start().unwrap();
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let monitors =
        [("up-1", server.addr().to_string()), ("up-2", server.addr().to_string()), ("dead", refused.to_string())];
    let make = |instance: &str| {
        // Parsed with a placeholder store, then pointed at the test database.
        let mut c = config("", &monitors, "[lease]\nttl = \"3s\"\nrenew_every = \"1s\"");
        c.storage = support::pg_config(&db.url);
        c.service.instance = instance.to_owned();
        c
    };
    let store_a = support::pg_store(&db.url).await;
    let store_b = support::pg_store(&db.url).await;
    let a = start(make("a"), &store_a).await;
    support::wait_for(Duration::from_secs(10), "a to hold every lease", async || a.scheduler_stats().owned == 3).await;
    let b = start(make("b"), &store_b).await;
    support::wait_for(Duration::from_secs(20), "the dead server's incident", async || {
        a.flush(Duration::from_secs(5)).await;
        outbox_kinds(&store_a).await == [("opened".to_string(), 1)]
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.scheduler_stats().owned, 0, "b holds nothing while a renews");
    assert_eq!(b.scheduler_stats().started, 0, "b checked nothing: no double checks");
    let checks_by_a = a.monitor(&id("up-1")).unwrap().checks;

    a.abort(); // killed: its leases expire, nobody releases them
    support::wait_for(Duration::from_secs(15), "b to take over", async || b.scheduler_stats().owned == 3).await;
    assert_eq!(b.monitor(&id("dead")).unwrap().state, State::Down, "b continues a's incident");
    support::wait_for(Duration::from_secs(15), "b's checks", async || b.monitor(&id("up-1")).unwrap().checks >= 3)
        .await;
    b.flush(Duration::from_secs(5)).await;
    assert_eq!(store_b.incidents(None, None, 10).await.unwrap().len(), 1, "one incident, whichever instance saw it");
    assert_eq!(outbox_kinds(&store_b).await, [("opened".into(), 1)], "no second opened after the takeover");
    let stored = store_b.results(&id("up-1"), None, 1000).await.unwrap();
    let by_b = b.monitor(&id("up-1")).unwrap().checks;
    assert!(stored.len() as u64 >= checks_by_a + by_b - 1, "a's flushed results and b's are all there");
    let mut ats: Vec<_> = stored.iter().filter(|r| !r.recheck).map(|r| r.at.0).collect();
    ats.sort();
    assert!(ats.windows(2).all(|w| w[1] - w[0] >= 500), "never two regular checks of one monitor at once: {ats:?}");
    b.shutdown(Duration::from_secs(5)).await;
    store_a.close().await;
    store_b.close().await;
}

/// `mx:` monitors: every MX host of a domain, through the configured DNS server. The MX hosts are on loopback,
/// which a name from DNS may not point a probe at unless the configuration allows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_monitors_check_every_host_of_a_domain() {
    let world = smtp_probe_testserver::dns::MxWorld::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, world.pki.ca_pem()).unwrap();
    let text = format!(
        "{}\n[service]\ninstance = \"mx\"\ndns_server = \"{}\"\n[scheduler]\nmin_host_spacing = \"0s\"\n\
         [defaults]\nca_file = \"{}\"\nallow_addresses = [\"127.0.0.0/8\"]\n\
         [[monitors]]\nname = \"two\"\ntarget = \"mx:two.test:{port}\"\n\
         [[monitors]]\nname = \"backup down\"\ntarget = \"mx:backup-down.test:{port}\"\n\
         [[monitors]]\nname = \"all down\"\ntarget = \"mx:all-down.test:{port}\"\n",
        sqlite(dir.path()),
        world.dns.addr(),
        ca.display(),
        port = world.port
    );
    let mut cfg = Config::from_toml_str(&text, Path::new(".")).unwrap();
    for m in &mut cfg.monitors {
        m.interval = Duration::from_secs(1);
        m.incident.confirm = false;
    }
    let engine = start(cfg, &store).await;
    for (name, status) in [("two", Status::Up), ("backup down", Status::Degraded), ("all down", Status::Down)] {
        support::wait_for(Duration::from_secs(20), "a check", async || engine.monitor(&id(name)).unwrap().checks >= 1)
            .await;
        let last = engine.monitor(&id(name)).unwrap().last_check.unwrap();
        assert_eq!(last.status, status, "{name}: {}", last.summary);
    }
    let two = engine.monitor(&id("two")).unwrap().last_check.unwrap();
    assert!(two.cert_days_left.is_some(), "the earliest certificate expiry over the hosts: {two:?}");
    engine.shutdown(Duration::from_secs(5)).await;
}

/// `domain:` monitors against the DNSSEC bed (`.ci/dns.sh`, with the loopback Postfix on 2525): answers validated
/// from the bed's anchor, the verdicts policy-honouring senders give. Prints `skipped: …` without the bed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_monitors_follow_the_published_policies() {
    use smtp_probe_testserver::domain_bed::{self, Scenario};
    let Some(dns) = domain_bed::dns_env_or_skip("domain_monitors_follow_the_published_policies") else { return };
    let Some(exim) = domain_bed::exim_env_or_skip("domain_monitors_follow_the_published_policies") else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &exim.ca_pem).unwrap();
    let connect = |scenario: Scenario| format!("connect_to = [\"mx1.{}=127.0.0.1:2525\"]", dns.zone(scenario));
    let text = format!(
        "{}\n[service]\ninstance = \"domain\"\ndns_server = \"{}\"\ntrust_anchor_file = \"{}\"\n\
         [scheduler]\nmin_host_spacing = \"0s\"\n\
         [defaults]\nca_file = \"{}\"\nallow_addresses = [\"127.0.0.0/8\", \"::1\"]\n\
         [[monitors]]\nname = \"plain\"\ntarget = \"domain:{}\"\n{}\n\
         [[monitors]]\nname = \"mismatch\"\ntarget = \"domain:{}\"\n{}\n\
         [[monitors]]\nname = \"bogus\"\ntarget = \"domain:{}\"\n{}\n",
        sqlite(dir.path()),
        dns.authoritative,
        dns.trust_anchor_file.display(),
        ca.display(),
        dns.zone(Scenario::DmarcNone),
        connect(Scenario::DmarcNone),
        dns.zone(Scenario::TlsaMismatch),
        connect(Scenario::TlsaMismatch),
        dns.zone(Scenario::Bogus),
        connect(Scenario::Bogus),
    );
    let mut cfg = Config::from_toml_str(&text, Path::new(".")).unwrap();
    assert_eq!(cfg.monitors[0].check.describe(), format!("domain:{}", dns.zone(Scenario::DmarcNone)));
    for m in &mut cfg.monitors {
        m.interval = Duration::from_secs(1);
        m.incident.confirm = false;
    }
    let engine = start(cfg, &store).await;
    for (name, status, cause) in [
        ("plain", Status::Up, None),
        ("mismatch", Status::Down, Some("dane_mismatch")),
        ("bogus", Status::Down, Some("dnssec_bogus")),
    ] {
        support::wait_for(Duration::from_secs(20), "a check", async || engine.monitor(&id(name)).unwrap().checks >= 1)
            .await;
        let last = engine.monitor(&id(name)).unwrap().last_check.unwrap();
        assert_eq!((last.status, last.cause.as_deref()), (status, cause), "{name}: {}", last.summary);
    }
    engine.shutdown(Duration::from_secs(5)).await;
}

/// When every canary fails, the monitor's own network is in doubt: other monitors' failures are stored as
/// unknown, open no incident and send no alert; one "monitor offline" alert is queued instead of a storm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_down_turn_failures_into_unknown() {
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let mut cfg = config(&sqlite(dir.path()), &[("canary", refused.clone()), ("customer", refused.clone())], "");
    for m in &mut cfg.monitors {
        m.incident.confirm = false;
        m.incident.open_after = if m.name == "canary" { 1 } else { 3 };
        m.canary = m.name == "canary";
    }
    let engine = start(cfg, &store).await;
    support::wait_for(Duration::from_secs(20), "several checks of the customer", async || {
        engine.monitor(&id("customer")).unwrap().checks >= 5
    })
    .await;
    assert!(engine.connectivity_lost());
    engine.shutdown(Duration::from_secs(5)).await;
    let incidents = store.incidents(None, None, 10).await.unwrap();
    assert!(incidents.iter().all(|i| i.monitor == id("canary")), "{incidents:?}");
    let kinds = outbox_kinds(&store).await;
    assert_eq!(
        kinds,
        [("monitor_offline".to_string(), 1), ("opened".to_string(), 1)],
        "the canary's own incident and one offline alert"
    );
    let results = store.results(&id("customer"), None, 100).await.unwrap();
    assert!(results.iter().filter(|r| r.status == Status::Unknown).count() >= 4, "{results:?}");
    assert!(results[0].summary.contains("monitor offline"));
}

/// A maintenance window keeps checking and marks the history, but holds alerts; its time is left out of
/// availability.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_keeps_checking_and_holds_alerts() {
    let server = smtp_probe_testserver::start(down_script()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let start_at = smtp_probe_monitor::clock::Timestamp::now() - Duration::from_secs(60);
    let window = format!(
        "[[maintenance]]\nname = \"upgrade\"\nstart = \"{}\"\nduration = \"1h\"\nmonitors = [\"mx\"]\n",
        start_at.rfc3339()
    );
    // The window names monitor "mx", so it goes after the monitors in the file.
    let mut cfg = config(&sqlite(dir.path()), &[("mx", server.addr().to_string())], "");
    let extra = Config::from_toml_str(
        &format!("[[monitors]]\nname = \"mx\"\ntarget = \"{}\"\n{window}", server.addr()),
        Path::new("."),
    )
    .unwrap();
    cfg.maintenance = extra.maintenance;
    let engine = start(cfg, &store).await;
    support::wait_for(Duration::from_secs(20), "the incident to open", async || {
        engine.flush(Duration::from_secs(5)).await;
        !store.incidents(None, None, 10).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(engine.monitor(&id("mx")).unwrap().maintenance.as_deref(), Some("upgrade"));
    engine.shutdown(Duration::from_secs(5)).await;
    assert!(outbox_kinds(&store).await.is_empty(), "no alert during maintenance");
    assert!(store.resume_state().await.unwrap().maintenance.contains_key(&id("mx")), "the window is marked");
    let figures = engine.figures(&id("mx"), smtp_probe_monitor::clock::Timestamp::now()).await.unwrap();
    assert!(figures[0].time.maintenance_ms > 0 && figures[0].time.down_ms == 0, "{:?}", figures[0].time);
    assert_eq!(figures[0].availability, None, "maintenance is not downtime");
}
