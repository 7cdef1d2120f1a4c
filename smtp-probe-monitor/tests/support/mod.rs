//! Shared by the integration tests: real services from `.ci/` scripts, and small builders.
#![allow(dead_code)]

pub mod fast;
pub mod flip;
pub mod receiver;
pub mod web;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use smtp_probe_monitor::config::{Config, StorageConfig};
use smtp_probe_monitor::storage::{SqlStore, Store};

/// Whether CI demands every real service (a missing one is then a failure, not a skip).
pub fn services_required() -> bool {
    std::env::var("SMTP_PROBE_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A variable from the environment, or from a `.ci` script's env file.
pub fn service_var(name: &str, env_file: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name) {
        return Some(v).filter(|v| !v.is_empty());
    }
    let text = std::fs::read_to_string(env_file).ok()?;
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('\'').to_owned())
}

/// `Some(value)`, or prints why the test skips (`None`), or fails when services are required.
pub fn require(name: &str, env_file: &str, script: &str) -> Option<String> {
    match service_var(name, env_file) {
        Some(v) => Some(v),
        None if services_required() => panic!("{name} is not set and {env_file} is missing: run {script}"),
        None => {
            eprintln!("skipped: {name} not set ({script} has not run)");
            None
        }
    }
}

/// The PostgreSQL URL of `.ci/postgres.sh`.
pub fn pg_url() -> Option<String> {
    require("SMTP_PROBE_PG_URL", "/var/tmp/smtp-probe-pg/env", ".ci/postgres.sh")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database of its own for one test (dropped when the guard goes), so tests never share tables.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create(base: &str) -> PgDatabase {
        use sqlx::Connection;
        let name = format!("t_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), rand_suffix());
        let mut conn = sqlx::PgConnection::connect(base).await.expect("connect to the test PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
        let (prefix, _) = base.rsplit_once('/').expect("URL with a database");
        PgDatabase { url: format!("{prefix}/{name}"), admin_url: base.to_owned(), name }
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() % 100_000
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Dropping needs a connection of its own; do it on a thread so async tests can drop the guard anywhere.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await;
                }
            });
        })
        .join();
    }
}

/// A store on a fresh SQLite file in `dir`.
pub async fn sqlite_store(dir: &std::path::Path) -> Arc<SqlStore> {
    Arc::new(SqlStore::connect(&StorageConfig::Sqlite { path: dir.join("monitor.db") }).await.expect("open SQLite"))
}

/// A store on a PostgreSQL database.
pub async fn pg_store(url: &str) -> Arc<SqlStore> {
    let config = pg_config(url);
    Arc::new(SqlStore::connect(&config).await.expect("open PostgreSQL"))
}

/// The storage settings for a PostgreSQL URL.
pub fn pg_config(url: &str) -> StorageConfig {
    let text = "[storage]\nkind = \"postgres\"\nurl_env = \"URL\"\n";
    let c = Config::from_toml_with_env(text, std::path::Path::new("."), &|n| (n == "URL").then(|| url.to_owned()))
        .expect("storage config");
    c.storage
}

/// Waits until `f` holds, polling, or panics after `timeout` with `what`.
pub async fn wait_for(timeout: Duration, what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Upcast for the engine.
pub fn dyn_store(s: &Arc<SqlStore>) -> Arc<dyn Store> {
    s.clone()
}
