//! Measures what history costs on disk: bytes per stored check, per hourly rollup, and per monitor-year under a
//! retention policy, for SQLite and (with `--pg URL`) PostgreSQL.
//!
//! ```text
//! cargo run --release -p smtp-probe-monitor --example storage_size -- [--monitors 100] [--hours 24]
//!     [--interval 60] [--raw-days 30] [--pg postgres://monitor:…@127.0.0.1:55432/monitor]
//! ```
//!
//! The results are realistic ones (a STARTTLS check of a Postfix-like server: seven phases, five reply codes,
//! a summary and a greeting), written through the same `Store::write` the engine uses, in batches of 2000.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_probe_monitor::check::{CheckOutcome, PhaseTiming, Status};
use smtp_probe_monitor::clock::{HOUR_MS, Timestamp};
use smtp_probe_monitor::config::{Config, StorageConfig};
use smtp_probe_monitor::id::MonitorId;
use smtp_probe_monitor::storage::{Batch, MonitorRow, RollupDelta, SqlStore, Store};

struct Args {
    monitors: usize,
    hours: i64,
    interval: i64,
    raw_days: i64,
    pg: Option<String>,
}

fn args() -> Args {
    let mut a = Args { monitors: 100, hours: 24, interval: 60, raw_days: 30, pg: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--monitors" => a.monitors = value.parse().expect("--monitors N"),
            "--hours" => a.hours = value.parse().expect("--hours N"),
            "--interval" => a.interval = value.parse().expect("--interval SECONDS"),
            "--raw-days" => a.raw_days = value.parse().expect("--raw-days N"),
            "--pg" => a.pg = Some(value),
            _ => panic!("unknown flag {flag}"),
        }
    }
    a
}

fn id(i: usize) -> MonitorId {
    MonitorId::from_name(&format!("mx{i:05}.example.com")).unwrap()
}

fn outcome(i: usize, at: i64, n: u64) -> CheckOutcome {
    let ms = 60 + (n * 7919 % 90) as u32;
    CheckOutcome {
        monitor: id(i),
        at: Timestamp(at),
        status: Status::Up,
        cause: None,
        recheck: false,
        response_ms: Some(ms),
        total_ms: ms + 3,
        phases: ["connect", "greeting", "ehlo", "starttls", "tls_handshake", "ehlo_tls", "quit"]
            .iter()
            .enumerate()
            .map(|(k, p)| PhaseTiming { phase: (*p).into(), ms: 2 + k as u32 * 5 })
            .collect(),
        tls_version: Some("TLSv1.3".into()),
        cert_days_left: Some(61),
        reply_codes: vec![220, 250, 220, 250, 221],
        summary: format!("up: mx{i:05}.example.com answered in {ms} ms"),
        server_text: Some(format!("220 mx{i:05}.example.com ESMTP Postfix (Debian/GNU)")),
        delivery_ms: None,
        junk: None,
        published: None,
    }
}

async fn size(store: &SqlStore, sqlite_path: Option<&std::path::Path>) -> (i64, i64, i64) {
    use sqlx::Row;
    match sqlite_path {
        Some(path) => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(store.pool()).await.unwrap();
            let bytes = std::fs::metadata(path).unwrap().len() as i64;
            (bytes, 0, 0)
        }
        None => {
            sqlx::query("VACUUM ANALYZE").execute(store.pool()).await.unwrap();
            let row = sqlx::query(
                "SELECT pg_total_relation_size('check_results')::BIGINT AS c, \
                 pg_total_relation_size('rollups_hourly')::BIGINT AS r, pg_database_size(current_database())::BIGINT AS d",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            (row.get::<i64, _>("d"), row.get::<i64, _>("c"), row.get::<i64, _>("r"))
        }
    }
}

async fn measure(name: &str, store: Arc<SqlStore>, sqlite_path: Option<&std::path::Path>, a: &Args) {
    let t0 = 20_000 * HOUR_MS;
    let mut batch = Batch {
        monitors: (0..a.monitors)
            .map(|i| MonitorRow {
                id: id(i),
                name: format!("MX {i}"),
                target: format!("mx{i:05}.example.com:25"),
                tags: vec!["eu".into()],
            })
            .collect(),
        ..Batch::default()
    };
    store.write(&batch, "size").await.unwrap();
    let base = size(&store, sqlite_path).await;

    // Rollups: one row per monitor-hour, as the writer leaves them.
    let mut rollup_rows = 0;
    for h in 0..a.hours {
        batch = Batch::default();
        for i in 0..a.monitors {
            let mut d = RollupDelta::default();
            for n in 0..(3600 / a.interval) as u64 {
                d.counts.add(Status::Up);
                d.latency.record(60 + (n * 7919 % 90) as u32);
            }
            d.time.up_ms = HOUR_MS;
            batch.rollups.insert((id(i), Timestamp(t0 + h * HOUR_MS)), d);
            rollup_rows += 1;
        }
        store.write(&batch, "size").await.unwrap();
    }
    let after_rollups = size(&store, sqlite_path).await;

    let started = Instant::now();
    let mut checks = 0u64;
    batch = Batch::default();
    for step in 0..(a.hours * 3600 / a.interval) {
        for i in 0..a.monitors {
            batch.checks.push((outcome(i, t0 + step * a.interval * 1000 + i as i64, checks), false));
            checks += 1;
            if batch.checks.len() == 2000 {
                store.write(&batch, "size").await.unwrap();
                batch.checks.clear();
            }
        }
    }
    store.write(&batch, "size").await.unwrap();
    let took = started.elapsed();
    let after_checks = size(&store, sqlite_path).await;

    let (per_rollup, per_check) = if sqlite_path.is_some() {
        (
            (after_rollups.0 - base.0) as f64 / rollup_rows as f64,
            (after_checks.0 - after_rollups.0) as f64 / checks as f64,
        )
    } else {
        (after_checks.2 as f64 / rollup_rows as f64, after_checks.1 as f64 / checks as f64)
    };
    let checks_per_year_kept = (a.raw_days * 86_400 / a.interval) as f64;
    let per_monitor_year = checks_per_year_kept * per_check + 8760.0 * per_rollup;
    println!(
        "{name}: {checks} checks of {} monitors over {} h at {} s: {per_check:.0} B/check, {per_rollup:.0} B/rollup-hour; \
         a monitor kept a year ({} days raw at {} s, then hourly rollups): {:.1} MiB; write rate {:.0} checks/s",
        a.monitors,
        a.hours,
        a.interval,
        a.raw_days,
        a.interval,
        per_monitor_year / 1_048_576.0,
        checks as f64 / took.as_secs_f64().max(1e-9),
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("monitor.db");
    let lite = Arc::new(SqlStore::connect(&StorageConfig::Sqlite { path: path.clone() }).await.unwrap());
    measure("sqlite", lite, Some(&path), &a).await;
    if let Some(url) = &a.pg {
        let text = "[storage]\nkind = \"postgres\"\nurl_env = \"URL\"\n";
        let config = Config::from_toml_with_env(text, std::path::Path::new("."), &|_| Some(url.clone())).unwrap();
        let pg = Arc::new(SqlStore::connect(&config.storage).await.unwrap());
        for t in ["check_results", "rollups_hourly", "monitors"] {
            sqlx::query(&format!("DELETE FROM {t}")).execute(pg.pool()).await.unwrap();
        }
        measure("postgres", pg, None, &a).await;
    }
    let _ = Duration::ZERO;
}
