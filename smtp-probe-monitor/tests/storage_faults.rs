//! Storage faults do not stop checks or alerts: a full disk (the SQLite file on a small tmpfs filled to the
//! last byte; where mounting is not allowed, a file-size limit in a child process) and a locked database.
//! The fault shows in the engine's storage health and once in the log, alerts decided meanwhile reach the
//! receiver from memory, and when the fault clears everything is written — the alert recorded as delivered,
//! not sent again.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use smtp_probe_monitor::config::StorageConfig;
use smtp_probe_monitor::engine::EngineHandle;
use smtp_probe_monitor::storage::{AlertQuery, SqlStore, Store};
use support::fast::{DOWN, config, events, id, start};
use support::flip::FlipServer;
use support::receiver::Receiver;

/// Every log line of this test binary (one global subscriber; each engine's lines carry its instance name).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        std::io::stderr().write_all(b)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Log lines of one engine's storage writer containing `text`.
fn count_logged(instance: &str, text: &str) -> usize {
    let all = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    let span = format!("storage{{instance={instance}}}");
    all.lines().filter(|l| l.contains(&span) && l.contains(text)).count()
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(at.to_owned()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// How the test fills and frees the disk.
enum Disk {
    /// A full tmpfs: a filler file takes every free byte.
    Tmpfs { _mount: Tmpfs, filler: PathBuf },
    /// This process's file-size limit lowered to one byte (SIGXFSZ taken, so a write past it fails with EFBIG
    /// as a full disk's fails with ENOSPC).
    FileSizeLimit { db_dir: PathBuf },
}

impl Disk {
    fn fill(&self) {
        match self {
            Disk::Tmpfs { filler, .. } => {
                let mut f = std::fs::File::create(filler).unwrap();
                let chunk = vec![0u8; 64 * 1024];
                loop {
                    if f.write_all(&chunk).is_err() {
                        break;
                    }
                }
                // The last partial chunk too: byte by byte.
                while f.write_all(&[0]).is_ok() {}
            }
            // One byte: every write past the first byte of any file fails, as on a full disk (SQLite would
            // otherwise reuse the space its files already have).
            Disk::FileSizeLimit { .. } => set_fsize_limit("1"),
        }
    }

    fn free(&self) {
        match self {
            Disk::Tmpfs { filler, .. } => std::fs::remove_file(filler).unwrap(),
            Disk::FileSizeLimit { .. } => set_fsize_limit("unlimited"),
        }
    }
}

fn set_fsize_limit(soft: &str) {
    let status = Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string(), &format!("--fsize={soft}:unlimited")])
        .status()
        .expect("prlimit");
    assert!(status.success(), "prlimit --fsize={soft}");
}

const CHILD: &str = "SMTP_PROBE_FSIZE_CHILD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_does_not_stop_checks_or_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let in_child = std::env::var_os(CHILD).is_some();
    let disk = if in_child {
        // A write past RLIMIT_FSIZE raises SIGXFSZ, which would end the process: take it instead.
        let _sigxfsz = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(25)).unwrap();
        std::mem::forget(_sigxfsz);
        Disk::FileSizeLimit { db_dir: dir.path().to_owned() }
    } else {
        let no_mount = std::env::var_os("SMTP_PROBE_TEST_NO_MOUNT").is_some();
        match Tmpfs::mount(&dir.path().join("small"), "8m").map_err(|e| if no_mount { "forced".into() } else { e }) {
            Ok(m) if !no_mount => Disk::Tmpfs { _mount: m, filler: dir.path().join("small/filler") },
            other => {
                let why = other.err().unwrap_or_else(|| "SMTP_PROBE_TEST_NO_MOUNT is set".into());
                eprintln!(
                    "skipped: the tmpfs variant (cannot mount: {why}); running the file-size-limit variant in a child"
                );
                let exe = std::env::current_exe().unwrap();
                let status = Command::new("prlimit")
                    .arg("--fsize=unlimited:unlimited")
                    .arg(exe)
                    .args(["--exact", "a_full_disk_does_not_stop_checks_or_alerts", "--nocapture"])
                    .env(CHILD, "1")
                    .status()
                    .expect("run the child");
                assert!(status.success(), "the child's run failed");
                return;
            }
        }
    };
    let db_dir = match &disk {
        Disk::Tmpfs { _mount, .. } => _mount.0.clone(),
        Disk::FileSizeLimit { db_dir } => db_dir.clone(),
    };
    let instance = "full-disk";
    run_fault(instance, &db_dir, || disk.fill(), || disk.free(), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_does_not_stop_checks_or_alerts() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("monitor.db").display());
    let locker: Arc<tokio::sync::Mutex<Option<sqlx::SqliteConnection>>> = Arc::default();
    let (l1, l2) = (locker.clone(), locker.clone());
    let lock = move || {
        let (l, url) = (l1.clone(), url.clone());
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query("BEGIN EXCLUSIVE").execute(&mut c).await.unwrap();
                *l.lock().await = Some(c);
            })
        })
    };
    let unlock = move || {
        let l = l2.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let mut c = l.lock().await.take().unwrap();
                sqlx::query("COMMIT").execute(&mut c).await.unwrap();
            })
        })
    };
    run_fault("locked-db", dir.path(), lock, unlock, "locked").await;
}

/// The shared story: checks and storage fine; the fault; health shows it; checks go on; a server goes down
/// and its alert reaches the receiver during the fault; the fault clears; everything is written and the alert
/// is recorded as delivered, once.
async fn run_fault(instance: &str, db_dir: &Path, fault: impl Fn(), clear: impl Fn(), error_contains: &str) {
    logs();
    let rx = Receiver::start().await;
    let server = FlipServer::start(true, DOWN).await;
    let work = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqlStore::connect(&StorageConfig::Sqlite { path: db_dir.join("monitor.db") }).await.expect("open SQLite"),
    );
    let channels = format!("[channels.hook]\ntype = \"webhook\"\nurl = \"{}\"\n", rx.url("/hook"));
    let mut cfg = config(work.path(), &[("mx", server.addr)], &channels, &[]);
    cfg.service.instance = instance.to_owned();
    let engine = start(cfg, &store).await;
    support::wait_for(Duration::from_secs(20), "a first write", async || engine.storage_health().written_results >= 2)
        .await;

    fault();
    support::wait_for(Duration::from_secs(20), "health to show the fault", async || !engine.storage_health().ok).await;
    let health = engine.storage_health();
    assert!(health.error.as_deref().unwrap().contains(error_contains), "{health:?}");
    assert!(health.failing_since.is_some());
    let before = checks(&engine);
    support::wait_for(Duration::from_secs(20), "checks to go on", async || checks(&engine) >= before + 2).await;

    server.set_up(false);
    support::wait_for(Duration::from_secs(30), "the alert, sent from memory", async || {
        events(&rx.accepted_alerts()) == ["opened"]
    })
    .await;
    assert!(!engine.storage_health().ok, "still failing: the alert did not wait for storage");
    let status = engine.delivery_status();
    assert!(status.held_in_memory >= 1 && status.unrecorded_attempts >= 1, "{status:?}");

    clear();
    support::wait_for(Duration::from_secs(30), "writing to resume", async || {
        let h = engine.storage_health();
        h.ok && h.backlog == 0
    })
    .await;
    support::wait_for(Duration::from_secs(30), "the alert recorded as delivered", async || {
        let rows = store.alerts(&AlertQuery::default(), 10).await.unwrap();
        rows.len() == 1 && rows[0].status == "delivered"
    })
    .await;
    let row = &store.alerts(&AlertQuery::default(), 10).await.unwrap()[0];
    let attempts = store.deliveries_of(row.id).await.unwrap();
    assert_eq!(attempts.len(), 1, "the attempt made from memory, recorded: {attempts:?}");
    assert_eq!(attempts[0].status, "delivered");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(events(&rx.accepted_alerts()), ["opened"], "not sent again once written");
    assert_eq!(engine.delivery_status().held_in_memory, 0);

    let failed_writes = engine.storage_health().failed_writes;
    assert!(failed_writes >= 2, "the writer retried: {failed_writes}");
    assert_eq!(count_logged(instance, "storage write failed"), 1, "logged once, not per retry");
    assert_eq!(count_logged(instance, "storage writable again"), 1);
    assert_eq!(count_logged(instance, "slow statement"), 0, "no statement logging per retry either");

    engine.shutdown(Duration::from_secs(5)).await;
    let stored = store.results(&id("mx"), None, 10_000).await.unwrap().len() as u64;
    assert_eq!(stored, checks(&engine), "nothing lost during the fault");
    assert!(store.integrity_check().await.unwrap());
    store.close().await;
}

fn checks(engine: &EngineHandle) -> u64 {
    engine.monitor(&id("mx")).unwrap().checks
}
