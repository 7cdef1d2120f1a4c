//! The monitor at scale, measured: the whole service in this process (engine, SQLite storage, the HTTP side with
//! its board) checking `--monitors` monitors every `--interval` seconds against `fast-server` (the project's
//! loopback responder, in a process of its own so its CPU is counted apart), then a load loop against the status
//! page and the API. Prints what BENCHMARKS.md reports: CPU (this process, from /proc), peak RSS, scheduling
//! lateness, page and API latency, database growth.
//!
//! ```text
//! cargo build --release -p smtp-probe-benches --bin fast-server
//! cargo run --release -p smtp-probe-monitor --example engine_load -- --monitors 10000 [--starttls 50]
//!     [--interval 60] [--warmup 60] [--measure 120] [--http 30] [--fast-server target/release/fast-server]
//! ```
//!
//! Every monitor checks the same server on 127.0.0.1, so per-destination spacing is off for the run
//! (`min_host_spacing = "0s"`): a real deployment's monitors reach many hosts. With `--starttls P`, P % of the
//! monitors use STARTTLS (required, verified against fast-server's CA), the rest plain SMTP.
//!
//! Phases: warm-up (every monitor has been checked once, the board has loaded), a measurement window (CPU,
//! lateness, database growth; nothing else runs), then the HTTP window: one client, one request at a time,
//! cycling through `/` (as served: from the page cache, at most 5 s old), `/` rendered for the request (a second
//! HTTP service on the same engine, without the cache), `/api/v1/monitors` (the first page, 500 monitors),
//! `/api/v1/monitors/{id}` and `/metrics`, each timed from connect to the last byte.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::engine::{Engine, EngineOptions};
use smtp_probe_monitor::http::{HttpOptions, HttpService};
use smtp_probe_monitor::storage::{SqlStore, Store};

/// The binary's allocator and its setting, so that the figures are the binary's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// As the binary does: freed memory back to the system at once (`mi_option_purge_delay` = 0).
#[cfg(feature = "mimalloc")]
fn return_freed_memory_at_once() {
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    #[allow(unsafe_code)]
    // SAFETY: mi_option_set stores an option's value; it takes no pointers and may be called at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().expect(name))
}

fn arg_str(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// User + system CPU seconds of a process, from /proc.
fn cpu(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map_or(vec![], |(_, r)| r.split(' ').collect());
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/self/status` figure in MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

struct FastServer {
    child: Child,
    plain: u16,
    ca: String,
}

impl Drop for FastServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fast_server(path: &str, ca: &std::path::Path) -> FastServer {
    let mut child = Command::new(path)
        .args(["--ca-out", &ca.display().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{path}: {e} (cargo build --release -p smtp-probe-benches --bin fast-server)"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).expect("fast-server's JSON line");
    FastServer { child, plain: v["plain"].as_u64().unwrap() as u16, ca: v["ca"].as_str().unwrap().to_owned() }
}

/// One GET, timed from connect to the last byte: (ms, bytes after the head, status). The answer is read and
/// counted, not kept: the client's buffers are not the service's memory.
fn get(addr: SocketAddr, path: &str) -> (f64, usize, u16) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let (mut head, mut total, mut buf) = (Vec::new(), 0, vec![0; 64 * 1024]);
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if head.len() < 4096 {
            head.extend_from_slice(&buf[..n.min(4096)]);
        }
        total += n;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let head_end = head.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
    let status = std::str::from_utf8(&head[9..12]).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    (ms, total - head_end, status)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// The database's size in bytes, as SQLite counts it (pages in use, WAL included).
async fn db_bytes(store: &SqlStore) -> f64 {
    let one = |q: &'static str| async move {
        let row = sqlx::query(q).fetch_one(store.pool()).await.unwrap();
        sqlx::Row::get::<i64, _>(&row, 0) as f64
    };
    (one("PRAGMA page_count").await - one("PRAGMA freelist_count").await) * one("PRAGMA page_size").await
}

fn main() {
    #[cfg(feature = "mimalloc")]
    return_freed_memory_at_once();
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime").block_on(run());
}

async fn run() {
    let monitors = arg("--monitors", 10_000) as usize;
    let interval = arg("--interval", 60);
    let warmup = arg("--warmup", interval + 15);
    let measure = arg("--measure", 120);
    let http_secs = arg("--http", 30);
    let starttls = arg("--starttls", 0).min(100) as usize;
    let exe = std::env::current_exe().unwrap();
    let default_server = exe.parent().and_then(|d| d.parent()).map(|d| d.join("fast-server")).unwrap();
    let server_path = arg_str("--fast-server").unwrap_or_else(|| default_server.display().to_string());
    let dir = tempfile::tempdir().unwrap();
    let server = fast_server(&server_path, &dir.path().join("ca.pem"));

    let mut text = format!(
        "[service]\ndata_dir = \"{}\"\ninstance = \"bench\"\n[scheduler]\nmin_host_spacing = \"0s\"\n\
         max_concurrency = 512\n[defaults]\ninterval = \"{interval}s\"\ntimeout = \"10s\"\n",
        dir.path().display()
    );
    for i in 0..monitors {
        let tls = if i % 100 < starttls {
            format!("tls = \"required\"\ntls_name = \"mx.test\"\nca_file = \"{}\"\n", server.ca)
        } else {
            "tls = \"none\"\n".to_owned()
        };
        text.push_str(&format!(
            "[[monitors]]\nname = \"mx{i:06}.bench.test\"\ntarget = \"127.0.0.1:{}\"\n{tls}tags = [\"group-{:02}\"]\n",
            server.plain,
            i % 50
        ));
    }
    let config = Config::from_toml_str(&text, dir.path()).expect("config");
    drop(text);
    let store = Arc::new(SqlStore::connect(&config.storage).await.expect("store"));
    let wall0 = Instant::now();
    let engine =
        Engine::start_with_store(config.clone(), store.clone(), EngineOptions::default()).await.expect("engine");
    let http = HttpService::start(engine.clone(), &config.http).expect("http");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(smtp_probe_monitor::http::serve(listener, http.router(), http.limits(), std::future::pending()));
    // The same routes with no page cache (on the same board), to time a render.
    let uncached = HttpService::start_with(
        engine.clone(),
        &config.http,
        HttpOptions { page_cache: Some(Duration::ZERO), board: Some(http.board().clone()), ..HttpOptions::default() },
    )
    .expect("http");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let render_addr = listener.local_addr().unwrap();
    tokio::spawn(smtp_probe_monitor::http::serve(
        listener,
        uncached.router(),
        uncached.limits(),
        std::future::pending(),
    ));
    let me = std::process::id().to_string();
    let server_pid = server.child.id().to_string();
    println!(
        "{monitors} monitors every {interval} s ({starttls} % STARTTLS) against fast-server on 127.0.0.1:{}; HTTP on {addr}",
        server.plain
    );

    // Warm-up: every monitor checked once, the board loaded.
    while wall0.elapsed() < Duration::from_secs(warmup) || !http.board().read().loaded {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let s = engine.scheduler_stats();
        let h = engine.storage_health();
        println!(
            "  warm-up {:>4}s: started {:>7}, running {:>3}, lateness p99 {:?} ms, written {}, backlog {}",
            wall0.elapsed().as_secs(),
            s.started,
            s.running,
            s.lateness_p99_ms,
            h.written_results,
            h.backlog
        );
    }

    // The peak so far is start-up's (the configuration of every monitor parsed at once, the first board load);
    // from here on the peak is the running service's. Writing 5 to clear_refs resets VmHWM (Linux 4.0+).
    let rss_startup = status_mib("VmHWM:");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    // Measurement window: nothing but the service.
    let (cpu0, srv0, t0) = (cpu(&me), cpu(&server_pid), Instant::now());
    let (started0, written0, db0) =
        (engine.scheduler_stats().started, engine.storage_health().written_results, db_bytes(&store).await);
    let mut p99s = Vec::new();
    let mut p50s = Vec::new();
    let mut max_ms = 0;
    while t0.elapsed() < Duration::from_secs(measure) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let s = engine.scheduler_stats();
        p99s.extend(s.lateness_p99_ms);
        p50s.extend(s.lateness_p50_ms);
        max_ms = max_ms.max(s.lateness_max_ms.unwrap_or(0));
    }
    let window = t0.elapsed().as_secs_f64();
    let (cpu1, srv1) = (cpu(&me), cpu(&server_pid));
    let s = engine.scheduler_stats();
    let h = engine.storage_health();
    let checks = s.started - started0;
    let written = h.written_results - written0;
    let db1 = db_bytes(&store).await;
    let cpu_pct = 100.0 * (cpu1 - cpu0) / window;
    let per_check_us = 1e6 * (cpu1 - cpu0) / checks.max(1) as f64;
    let bytes_per_check = (db1 - db0) / written.max(1) as f64;
    p50s.sort_unstable();
    p99s.sort_unstable();
    let rss_measure = status_mib("VmHWM:");

    // The HTTP window: one client, one request at a time.
    let id = engine.snapshot()[monitors / 2].id.clone();
    let paths = [
        ("page /".to_owned(), addr, "/".to_owned()),
        ("page render".to_owned(), render_addr, "/".to_owned()),
        ("API list".to_owned(), addr, "/api/v1/monitors".to_owned()),
        ("API monitor".to_owned(), addr, format!("/api/v1/monitors/{id}")),
        ("/metrics".to_owned(), addr, "/metrics".to_owned()),
    ];
    let (hcpu0, ht0) = (cpu(&me), Instant::now());
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut sizes = vec![0usize; paths.len()];
    let mut lateness_http = 0;
    // The peak while each path is served: VmHWM reset before each request.
    let mut peaks = vec![0f64; paths.len()];
    while ht0.elapsed() < Duration::from_secs(http_secs) {
        for (i, (_, to, path)) in paths.iter().enumerate() {
            let (to, path) = (*to, path.clone());
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let (ms, bytes, status) = tokio::task::spawn_blocking(move || get(to, &path)).await.unwrap();
            peaks[i] = peaks[i].max(status_mib("VmHWM:"));
            assert_eq!(status, 200, "{}", paths[i].2);
            times[i].push(ms);
            sizes[i] = bytes;
        }
        lateness_http = lateness_http.max(engine.scheduler_stats().lateness_p99_ms.unwrap_or(0));
    }
    let http_cpu = 100.0 * (cpu(&me) - hcpu0) / ht0.elapsed().as_secs_f64();
    let rss = peaks.iter().copied().fold(rss_measure, f64::max);

    println!("\nmeasured over {window:.0} s ({checks} checks, {written} written):");
    println!(
        "  CPU          {cpu_pct:.1} % of one core ({per_check_us:.0} µs per check, storage and HTTP side included); fast-server {:.1} % apart",
        100.0 * (srv1 - srv0) / window
    );
    println!(
        "  peak RSS     {rss_measure:.0} MiB running (with the HTTP window: {rss:.0} MiB); start-up peak {rss_startup:.0} MiB"
    );
    println!(
        "  lateness     p50 {} ms, p99 {} ms (worst of the rolling 1–2 min p99s), max {} ms",
        percentile(&p50s.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), 0.5),
        p99s.last().copied().unwrap_or(0),
        max_ms
    );
    println!(
        "  database     {:.0} bytes per check written; {:.1} MiB/day of raw results at this rate ({:.0} checks/day), \
         plus {} hourly rollups/day; storage ok {}",
        bytes_per_check,
        bytes_per_check * monitors as f64 * 86_400.0 / interval as f64 / 1_048_576.0,
        monitors as f64 * 86_400.0 / interval as f64,
        monitors * 24,
        h.ok
    );
    println!("  HTTP window  {http_cpu:.1} % CPU while serving; lateness p99 during it {lateness_http} ms");
    for (i, (name, ..)) in paths.iter().enumerate() {
        let mut t = times[i].clone();
        t.sort_by(f64::total_cmp);
        println!(
            "  {name:<12} p50 {:>7.1} ms  p99 {:>7.1} ms  ({} requests, {:.1} KiB; peak RSS {:.0} MiB)",
            percentile(&t, 0.5),
            percentile(&t, 0.99),
            t.len(),
            sizes[i] as f64 / 1024.0,
            peaks[i]
        );
    }
    let json = serde_json::json!({
        "monitors": monitors, "interval_s": interval, "starttls_pct": starttls, "window_s": window,
        "checks": checks, "cpu_pct": cpu_pct, "cpu_us_per_check": per_check_us,
        "server_cpu_pct": 100.0 * (srv1 - srv0) / window, "peak_rss_mib": rss_measure, "startup_peak_rss_mib": rss_startup, "peak_rss_after_http_mib": rss,
        "lateness_p50_ms": percentile(&p50s.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), 0.5),
        "lateness_p99_ms": p99s.last(), "lateness_max_ms": max_ms, "bytes_per_check": bytes_per_check,
        "http_cpu_pct": http_cpu,
        "http": paths.iter().enumerate().map(|(i, (name, ..))| {
            let mut t = times[i].clone();
            t.sort_by(f64::total_cmp);
            serde_json::json!({ "name": name, "p50_ms": percentile(&t, 0.5), "p99_ms": percentile(&t, 0.99), "requests": t.len(), "bytes": sizes[i], "peak_rss_mib": peaks[i] })
        }).collect::<Vec<_>>(),
    });
    println!("{json}");
    drop(http);
    drop(uncached);
    engine.shutdown(Duration::from_secs(10)).await;
    let _ = store.monitors().await;
}
