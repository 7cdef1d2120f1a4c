//! One storage suite, run on SQLite and on PostgreSQL (from `.ci/postgres.sh`).

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use smtp_probe_monitor::alert::{Alert, AlertKind, Notified};
use smtp_probe_monitor::check::{CheckOutcome, PhaseTiming, Status};
use smtp_probe_monitor::clock::{HOUR_MS, Timestamp};
use smtp_probe_monitor::histogram::Histogram;
use smtp_probe_monitor::id::MonitorId;
use smtp_probe_monitor::incident::{OpenIncident, Severity, State};
use smtp_probe_monitor::published::Published;
use smtp_probe_monitor::storage::{
    Batch, DAY_MS, DeliveryRecord, IncidentChange, MonitorRow, OutboxEntry, RollupDelta, SqlStore, Store, Transition,
};

fn id(s: &str) -> MonitorId {
    MonitorId::from_name(s).unwrap()
}

fn outcome(m: &str, at: i64, status: Status) -> CheckOutcome {
    CheckOutcome {
        monitor: id(m),
        at: Timestamp(at),
        status,
        cause: (status != Status::Up).then(|| "greeting_rejected".into()),
        recheck: false,
        response_ms: Some(42),
        total_ms: 50,
        phases: vec![PhaseTiming { phase: "connect".into(), ms: 1 }, PhaseTiming { phase: "greeting".into(), ms: 40 }],
        tls_version: Some("TLSv1.3".into()),
        cert_days_left: Some(80),
        reply_codes: vec![220, 250, 221],
        summary: "up: mx answered in 42 ms".into(),
        server_text: Some("220 mx.test ESMTP".into()),
        delivery_ms: None,
        junk: None,
        published: None,
    }
}

fn alert(m: &str, key: &str, kind: AlertKind, started: i64) -> OutboxEntry {
    OutboxEntry {
        alert: Alert {
            dedup_key: key.into(),
            kind,
            monitor: Some(id(m)),
            at: Timestamp(started),
            incident_started: Some(Timestamp(started)),
            severity: Some(Severity::Down),
            cause: Some("greeting_rejected".into()),
            server_text: Some("554 no".into()),
            threshold_days: None,
            days_left: None,
            after_silence: false,
            changes: Vec::new(),
        },
        channels: vec!["ops".into(), "mail".into()],
    }
}

fn incident(started: i64) -> OpenIncident {
    OpenIncident {
        started: Timestamp(started),
        severity: Severity::Down,
        cause: Some("greeting_rejected".into()),
        server_text: Some("554 5.3.2 no service".into()),
        flapping: false,
    }
}

fn transition(m: &str, at: i64) -> Transition {
    Transition {
        monitor: id(m),
        at: Timestamp(at),
        incidents: vec![],
        alerts: vec![],
        state: None,
        cert_threshold: None,
        published: None,
        maintenance: None,
    }
}

async fn suite(store: Arc<dyn Store>) {
    let t0 = 1_000 * HOUR_MS;
    let mx = id("mx");

    // Results, rollups, monitors.
    let mut batch = Batch {
        monitors: vec![MonitorRow {
            id: mx.clone(),
            name: "MX".into(),
            target: "mx.test:25".into(),
            tags: vec!["eu".into()],
        }],
        ..Batch::default()
    };
    for i in 0..10 {
        batch.checks.push((outcome("mx", t0 + i * 60_000, if i == 9 { Status::Down } else { Status::Up }), i == 3));
    }
    let mut delta = RollupDelta::default();
    for v in [10, 20, 30] {
        delta.latency.record(v);
        delta.counts.add(Status::Up);
    }
    delta.time.up_ms = 3_000_000;
    batch.rollups.insert((mx.clone(), Timestamp(t0)), delta.clone());
    store.write(&batch, "a").await.unwrap();
    // The same rollup again merges (histograms too); the same results again are not duplicated.
    store.write(&batch, "a").await.unwrap();

    let page = store.results(&mx, None, 4).await.unwrap();
    assert_eq!(page.len(), 4);
    assert_eq!(page[0], outcome("mx", t0 + 9 * 60_000, Status::Down), "newest first, every field back");
    let next = store.results(&mx, Some(page[3].at), 100).await.unwrap();
    assert_eq!(next.len(), 6, "pages continue where the last ended, without duplicates");
    let rollups = store.rollups(&mx, Timestamp(t0), Timestamp(t0 + HOUR_MS)).await.unwrap();
    assert_eq!(rollups.len(), 1);
    let mut twice = Histogram::new();
    for v in [10, 20, 30, 10, 20, 30] {
        twice.record(v);
    }
    assert_eq!(rollups[0].delta.latency, twice);
    assert_eq!((rollups[0].delta.counts.up, rollups[0].delta.time.up_ms), (6, 6_000_000));
    assert_eq!(store.monitors().await.unwrap()[0].tags, ["eu"]);

    // A round trip's result and hour: its delivery latency, folder and counts come back as written.
    let rt = id("loop");
    let mut delivered = outcome("loop", t0, Status::Degraded);
    (delivered.delivery_ms, delivered.junk) = (Some(2_345), Some(true));
    let mut delta = RollupDelta::default();
    delta.counts.add(Status::Degraded);
    delta.delivery.record(2_345, true);
    delta.delivery.record(900, false);
    let batch = Batch {
        checks: vec![(delivered.clone(), false)],
        rollups: [((rt.clone(), Timestamp(t0)), delta.clone())].into_iter().collect(),
        ..Batch::default()
    };
    store.write(&batch, "a").await.unwrap();
    assert_eq!(store.results(&rt, None, 1).await.unwrap(), [delivered]);
    let hour = &store.rollups(&rt, Timestamp(t0), Timestamp(t0 + HOUR_MS)).await.unwrap()[0].delta;
    assert_eq!(hour.delivery, delta.delivery);
    assert_eq!((hour.delivery.delivered, hour.delivery.junk), (2, 1));

    // An incident opens with its alert in one write; a second open incident for the monitor is refused.
    let mut t = transition("mx", t0 + 9 * 60_000);
    t.incidents.push(IncidentChange::Open(incident(t0 + 8 * 60_000)));
    let n = Notified {
        started: Timestamp(t0 + 8 * 60_000),
        severity: Severity::Down,
        last_at: Timestamp(t0 + 9 * 60_000),
        reminders: 0,
    };
    t.incidents.push(IncidentChange::Notified { started: n.started, notified: Some(n) });
    t.alerts.push(alert("mx", "mx:opened", AlertKind::Opened, t0 + 8 * 60_000));
    t.state = Some(State::Down);
    t.cert_threshold = Some(Some(30));
    t.maintenance = Some(Some("patching".into()));
    // What the domain published: kept with the certificate threshold (neither overwrites the other).
    let published = Published {
        domain: "example.com".into(),
        parts: [("mta-sts record".to_owned(), "v=STSv1; id=20261130;".to_owned())].into(),
        dane: Default::default(),
    };
    t.published = Some(Box::new(published.clone()));
    store.write(&Batch { transitions: vec![t.clone()], ..Batch::default() }, "a").await.unwrap();
    let mut dup = transition("mx", t0 + 10 * 60_000);
    dup.incidents.push(IncidentChange::Open(incident(t0 + 10 * 60_000)));
    dup.alerts.push(alert("mx", "mx:opened", AlertKind::Opened, t0 + 8 * 60_000));
    store.write(&Batch { transitions: vec![t, dup], ..Batch::default() }, "b").await.unwrap();
    let incidents = store.incidents(Some(&mx), None, 10).await.unwrap();
    assert_eq!(incidents.len(), 1, "one open incident per monitor, whoever wrote it: {incidents:?}");
    assert_eq!(incidents[0].server_text.as_deref(), Some("554 5.3.2 no service"));
    let resume = store.resume_state().await.unwrap();
    assert_eq!(resume.open.get(&mx), Some(&incident(t0 + 8 * 60_000)));
    assert_eq!(resume.notified.get(&mx), Some(&n));
    assert_eq!(resume.cert_threshold.get(&mx), Some(&30));
    assert_eq!(resume.published.get(&mx), Some(&published));
    assert!(resume.maintenance.contains_key(&mx));
    assert_eq!(resume.last_state.get(&mx), Some(&(Timestamp(t0 + 9 * 60_000), State::Down)));
    assert!(store.acknowledge(&mx, Timestamp(t0 + 8 * 60_000), "alice", Timestamp(t0 + 11 * 60_000)).await.unwrap());
    assert!(!store.acknowledge(&mx, Timestamp(1), "alice", Timestamp(2)).await.unwrap());

    // The outbox: one row per dedup key, claimed once, retried, delivered, recorded.
    let now = Timestamp(t0 + 12 * 60_000);
    let claimed = store.claim_alerts("sender-1", now, now + Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].alert.kind, AlertKind::Opened);
    assert_eq!(claimed[0].channels, ["ops", "mail"]);
    assert_eq!(claimed[0].attempts, 0);
    assert!(
        store.claim_alerts("sender-2", now, now + Duration::from_secs(60), 10).await.unwrap().is_empty(),
        "claimed once"
    );
    store
        .record_delivery(&DeliveryRecord {
            outbox_id: claimed[0].id,
            channel: "ops".into(),
            attempt: 1,
            at: now,
            status: "failed".into(),
            detail: Some("HTTP 503".into()),
        })
        .await
        .unwrap();
    store.finish_alert(claimed[0].id, "retrying", now, Some(now + Duration::from_secs(30))).await.unwrap();
    assert!(
        store.claim_alerts("sender-2", now, now + Duration::from_secs(60), 10).await.unwrap().is_empty(),
        "not before its retry time"
    );
    let later = now + Duration::from_secs(31);
    let again = store.claim_alerts("sender-2", later, later + Duration::from_secs(60), 10).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    store.finish_alert(again[0].id, "delivered", later, None).await.unwrap();
    assert!(
        store
            .claim_alerts("sender-3", later + Duration::from_secs(3600), later + Duration::from_secs(3700), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.outbox_summary().await.unwrap(), [("opened".to_string(), "delivered".to_string(), 1)]);
    assert_eq!(store.deliveries(10).await.unwrap()[0].detail.as_deref(), Some("HTTP 503"));

    // Recovery clears the open incident and what people were told.
    let mut r = transition("mx", t0 + 20 * 60_000);
    r.incidents.push(IncidentChange::Close { started: Timestamp(t0 + 8 * 60_000), ended: Timestamp(t0 + 19 * 60_000) });
    r.incidents.push(IncidentChange::Notified { started: Timestamp(t0 + 8 * 60_000), notified: None });
    r.alerts.push(alert("mx", "mx:recovered", AlertKind::Recovered, t0 + 8 * 60_000));
    r.maintenance = Some(None);
    store.write(&Batch { transitions: vec![r], ..Batch::default() }, "a").await.unwrap();
    let resume = store.resume_state().await.unwrap();
    assert!(resume.open.is_empty() && resume.notified.is_empty() && resume.maintenance.is_empty());
    let inc = &store.incidents(None, None, 10).await.unwrap()[0];
    assert_eq!(inc.ended, Some(Timestamp(t0 + 19 * 60_000)));
    assert_eq!(inc.acknowledged.as_ref().map(|a| a.1.as_str()), Some("alice"));

    // Leases: one owner at a time, taken over only after expiry.
    let (a, b) = (id("lease-a"), id("lease-b"));
    let wanted = vec![a.clone(), b.clone()];
    let t = Timestamp(t0);
    assert_eq!(store.acquire_leases("one", &wanted, t, t + Duration::from_secs(30)).await.unwrap(), wanted);
    assert!(
        store
            .acquire_leases("two", &wanted, t + Duration::from_secs(10), t + Duration::from_secs(40))
            .await
            .unwrap()
            .is_empty()
    );
    // Renewing renews everything the owner holds, even monitors not asked for this time.
    assert_eq!(
        store
            .acquire_leases("one", &wanted[..1], t + Duration::from_secs(20), t + Duration::from_secs(50))
            .await
            .unwrap(),
        std::slice::from_ref(&a)
    );
    let t45 = t + Duration::from_secs(45);
    assert!(store.acquire_leases("two", &wanted, t45, t45 + Duration::from_secs(30)).await.unwrap().is_empty());
    let t55 = t + Duration::from_secs(55);
    assert_eq!(
        store.acquire_leases("two", &wanted, t55, t55 + Duration::from_secs(30)).await.unwrap(),
        wanted,
        "expired: taken over"
    );
}

async fn leases_expire(store: Arc<dyn Store>) {
    let wanted = vec![id("x"), id("y")];
    let t = Timestamp(5_000_000);
    assert_eq!(store.acquire_leases("one", &wanted, t, t + Duration::from_secs(30)).await.unwrap().len(), 2);
    let after = t + Duration::from_secs(31);
    assert_eq!(
        store.acquire_leases("two", &wanted, after, after + Duration::from_secs(30)).await.unwrap(),
        wanted,
        "expired leases are taken over"
    );
    assert!(
        store.acquire_leases("one", &wanted, after, after + Duration::from_secs(30)).await.unwrap().is_empty(),
        "and the old owner knows"
    );
    store.release_leases("two").await.unwrap();
    assert_eq!(
        store.acquire_leases("one", &wanted, after, after + Duration::from_secs(30)).await.unwrap().len(),
        2,
        "released at once"
    );
}

async fn retention(store: Arc<dyn Store>) {
    let m = id("old");
    let mut batch = Batch::default();
    for i in 0..2500 {
        batch.checks.push((outcome("old", i * 1000, Status::Up), false));
    }
    store.write(&batch, "a").await.unwrap();
    assert_eq!(store.prune_results(&m, Timestamp(2_000_000), 1000).await.unwrap(), 1000);
    assert_eq!(store.prune_results(&m, Timestamp(2_000_000), 1000).await.unwrap(), 1000);
    assert_eq!(store.prune_results(&m, Timestamp(2_000_000), 1000).await.unwrap(), 0);
    assert_eq!(store.results(&m, None, 10_000).await.unwrap().len(), 500);
    assert!(store.integrity_check().await.unwrap());
}

#[tokio::test]
async fn sqlite_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    suite_all(store.clone()).await;
    // Reopening migrates nothing twice and keeps everything.
    store.close().await;
    let again = support::sqlite_store(dir.path()).await;
    assert!(again.integrity_check().await.unwrap());
    assert_eq!(again.results(&id("mx"), None, 100).await.unwrap().len(), 10);
    let mode: String = sqlx::Row::get(&sqlx::query("PRAGMA journal_mode").fetch_one(again.pool()).await.unwrap(), 0);
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn postgres_suite() {
    let Some(base) = support::pg_url() else { return };
    let db = support::PgDatabase::create(&base).await;
    let store = support::pg_store(&db.url).await;
    suite_all(store.clone()).await;
    // Two senders claiming at once never get the same row.
    let mut batch = Batch::default();
    let mut t = transition("race", 1);
    for i in 0..50 {
        t.alerts.push(alert("race", &format!("race:{i}"), AlertKind::Reminder, 1));
    }
    batch.transitions.push(t);
    store.write(&batch, "a").await.unwrap();
    let now = Timestamp(10);
    let claimers: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let c = store.claim_alerts(&format!("s{i}"), now, Timestamp(1_000_000), 3).await.unwrap();
                    if c.is_empty() {
                        return got;
                    }
                    got.extend(c.into_iter().map(|c| c.id));
                }
            })
        })
        .collect();
    let mut seen = HashMap::new();
    for c in claimers {
        for id in c.await.unwrap() {
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 50);
    assert!(seen.values().all(|&n| n == 1), "a row was claimed twice");
    store.close().await;
}

/// The status page's batch reads: several monitors' recent hours, and their days summed in the database, equal
/// what the per-monitor reads give.
async fn batch_reads(store: Arc<dyn Store>) {
    let day = DAY_MS;
    let base = 20_000 * day;
    let monitors: Vec<MonitorId> = (0..700).map(|i| id(&format!("batch-{i}"))).collect();
    let mut batch = Batch::default();
    for (i, m) in monitors.iter().enumerate() {
        for h in [0, 5, 23, 24, 30] {
            let mut delta = RollupDelta::default();
            delta.time.up_ms = 3_000_000;
            delta.time.down_ms = (i as i64 % 7) * 1000 + h;
            delta.time.maintenance_ms = 7;
            delta.latency.record(10 + h as u32);
            delta.counts.add(Status::Up);
            batch.rollups.insert((m.clone(), Timestamp(base + h * HOUR_MS)), delta);
        }
    }
    store.write(&batch, "a").await.unwrap();
    // 700 monitors: more than one IN list.
    let all = store.rollups_of(&monitors, Timestamp(base), Timestamp(base + 24 * HOUR_MS)).await.unwrap();
    assert_eq!(all.len(), 700 * 3, "hours 0, 5 and 23 of each, not the next day's");
    let one = store.rollups(&monitors[9], Timestamp(base), Timestamp(base + 24 * HOUR_MS)).await.unwrap();
    let mut mine: Vec<_> = all.iter().filter(|r| r.monitor == monitors[9]).cloned().collect();
    mine.sort_by_key(|r| r.hour);
    assert_eq!(mine, one);

    let mut days = store.daily_time(&monitors, Timestamp(base), Timestamp(base + 2 * day)).await.unwrap();
    days.sort_by(|a, b| (&a.monitor, a.day).cmp(&(&b.monitor, b.day)));
    assert_eq!(days.len(), 1400, "two days each");
    let m9: Vec<_> = days.iter().filter(|d| d.monitor == monitors[9]).collect();
    assert_eq!(m9[0].day, Timestamp(base));
    assert_eq!((m9[0].time.up_ms, m9[0].time.down_ms, m9[0].time.maintenance_ms), (9_000_000, 3 * 2000 + 28, 21));
    assert_eq!((m9[1].day, m9[1].time.up_ms, m9[1].time.down_ms), (Timestamp(base + day), 6_000_000, 4000 + 54));
    assert!(store.daily_time(&[], Timestamp(0), Timestamp(base)).await.unwrap().is_empty());
}

async fn suite_all(store: Arc<SqlStore>) {
    suite(store.clone()).await;
    leases_expire(store.clone()).await;
    batch_reads(store.clone()).await;
    retention(store).await;
}

/// Both migrations describe the same tables and columns.
#[tokio::test]
async fn schemas_match() {
    let Some(base) = support::pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lite = support::sqlite_store(dir.path()).await;
    let db = support::PgDatabase::create(&base).await;
    let pg = support::pg_store(&db.url).await;
    let mut lite_cols = Vec::new();
    for row in sqlx::query("SELECT m.name AS t, p.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE '\\_%' ESCAPE '\\' AND m.name <> 'sqlite_sequence' ORDER BY 1, 2")
        .fetch_all(lite.pool())
        .await
        .unwrap()
    {
        lite_cols.push((sqlx::Row::get::<String, _>(&row, "t"), sqlx::Row::get::<String, _>(&row, "c")));
    }
    let mut pg_cols = Vec::new();
    for row in sqlx::query("SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE '\\_%' ORDER BY 1, 2")
        .fetch_all(pg.pool())
        .await
        .unwrap()
    {
        pg_cols.push((sqlx::Row::get::<String, _>(&row, "t"), sqlx::Row::get::<String, _>(&row, "c")));
    }
    assert!(lite_cols.len() > 50, "{lite_cols:?}");
    assert_eq!(lite_cols, pg_cols);
    pg.close().await;
}

/// While the database is locked the writer holds results; past its bound it drops the oldest raw results
/// first, and keeps every result's contribution to the rollups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_drops_oldest_raw_results_first_and_keeps_rollups() {
    use smtp_probe_monitor::storage::writer::{self, WriterConfig};
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let config = WriterConfig {
        flush_every: Duration::from_millis(50),
        max_batch: 100,
        max_backlog: 5,
        write_timeout: Duration::from_secs(10),
    };
    let (handle, _task) = writer::spawn(store.clone(), "w".into(), config);

    let url = format!("sqlite://{}", dir.path().join("monitor.db").display());
    let mut locker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut locker).await.unwrap();
    let t0 = 2_000 * HOUR_MS;
    for i in 0..20 {
        handle.check(outcome("busy", t0 + i * 1000, Status::Up), false, Vec::new());
    }
    support::wait_for(Duration::from_secs(15), "the failure to show", async || !handle.health().ok).await;
    let h = handle.health();
    assert_eq!((h.backlog, h.dropped_results), (5, 15), "{h:?}");
    assert!(!handle.flush(Duration::from_millis(300)).await, "a flush cannot complete while locked");
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    drop(locker);
    assert!(handle.flush(Duration::from_secs(15)).await);
    assert!(handle.health().ok);

    let kept = store.results(&id("busy"), None, 100).await.unwrap();
    let ats: Vec<i64> = kept.iter().rev().map(|r| r.at.0 - t0).collect();
    assert_eq!(ats, [15_000, 16_000, 17_000, 18_000, 19_000], "the newest are kept");
    let rollups = store.rollups(&id("busy"), Timestamp(t0), Timestamp(t0 + HOUR_MS)).await.unwrap();
    assert_eq!(rollups[0].delta.counts.up, 20, "every result still counts in the rollup");
    assert_eq!(rollups[0].delta.latency.count(), 20);
}

/// A memory of what a domain published that does not read back is skipped (the monitor starts over from its next
/// check) instead of keeping the monitor from starting; the rest of the alert state is kept.
#[tokio::test]
async fn an_unreadable_published_memory_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    sqlx::query("INSERT INTO alert_state (monitor_id, cert_threshold, published) VALUES ('mx', 14, '{not json')")
        .execute(store.pool())
        .await
        .unwrap();
    let resume = store.resume_state().await.unwrap();
    assert!(resume.published.is_empty());
    assert_eq!(resume.cert_threshold.get(&id("mx")), Some(&14));
}
